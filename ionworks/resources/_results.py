"""Decode simulation results: parquet → Arrow → polars (zero-copy), plus derived columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from ionworks.dataframes import (
    ARROW_STREAM,
    ARROW_STREAM_MAGIC,
    get_dataframe_backend,
    read_parquet,
)
from ionworks.models import SimulationResult

__all__ = [
    "RESULT_ACCEPT",
    "add_step_columns",
    "add_time_series_columns",
    "build_result",
    "is_quick_to_decode",
    "steps_derived",
    "time_series_derived",
]

#: Result downloads ask for the Arrow stream copy (the local server has one for results up to
#: ~50k rows); any server may answer with parquet instead, and both decode the same.
RESULT_ACCEPT = {"Accept": f"{ARROW_STREAM}, application/octet-stream;q=0.9, */*;q=0.8"}
#: Parquet files from this size are read with pyarrow (see :func:`read_frame`).
PYARROW_FROM_BYTES = 1024 * 1024
#: Arrow streams up to this size decode on the event loop (faster than a thread hop).
QUICK_DECODE_BYTES = 256 * 1024

DISCHARGE = "Discharge capacity [A.h]"
CHARGE = "Charge capacity [A.h]"
STEP_CAPACITY = "Step capacity [A.h]"
CAPACITY = "Capacity [A.h]"
STEP = "Step count"


Column = Callable[[str], np.ndarray]


def _floats(column: Column, cols: set[str], name: str, length: int) -> np.ndarray:
    if name not in cols:
        return np.zeros(length)  # a missing side counts as 0 (wire.md §4.4)
    return np.asarray(column(name), dtype=np.float64)  # nulls become NaN (see _add_columns)


def time_series_derived(column: Column, cols: set[str], length: int) -> dict[str, np.ndarray]:
    """The columns a time series gets when absent (wire.md §4.4): ``Step capacity [A.h]``
    (discharge − charge) and ``Capacity [A.h]``, chained across steps — rows of one step are
    contiguous, so each step is offset by the running sum of the earlier steps' end values
    (on their last rows). ``column(name)`` gives one column as an array (polars frames and
    Arrow tables alike)."""
    if not cols & {DISCHARGE, CHARGE}:
        return {}
    out: dict[str, np.ndarray] = {}
    if STEP_CAPACITY in cols:
        step_capacity = np.asarray(column(STEP_CAPACITY), dtype=np.float64)
    else:
        step_capacity = _floats(column, cols, DISCHARGE, length)
        step_capacity = step_capacity - _floats(column, cols, CHARGE, length)
        out[STEP_CAPACITY] = step_capacity
    if CAPACITY not in cols:
        step = np.asarray(column(STEP)) if STEP in cols else np.zeros(0)
        ends = np.flatnonzero(step[1:] != step[:-1])  # last rows of all steps but the final
        if len(ends):
            # a missing end value adds nothing (as a null in a polars cum_sum)
            end_values = np.nan_to_num(step_capacity[ends], nan=0.0)
            offsets = np.concatenate(([0.0], np.cumsum(end_values)))
            rows = np.diff(np.concatenate(([0], ends + 1, [length])))
            out[CAPACITY] = step_capacity + np.repeat(offsets, rows)
        else:
            out[CAPACITY] = step_capacity
    return out


def steps_derived(column: Column, cols: set[str], length: int) -> dict[str, np.ndarray]:
    """``Delta capacity [A.h]`` and ``Delta energy [W.h]`` of a step table (wire.md §4.4)."""
    out = {}
    for discharge, charge, name in (
        (DISCHARGE, CHARGE, "Delta capacity [A.h]"),
        ("Discharge energy [W.h]", "Charge energy [W.h]", "Delta energy [W.h]"),
    ):
        if name not in cols and cols & {discharge, charge}:
            out[name] = _floats(column, cols, discharge, length) - _floats(
                column, cols, charge, length
            )
    return out


Derive = Callable[[Column, set[str], int], dict[str, np.ndarray]]


def _add_columns(df: pl.DataFrame, derive: Derive) -> pl.DataFrame:
    def column(name: str) -> np.ndarray:
        return df.get_column(name).to_numpy()

    new = derive(column, set(df.columns), df.height)
    # nulls came in as NaN; they go back out as nulls (a missing value stays missing)
    return df.hstack([pl.Series(k, v, nan_to_null=True) for k, v in new.items()]) if new else df


def add_time_series_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :func:`time_series_derived`'s columns appended."""
    return _add_columns(df, time_series_derived)


def add_step_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :func:`steps_derived`'s columns appended."""
    return _add_columns(df, steps_derived)


def read_frame(data: bytes) -> pl.DataFrame:
    """Parquet or Arrow IPC stream bytes (told apart by their first bytes) → polars.

    Parquet up to ``PYARROW_FROM_BYTES`` goes through polars' reader (it releases the GIL for
    the whole read, so concurrent fetches decode in parallel: 1.3 vs 2.0 ms per 1.2k-row
    result, 16 at a time); larger files through ``pyarrow.parquet.ParquetFile``, zero-copy
    into polars (2.7 vs 3.4 ms for 100k rows).
    """
    if data[:4] == ARROW_STREAM_MAGIC:
        return pl.read_ipc_stream(data)
    if len(data) < PYARROW_FROM_BYTES:
        try:
            return pl.read_parquet(data)
        except (pl.exceptions.PolarsError, OSError):
            pass  # pyarrow reads some files polars cannot
    frame = pl.from_arrow(read_parquet(data), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def is_quick_to_decode(*bodies: bytes) -> bool:
    """True when every body is an Arrow stream and together they are small."""
    return sum(len(b) for b in bodies) <= QUICK_DECODE_BYTES and all(
        b[:4] == ARROW_STREAM_MAGIC for b in bodies
    )


def _to_backend(df: pl.DataFrame, backend: str) -> Any:
    return df.to_pandas() if backend == "pandas" else df


def build_result(
    time_series: bytes, steps: bytes, metrics: dict[str, Any], backend: str | None
) -> SimulationResult:
    chosen = backend or get_dataframe_backend()
    ts, st = read_frame(time_series), read_frame(steps)
    return SimulationResult(
        time_series=_to_backend(add_time_series_columns(ts), chosen),
        steps=_to_backend(add_step_columns(st), chosen),
        metrics=dict(metrics),
    )
