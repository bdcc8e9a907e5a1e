"""Routes: simulation results — the two table downloads (wire.md §4.4) and our bundle.

Small tables are stored as Arrow IPC streams (``<table>.arrows``), large ones as parquet, both
tables of a result in one pack (:mod:`ionworks.server.db.packs`). Clients that send ``Accept:
application/vnd.apache.arrow.stream`` get the stream (a tenth of the decode cost of parquet),
everyone else parquet (converted from the stream when asked).

``GET /simulations/{id}/result`` is our extension (advertised as the ``result-bundle``
capability on ``/healthz``): metrics, time series and steps in one ``multipart/mixed``
response, so a client needs one request per result instead of two or three; ``POST
/simulations/results`` (``result-bundles``) answers for up to 64 results at once.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.access import shown
from ionworks.server.api.http import fail, read_json, read_only
from ionworks.server.api.simulations import ctx, readable_with_status, sim_or_404
from ionworks.server.db import packs
from ionworks.server.db.store import ARROW_SUFFIX, Store
from ionworks.wire import multipart
from ionworks.wire.arrow import ARROW_STREAM, stream_to_parquet

__all__ = ["CAPABILITIES", "setup"]

#: What this server offers beyond the cloud's API (listed by ``/healthz``).
CAPABILITIES = ("arrow-stream", "result-bundle", "result-bundles", "statuses-finished-only")
#: Most ids in one ``POST /simulations/results``, and the size past which the rest of its
#: results are left out (a 413 part each: the client asks for those alone).
MAX_BATCH_IDS = 64
MAX_BATCH_BYTES = 32 * 1024 * 1024
TABLES = ("time_series", "steps")
#: Results up to this size are read on the event loop (larger ones in a thread).
SMALL_FILE = 1024 * 1024
#: Results up to this size are converted to parquet on the event loop (about a millisecond).
SMALL_CONVERSION = 256 * 1024
OCTETS = "application/octet-stream"
JSON = "application/json"


def _tables(path: Path, tables: tuple[str, ...], arrow: bool) -> list[tuple[str, str, bytes]]:
    """``(table, media type, content)`` of each table of the result at ``path``: a pack (or a
    folder of files, as older versions stored it). Small tables are stored as Arrow streams
    only (converted to parquet for clients that do not ``arrow``), large ones as parquet
    (sent to every client); older versions stored parquet and an Arrow copy of small ones.
    FileNotFoundError when the result is gone, LookupError naming a missing table."""
    names = [f"{t}{suffix}" for t in tables for suffix in (ARROW_SUFFIX, ".parquet")]
    if path.is_dir():
        found = {n: (path / n).read_bytes() for n in names if (path / n).is_file()}
    else:
        try:
            found = packs.read(path, names)
        except packs.PackError as exc:  # a damaged file on disk: ours to report, not the user's
            raise RuntimeError(f"stored result unreadable: {exc}") from exc
    out = []
    for table in tables:
        stream, parquet = found.get(f"{table}{ARROW_SUFFIX}"), found.get(f"{table}.parquet")
        if arrow and stream is not None:
            out.append((table, ARROW_STREAM, stream))
        elif parquet is not None:
            out.append((table, OCTETS, parquet))
        elif stream is not None:  # for this response only: uncompressed, half the time
            out.append((table, OCTETS, stream_to_parquet(stream, "none")))
        else:
            raise LookupError(f"{table}.parquet")
    return out


def _stored(request: web.Request, columns: str) -> tuple[Store, Any, bool]:
    """The store, the caller's finished simulation row and whether Arrow streams are wanted."""
    store, _ = ctx(request)
    row = sim_or_404(request, request.match_info["id"], columns)
    if not row["storage_folder"]:
        fail(404, f"result not yet available for simulation {row['id']}")
    return store, row, ARROW_STREAM in request.headers.get("Accept", "")


async def _read(
    request: web.Request, columns: str, tables: tuple[str, ...]
) -> tuple[Any, list[tuple[str, str, bytes]]]:
    """The caller's simulation row and its stored ``tables`` (read off the event loop when
    large); 404 when the result is not there (not yet, or deleted meanwhile)."""
    store, row, arrow = _stored(request, columns)
    path = store.blob_path(row["storage_folder"], "")
    try:  # large results (and conversions of large ones) are read off the event loop
        if path.is_dir() or path.stat().st_size > (SMALL_FILE if arrow else SMALL_CONVERSION):
            parts = await anyio.to_thread.run_sync(_tables, path, tables, arrow)
        else:
            parts = _tables(path, tables, arrow)
    except (LookupError, FileNotFoundError) as exc:
        fail(404, _unreadable(exc, row["id"]))
    return row, parts


def _unreadable(exc: LookupError | FileNotFoundError, sid: str) -> str:
    """Why the stored result of ``sid`` could not be read (see :func:`_tables`)."""
    if isinstance(exc, FileNotFoundError):
        return f"result of simulation {sid} was deleted"
    return f"{exc.args[0]} missing for simulation {sid}"


def _download(table: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        _, [(_, media_type, body)] = await _read(request, "id, storage_folder", (table,))
        return web.Response(body=body, headers={"Content-Type": media_type, "Vary": "Accept"})

    return handler


async def result_bundle(request: web.Request) -> web.Response:
    """``multipart/mixed``: ``metrics`` (JSON), ``time_series`` and ``steps`` (Arrow stream
    or parquet, as for the downloads), each part named in its Content-Disposition and sized
    by Content-Length (see :mod:`ionworks._multipart`)."""
    row, tables = await _read(request, "id, storage_folder, metrics", TABLES)
    parts = [("metrics", JSON, (row["metrics"] or "{}").encode()), *tables]
    boundary = secrets.token_hex(16)
    return web.Response(
        body=multipart.build(boundary, parts),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "Vary": "Accept"},
    )


@read_only
async def result_bundles(request: web.Request) -> web.Response:
    """``POST /simulations/results`` ``{"simulation_ids": [...]}``: the bundles of several
    results in one ``multipart/mixed`` response (our extension, the ``result-bundles``
    capability). For the i-th id: parts ``i/metrics``, ``i/time_series`` and ``i/steps`` as
    in :func:`result_bundle`, or one ``i/error`` part, ``{"status", "detail"}`` (404: no such
    simulation of this key, or no result yet; 413: past :data:`MAX_BATCH_BYTES`, ask for it
    alone)."""
    store, _ = ctx(request)
    body = await read_json(request)
    ids = body.get("simulation_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        fail(422, "'simulation_ids' must be a non-empty list of strings")
    if len(ids) > MAX_BATCH_IDS:
        fail(422, f"at most {MAX_BATCH_IDS} simulation_ids per request, got {len(ids)}")
    columns = "s.id, s.project_id, s.storage_folder, s.metrics"
    rows = readable_with_status(request, list(set(ids)), columns)
    arrow = ARROW_STREAM in request.headers.get("Accept", "")
    parts = await anyio.to_thread.run_sync(_batch_parts, store, ids, rows, arrow)
    boundary = secrets.token_hex(16)
    return web.Response(
        body=multipart.build(boundary, parts),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "Vary": "Accept"},
    )


def _batch_parts(
    store: Store, ids: list[str], rows: dict[str, Any], arrow: bool
) -> list[tuple[str, str, bytes]]:
    """The parts of :func:`result_bundles` (in a thread: it reads the files)."""
    parts: list[tuple[str, str, bytes]] = []
    size = 0

    def error(index: int, status: int, detail: str) -> None:
        body = json.dumps({"status": status, "detail": detail}).encode()
        parts.append((f"{index}/error", JSON, body))

    for index, sid in enumerate(ids):
        row = rows.get(sid)
        if row is None:  # not this key's (nor shared with it), or no such simulation
            error(index, 404, f"simulation {shown(sid)} not found")
        elif not row["storage_folder"]:
            error(index, 404, f"result not yet available for simulation {sid}")
        elif size > MAX_BATCH_BYTES:
            error(index, 413, "the response is full: ask for this result alone")
        else:
            try:
                tables = _tables(store.blob_path(row["storage_folder"], ""), TABLES, arrow)
            except (LookupError, FileNotFoundError) as exc:
                error(index, 404, _unreadable(exc, sid))
                continue
            parts.append((f"{index}/metrics", JSON, (row["metrics"] or "{}").encode()))
            parts += [(f"{index}/{table}", media, content) for table, media, content in tables]
            size += sum(len(content) for _, _, content in tables)
    return parts


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/simulations/{id}/time_series/download", _download("time_series"))
    r.add_get("/simulations/{id}/steps/download", _download("steps"))
    r.add_get("/simulations/{id}/result", result_bundle)
    r.add_post("/simulations/results", result_bundles)
