"""Stored tables (parquet, from the API's downloads) as plot series and table rows.

Decoding runs in a worker thread; a series longer than :data:`MAX_POINTS` is thinned to that
many evenly spaced rows (the first and last kept), so a page stays small whatever the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import anyio.to_thread
import polars as pl
from aiohttp import web

from ionworks.server.ui.dispatch import api_get
from ionworks.wire.arrow import read_parquet

__all__ = ["MAX_POINTS", "MAX_ROWS", "Series", "download", "series", "table_rows"]

MAX_POINTS: Final = 4000
#: Rows a page's table shows at most (the download has them all).
MAX_ROWS: Final = 500
Series = dict[str, list[Any]]


async def download(request: web.Request, path: str) -> pl.DataFrame:
    """The parquet table the API answers ``GET path`` with, decoded in a thread."""
    response = await api_get(request, path)
    if isinstance(response, web.FileResponse):
        file: Path = response._path  # the API streams large files; read the same file
        raw = await anyio.to_thread.run_sync(file.read_bytes)
        return await anyio.to_thread.run_sync(_decode, raw)
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return pl.DataFrame()
    return await anyio.to_thread.run_sync(_decode, body)


def _decode(raw: bytes) -> pl.DataFrame:
    frame = pl.from_arrow(read_parquet(raw))
    return frame if isinstance(frame, pl.DataFrame) else frame.to_frame()


def _clean(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def series(frame: pl.DataFrame, columns: Sequence[str]) -> Series:
    """The numeric ``columns`` present in ``frame``, thinned to :data:`MAX_POINTS` rows."""
    present = [c for c in columns if c in frame.columns and frame[c].dtype.is_numeric()]
    if not present or frame.height == 0:
        return {}
    picked = frame.select(present)
    if picked.height > MAX_POINTS:
        step = (picked.height - 1) / (MAX_POINTS - 1)
        rows = sorted({round(i * step) for i in range(MAX_POINTS)})
        picked = picked[rows]
    return {c: _clean(picked[c].cast(pl.Float64).to_list()) for c in present}


def table_rows(frame: pl.DataFrame, limit: int = MAX_ROWS) -> tuple[list[str], list[list[Any]]]:
    """The headers and up to ``limit`` rows of ``frame``."""
    head = frame.head(limit)
    return list(head.columns), [list(row) for row in head.iter_rows()]
