"""Routes: simulation results — the two table downloads (wire.md §4.4) and our bundle.

Each table is stored as parquet, and small ones also as an Arrow IPC stream copy
(``<table>.arrows``): clients that send ``Accept: application/vnd.apache.arrow.stream``
get the copy (a tenth of the decode cost), everyone else the parquet file.

``GET /simulations/{id}/result`` is our extension (advertised as the ``result-bundle``
capability on ``/healthz``): metrics, time series and steps in one ``multipart/mixed``
response, so a client needs one request per result instead of two or three.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.http import fail
from ionworks.server.api.simulations import ctx, sim_or_404
from ionworks.server.db.store import ARROW_SUFFIX, Store
from ionworks.wire import multipart
from ionworks.wire.arrow import ARROW_STREAM

__all__ = ["CAPABILITIES", "setup"]

#: What this server offers beyond the cloud's API (listed by ``/healthz``).
CAPABILITIES = ("arrow-stream", "result-bundle")
#: Files up to this size are answered with one read (sendfile's setup costs more).
SMALL_FILE = 1024 * 1024
OCTETS = "application/octet-stream"
JSON = "application/json"


def _table(store: Store, folder: str, table: str, sid: str, arrow: bool) -> tuple[Path, str]:
    """The file to send for ``table`` and its media type."""
    if arrow:
        path = store.blob_path(folder, table + ARROW_SUFFIX)
        if path.is_file():
            return path, ARROW_STREAM
    path = store.blob_path(folder, f"{table}.parquet")
    if not path.is_file():
        fail(404, f"{table}.parquet missing for simulation {sid}")
    return path, OCTETS


def _stored(request: web.Request, columns: str) -> tuple[Store, Any, bool]:
    """The store, the caller's finished simulation row and whether Arrow streams are wanted."""
    store, _ = ctx(request)
    row = sim_or_404(request, request.match_info["id"], columns)
    if not row["storage_folder"]:
        fail(404, f"result not yet available for simulation {row['id']}")
    return store, row, ARROW_STREAM in request.headers.get("Accept", "")


def _download(table: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        store, row, arrow = _stored(request, "id, storage_folder")
        path, media_type = _table(store, row["storage_folder"], table, row["id"], arrow)
        headers = {"Content-Type": media_type, "Vary": "Accept"}
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile: 404 below
            if path.stat().st_size <= SMALL_FILE:
                return web.Response(body=path.read_bytes(), headers=headers)
            return web.FileResponse(path, headers=headers)
        fail(404, f"result of simulation {row['id']} was deleted")

    return handler


async def result_bundle(request: web.Request) -> web.Response:
    """``multipart/mixed``: ``metrics`` (JSON), ``time_series`` and ``steps`` (Arrow stream
    or parquet, as for the downloads), each part named in its Content-Disposition and sized
    by Content-Length (see :mod:`ionworks._multipart`)."""
    store, row, arrow = _stored(request, "id, storage_folder, metrics")
    parts = [("metrics", JSON, (row["metrics"] or "{}").encode())]
    for table in ("time_series", "steps"):
        path, media_type = _table(store, row["storage_folder"], table, row["id"], arrow)
        try:
            if path.stat().st_size <= SMALL_FILE:
                body = path.read_bytes()
            else:  # large results: read off the event loop
                body = await anyio.to_thread.run_sync(path.read_bytes)
            parts.append((table, media_type, body))
        except FileNotFoundError:
            fail(404, f"result of simulation {row['id']} was deleted")
    boundary = secrets.token_hex(16)
    return web.Response(
        body=multipart.build(boundary, parts),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "Vary": "Accept"},
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/simulations/{id}/time_series/download", _download("time_series"))
    r.add_get("/simulations/{id}/steps/download", _download("steps"))
    r.add_get("/simulations/{id}/result", result_bundle)
