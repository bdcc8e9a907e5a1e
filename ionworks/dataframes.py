"""DataFrame backend selection: polars by default, pandas on request.

``set_dataframe_backend("pandas")`` switches every client that was not given an explicit
``dataframe_backend=``; ``IONWORKS_DATAFRAME_BACKEND`` sets a client's default at construction.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # polars and pyarrow are imported on first use: choosing a backend is light
    import pyarrow as pa

__all__ = [
    "DataFrame",
    "from_arrow",
    "get_dataframe_backend",
    "set_dataframe_backend",
    "to_arrow",
    "write_parquet",
]

DataFrame = Any  # polars.DataFrame or pandas.DataFrame, depending on the backend
_BACKENDS = ("polars", "pandas")
_default_backend = "polars"


def set_dataframe_backend(backend: str) -> None:
    """Choose the DataFrame type returned by results: ``"polars"`` (default) or ``"pandas"``."""
    global _default_backend
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")
    if backend == "pandas":
        try:
            import pandas  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "The pandas backend needs pandas: pip install 'ionworks[pandas]'"
            ) from exc
    _default_backend = backend


def get_dataframe_backend() -> str:
    """The process-wide default backend."""
    return _default_backend


def from_arrow(table: pa.Table, backend: str | None = None) -> DataFrame:
    """Convert an Arrow table to the backend's DataFrame (zero-copy for polars where possible)."""
    chosen = backend or _default_backend
    if chosen == "pandas":
        return table.to_pandas()
    import polars as pl

    return pl.from_arrow(table, rechunk=False)


def to_arrow(frame: Any) -> pa.Table:
    """Arrow table from a polars/pandas DataFrame, an Arrow table or a column dict."""
    import polars as pl
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.to_arrow()
    if isinstance(frame, dict):
        return pa.table(frame)
    to_arrow_method = getattr(frame, "to_arrow", None)
    if callable(to_arrow_method):
        result = to_arrow_method()
        if isinstance(result, pa.Table):
            return result
    module = type(frame).__module__
    if module.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(
        f"expected a polars/pandas DataFrame, a pyarrow Table or a dict of columns, "
        f"got {type(frame).__name__}"
    )


def write_parquet(frame: Any) -> bytes:
    """Parquet (zstd) bytes of a DataFrame-like object."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(to_arrow(frame), buf, compression="zstd")
    return buf.getvalue()
