"""Stored tables (parquet, from the API's downloads) as plot series and table rows.

A page never decodes a whole stored table: the parquet footer gives the columns and the row
count, then only the plotted columns are read, batch by batch, keeping :data:`MAX_POINTS`
evenly spaced rows (the first and last among them), and a table shows only its first
:data:`MAX_ROWS` rows. Decoding runs in worker threads behind one small limiter per
application (:data:`MAX_DECODES` at a time), so concurrent page views cannot multiply the
memory a view takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread
import numpy as np
import polars as pl
from aiohttp import web

from ionworks.server.api.http import HTTPError
from ionworks.server.ui.dispatch import api_get

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "MAX_DECODES",
    "MAX_POINTS",
    "MAX_ROWS",
    "Series",
    "head",
    "routes",
    "series",
    "table_rows",
]

MAX_POINTS: Final = 4000
#: Rows a page's table shows at most (the download has them all).
MAX_ROWS: Final = 500
#: Stored tables decoded at the same time for pages (all pages of one server together).
MAX_DECODES: Final = 2
#: Rows decoded at a time while thinning (a few MB for the plotted columns).
BATCH_ROWS: Final = 65_536
DECODES: Final = web.AppKey("ui_decodes", anyio.CapacityLimiter)
Series = dict[str, list[Any]]
Source = Path | bytes
T = TypeVar("T")


def routes(app: web.Application) -> None:
    """The application's decode limiter (shared by every page view)."""
    app[DECODES] = anyio.CapacityLimiter(MAX_DECODES)


async def _decode(request: web.Request, path: str, work: Callable[[Source], T]) -> T | None:
    """``work`` on the stored table the API answers ``GET path`` with, in a worker thread
    behind the application's limiter; None when the API answered without a body."""
    response = await api_get(request, path)
    source: Source | None
    if isinstance(response, web.FileResponse):
        source = response._path  # the API streams large files: open the same file
    else:
        body = response.body if isinstance(response, web.Response) else None
        source = body if isinstance(body, bytes) else None
    if source is None:
        return None
    return await anyio.to_thread.run_sync(work, source, limiter=request.app[DECODES])


@contextmanager
def _opened(source: Source) -> Iterator[pq.ParquetFile]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(
            source if isinstance(source, Path) else pa.BufferReader(source)
        ) as file:
            yield file
    except FileNotFoundError:
        raise HTTPError(404, "the stored table was deleted meanwhile: reload the page") from None
    except pa.ArrowException as exc:
        raise HTTPError(502, f"the stored table could not be read: {exc}") from None


def _numeric(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _picked_rows(count: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """:data:`MAX_POINTS` evenly spaced row numbers of ``count`` rows (all when fewer)."""
    if count <= MAX_POINTS:
        return np.arange(count, dtype=np.int64)
    step = (count - 1) / (MAX_POINTS - 1)
    return np.unique(np.round(np.arange(MAX_POINTS) * step).astype(np.int64))


def _clean(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def _thinned(columns: Sequence[str]) -> Callable[[Source], Series]:
    def work(source: Source) -> Series:
        import pyarrow as pa

        with _opened(source) as file:
            schema = file.schema_arrow
            present = [
                c
                for c in dict.fromkeys(columns)
                if schema.get_field_index(c) >= 0 and _numeric(schema.field(c).type)
            ]
            rows = _picked_rows(file.metadata.num_rows)
            if not present or rows.size == 0:
                return {}
            parts: list[pa.RecordBatch] = []
            offset = 0
            for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=present):
                lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
                if hi > lo:
                    parts.append(batch.take(pa.array(rows[lo:hi] - offset)))
                offset += batch.num_rows
                if offset > rows[-1]:
                    break
        picked = pl.DataFrame({c: [] for c in present}) if not parts else _frame(parts)
        return {c: _clean(picked[c].cast(pl.Float64).to_list()) for c in present}

    return work


def _frame(batches: list[pa.RecordBatch]) -> pl.DataFrame:
    import pyarrow as pa

    frame = pl.from_arrow(pa.Table.from_batches(batches))
    return frame if isinstance(frame, pl.DataFrame) else frame.to_frame()


def _head(limit: int) -> Callable[[Source], pl.DataFrame]:
    def work(source: Source) -> pl.DataFrame:
        with _opened(source) as file:
            for batch in file.iter_batches(batch_size=limit):
                return _frame([batch])
        return pl.DataFrame()

    return work


async def series(request: web.Request, path: str, columns: Sequence[str]) -> Series:
    """The numeric ``columns`` of the table at API ``path`` that it has, thinned to
    :data:`MAX_POINTS` rows (only those columns are decoded)."""
    return await _decode(request, path, _thinned(columns)) or {}


async def head(request: web.Request, path: str, limit: int = MAX_ROWS) -> pl.DataFrame:
    """The first ``limit`` rows of the table at API ``path`` (only those are decoded)."""
    found = await _decode(request, path, _head(limit))
    return pl.DataFrame() if found is None else found


def table_rows(frame: pl.DataFrame, limit: int = MAX_ROWS) -> tuple[list[str], list[list[Any]]]:
    """The headers and up to ``limit`` rows of ``frame``."""
    top = frame.head(limit)
    return list(top.columns), [list(row) for row in top.iter_rows()]
