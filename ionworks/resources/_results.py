"""Decode simulation results: parquet → Arrow → polars (zero-copy), plus derived columns."""

from __future__ import annotations

from typing import Any

import polars as pl

from ionworks.dataframes import get_dataframe_backend, read_parquet
from ionworks.models import SimulationResult

__all__ = ["add_step_columns", "add_time_series_columns", "build_result"]

DISCHARGE = "Discharge capacity [A.h]"
CHARGE = "Charge capacity [A.h]"
STEP_CAPACITY = "Step capacity [A.h]"
CAPACITY = "Capacity [A.h]"
STEP = "Step count"


def add_time_series_columns(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``Step capacity [A.h]`` and chained ``Capacity [A.h]`` when absent (wire.md §4.4)."""
    cols = set(df.columns)
    if not cols & {DISCHARGE, CHARGE}:
        return df
    if STEP_CAPACITY not in cols:
        discharge = pl.col(DISCHARGE) if DISCHARGE in cols else pl.lit(0.0)
        charge = pl.col(CHARGE) if CHARGE in cols else pl.lit(0.0)
        df = df.with_columns((discharge - charge).cast(pl.Float64).alias(STEP_CAPACITY))
    if CAPACITY in cols:
        return df
    if STEP not in cols:
        return df.with_columns(pl.col(STEP_CAPACITY).alias(CAPACITY))
    ends = (
        df.group_by(STEP, maintain_order=True)
        .agg(pl.col(STEP_CAPACITY).last().alias("_end"))
        .with_columns(pl.col("_end").cum_sum().shift(1, fill_value=0.0).alias("_offset"))
        .select(STEP, "_offset")
    )
    return (
        df.join(ends, on=STEP, how="left", maintain_order="left")
        .with_columns((pl.col(STEP_CAPACITY) + pl.col("_offset")).alias(CAPACITY))
        .drop("_offset")
    )


def _delta(df: pl.DataFrame, discharge: str, charge: str, out: str) -> pl.DataFrame:
    cols = set(df.columns)
    if out in cols or not cols & {discharge, charge}:
        return df
    d = pl.col(discharge) if discharge in cols else pl.lit(0.0)
    c = pl.col(charge) if charge in cols else pl.lit(0.0)
    return df.with_columns((d - c).cast(pl.Float64).alias(out))


def add_step_columns(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``Delta capacity [A.h]`` and ``Delta energy [W.h]`` (wire.md §4.4)."""
    df = _delta(df, DISCHARGE, CHARGE, "Delta capacity [A.h]")
    return _delta(df, "Discharge energy [W.h]", "Charge energy [W.h]", "Delta energy [W.h]")


def _to_backend(df: pl.DataFrame, backend: str) -> Any:
    return df.to_pandas() if backend == "pandas" else df


def build_result(
    time_series: bytes, steps: bytes, metrics: dict[str, Any], backend: str | None
) -> SimulationResult:
    chosen = backend or get_dataframe_backend()
    ts = pl.from_arrow(read_parquet(time_series), rechunk=False)
    st = pl.from_arrow(read_parquet(steps), rechunk=False)
    assert isinstance(ts, pl.DataFrame) and isinstance(st, pl.DataFrame)
    return SimulationResult(
        time_series=_to_backend(add_time_series_columns(ts), chosen),
        steps=_to_backend(add_step_columns(st), chosen),
        metrics=dict(metrics),
    )
