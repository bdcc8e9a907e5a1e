"""Decode simulation results: parquet → Arrow → polars (zero-copy), plus derived columns.

polars, numpy and pyarrow are imported by the first result decoded, not with the module: a
client that only submits or waits never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ionworks.dataframes import get_dataframe_backend
from ionworks.models import SimulationResult
from ionworks.wire.arrow import ARROW_STREAM, ARROW_STREAM_MAGIC, read_parquet

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    from ionworks.wire.derived import Derive

__all__ = [
    "RESULT_ACCEPT",
    "add_step_columns",
    "add_time_series_columns",
    "build_result",
    "is_quick_to_decode",
]

#: Result downloads ask for the Arrow stream copy (the local server has one for results up to
#: ~50k rows); any server may answer with parquet instead, and both decode the same.
RESULT_ACCEPT = f"{ARROW_STREAM}, application/octet-stream;q=0.9, */*;q=0.8"
#: Parquet files from this size are read with pyarrow (see :func:`read_frame`).
PYARROW_FROM_BYTES = 1024 * 1024
#: Arrow streams up to this size decode on the event loop (faster than a thread hop).
QUICK_DECODE_BYTES = 256 * 1024


def _add_columns(df: pl.DataFrame, derive: Derive) -> pl.DataFrame:
    import polars as pl

    def column(name: str) -> np.ndarray:
        return df.get_column(name).to_numpy()

    new = derive(column, set(df.columns), df.height)
    # nulls came in as NaN; they go back out as nulls (a missing value stays missing)
    return df.hstack([pl.Series(k, v, nan_to_null=True) for k, v in new.items()]) if new else df


def add_time_series_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :func:`time_series_derived`'s columns appended."""
    from ionworks.wire.derived import time_series_derived

    return _add_columns(df, time_series_derived)


def add_step_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :func:`steps_derived`'s columns appended."""
    from ionworks.wire.derived import steps_derived

    return _add_columns(df, steps_derived)


def read_frame(data: bytes) -> pl.DataFrame:
    """Parquet or Arrow IPC stream bytes (told apart by their first bytes) → polars.

    Parquet up to ``PYARROW_FROM_BYTES`` goes through polars' reader (it releases the GIL for
    the whole read, so concurrent fetches decode in parallel: 1.3 vs 2.0 ms per 1.2k-row
    result, 16 at a time); larger files through ``pyarrow.parquet.ParquetFile``, zero-copy
    into polars (2.7 vs 3.4 ms for 100k rows).
    """
    import polars as pl

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
