"""Routes: cell measurements (wire.md §10); cell specifications/instances are in routes_cells.

Upload flow: ``initiate-upload`` hands out single-use URLs on this server (``/uploads/{token}``,
the unguessable token is the authorization), built from the server's ``public_url`` or else the
address it listens on (never from a request's ``Host`` header); ``PUT`` streams the bytes to a
partial file that becomes ``blobs/uploads/{token}`` once complete (a restart keeps it);
``confirm-upload`` claims the upload in SQLite (a concurrent or later confirm gets a 409),
checks the files and moves them into place, or discards everything (no record, no files) with
a 422 naming the file, the column and row, or the limit. In a project shared with the key
(:mod:`.access`), the upload and the measurement are the project owner's, within the key's role.

Bounds (:class:`~ionworks.server.limits.Limits`): a PUT body holds at most
``max_upload_bytes`` after decompression (413); a key has at most ``max_open_uploads``
unconfirmed uploads (429), each removed with its files ``upload_ttl_seconds`` after
``initiate-upload`` (checked on each initiate and confirm, and at least every minute). The
files are checked by :mod:`ionworks.server.services.measurement_files` (shape from metadata before any
decoding, decoding off the event loop, no server paths in messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api import (
    access,
    measurement_attachments,
    measurement_steps,
    measurement_tags,
)
from ionworks.server.api.cells import found, instance_or_404, record
from ionworks.server.api.http import (
    HTTPError,
    check_editable,
    fail,
    json_response,
    owner,
    read_json,
)
from ionworks.server.api.listing import list_window
from ionworks.server.api.measurement_attachments import FILE, check_filenames, store_attachments
from ionworks.server.api.measurement_tags import has_tags, normalise, spelling
from ionworks.server.api.models import _store
from ionworks.server.db import measurements, uploads
from ionworks.server.db.measurements import FOLDER, STEPS, TIME_SERIES
from ionworks.server.db.store import Store, new_id
from ionworks.server.db.uploads import RECEIVED, complete_path, converted_path
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import check_files
from ionworks.server.state import STATE, limits, state

__all__ = ["checked_meta", "conflict", "measurement_dict", "measurement_or_404", "setup"]


FILES = (TIME_SERIES, STEPS)
KIND: Final = "_measurement_type"  # in an upload's stored metadata: a file upload's type
PROTECTED = {"id", "cell_instance_id", "project_id", "measurement_type", "processing_status"} | {
    KIND,
    "file_metadata",
}
CHUNK: Final = 1 << 20

SWEEP_SECONDS: Final = 60.0  # expired uploads are removed at least this often
_SWEEPER: Final = web.AppKey("upload_sweeper", asyncio.Task[None])
log = logging.getLogger("ionworks.server")


def measurement_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = record(row, notes=None, processing_status="ready", processing_error=None)
    return {**out, "tags": out.get("tags") or [], "has_steps": row["steps_count"] is not None}


def measurement_or_404(store: Store, owner_id: str, measurement_id: str) -> sqlite3.Row:
    row = measurements.get(store, owner_id, measurement_id)
    return found(row, f"measurement {measurement_id}")


#: Query parameters the measurement lists honour (the official client's, both lists); any
#: other is a 422, never silently ignored.
LIST_PARAMS: Final = frozenset(
    {"limit", "offset", "measurement_type", "name", "q", "tags_all", "tags_any", "order_by"}
    | {"order", "project_id", "created_at_gt", "created_at_lt", "updated_at_gt"}
    | {"updated_at_lt", "start_time_gt", "start_time_lt"}
)
SORTABLE: Final = ("name", "created_at", "updated_at", "start_time")


def _text_hit(m: dict[str, Any], q: str) -> bool:
    """``q``: a case-insensitive substring of the name, notes, protocol name or a tag."""
    protocol = m.get("protocol")
    names = [m.get("name"), m.get("notes"), *m["tags"]]
    if isinstance(protocol, dict):
        names.append(protocol.get("name"))
    return any(isinstance(n, str) and q in n.lower() for n in names)


def _list_rows(request: web.Request, **where: str) -> web.Response:
    q = request.query
    unknown = sorted(set(q) - LIST_PARAMS)
    if "created_by_email" in unknown:
        fail(422, "filter 'created_by_email' is not supported: this server records no emails")
    if unknown:
        fail(
            422,
            f"unknown query parameter(s) for measurements: {', '.join(map(access.shown, unknown))}"
            f"; accepted: {', '.join(sorted(LIST_PARAMS))}",
        )
    rows = measurements.list_rows(
        _store(request), owner(request), measurement_type=q.get("measurement_type") or None, **where
    )
    tags_all = {t.strip().lower() for t in q.getall("tags_all", [])}
    tags_any = {t.strip().lower() for t in q.getall("tags_any", [])}
    items = [m for m in map(measurement_dict, rows) if has_tags(m["tags"], tags_all, tags_any)]
    if q.get("q"):
        items = [m for m in items if _text_hit(m, q["q"].lower())]
    for param, keep in (("start_time_gt", str.__gt__), ("start_time_lt", str.__lt__)):
        if q.get(param):
            items = [
                m
                for m in items
                if isinstance(m.get("start_time"), str) and keep(m["start_time"], q[param])
            ]
    try:
        return json_response(list_window(request, items, SORTABLE))
    except ValueError as exc:  # a LIKE pattern that ends with its escape character
        fail(422, f"filter name: {exc}")


async def list_by_instance(request: web.Request) -> web.Response:
    ci = access.cell_instance(request, request.match_info["ci"])
    return _list_rows(request, cell_instance_id=ci["id"])


async def list_by_project(request: web.Request) -> web.Response:
    pid = request.query.get("project_id")
    if pid:
        access.project_in(request, pid)  # the key's project, or one shared with it
        return _list_rows(request, project_id=pid)
    return _list_rows(request)


async def get_measurement(request: web.Request) -> web.Response:
    return json_response(measurement_dict(access.measurement(request, request.match_info["mid"])))


def conflict(name: Any, instance_id: str, existing_id: str) -> NoReturn:
    """409 ``CONFLICT``: names are unique within a cell instance (``create_or_get`` reads
    ``detail.existing_id``)."""
    message = (
        f"a measurement named {access.shown(name)} already exists in cell instance {instance_id}"
    )
    fail(409, {"message": message, "existing_id": existing_id}, "CONFLICT")


def _unique(store: Store, owner_id: str, ci: str, name: Any, *, other_than: str = "") -> None:
    """409 if the cell instance already has a measurement called ``name``."""
    existing = measurements.named(store, owner_id, ci, str(name), other_than=other_than)
    if existing is not None:
        conflict(name, ci, existing)


def _instant(fields: dict[str, Any], key: str) -> datetime | None:
    """``fields[key]`` as an aware datetime (naive: UTC), None when absent; 422 when it is not
    an ISO 8601 date-time."""
    value = fields.get(key)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise TypeError
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        fail(422, f"'{key}' must be an ISO 8601 date-time, got {access.shown(value)}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_times(fields: dict[str, Any]) -> None:
    """``start_time``/``end_time`` are ISO 8601 date-times, the end not before the start (the
    official client documents this as the server's hard error)."""
    start, end = _instant(fields, "start_time"), _instant(fields, "end_time")
    if start is not None and end is not None and end < start:
        fail(422, "'end_time' is before 'start_time'")


def checked_meta(body: dict[str, Any]) -> dict[str, Any]:
    check_editable(body, PROTECTED, "measurement")
    check_times(body)
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        fail(422, "'tags' must be a list of strings")
    return {k: v for k, v in body.items() if k != "data_type"}


async def update_measurement(request: web.Request) -> web.Response:
    store, row = _store(request), access.measurement(request, request.match_info["mid"])
    changes = checked_meta(await read_json(request))
    check_times({**json.loads(row["fields"]), **changes})
    if "name" in changes:
        if not isinstance(changes["name"], str) or not changes["name"]:
            fail(422, "'name' must be a non-empty string")
        _unique(
            store, row["owner_id"], row["cell_instance_id"], changes["name"], other_than=row["id"]
        )
    if "tags" in changes:
        known = spelling(store, row["owner_id"], row["project_id"])
        changes["tags"] = normalise(changes["tags"], known)
    measurements.update_meta(store, row, changes)
    return json_response(measurement_dict(measurement_or_404(store, row["owner_id"], row["id"])))


async def delete_measurement(request: web.Request) -> web.Response:
    """Delete the record (its study memberships go with it: ON DELETE CASCADE) and its files."""
    row = access.measurement(request, request.match_info["mid"])
    measurements.delete(_store(request), row["id"])
    return web.Response(status=204)


def _download(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        store, row = _store(request), access.measurement(request, request.match_info["mid"])
        path = store.blob_path(FOLDER.format(row["id"]), name)
        if not path.is_file():
            fail(404, f"measurement {row['id']} has no {name}")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    return handler


# --- upload: initiate -> PUT /uploads/{token} -> confirm ----------------------------------------


def _origin(request: web.Request) -> str:
    """The origin of upload URLs: the configured ``public_url``, else the address this
    connection reached the server at (never the client-supplied ``Host`` header)."""
    config = state(request).config
    if config.public_url:
        return config.public_url
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        fail(
            500,
            "cannot build upload URLs: the server does not listen on a TCP address; "
            "start it with a public_url (ionworks serve --public-url)",
        )
    host, port = str(sockname[0]), int(sockname[1])
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{request.scheme}://{host}:{port}"


async def initiate_upload(request: web.Request) -> web.Response:
    ci = access.cell_instance(request, request.match_info["ci"])  # a shared one: its owner's
    store, owner_id, bounds = _store(request), owner(request), limits(request)
    body = await read_json(request)
    meta = body.get("measurement")
    if not isinstance(meta, dict) or not meta.get("name") or not isinstance(meta["name"], str):
        fail(422, "'measurement' must be an object with a non-empty string 'name'")
    kind = body.get("measurement_type", "time_series")
    if kind not in ("time_series", FILE):
        fail(
            422,
            f"only time_series and file measurements can be uploaded, got {access.shown(kind)}",
        )
    names = check_filenames(body.get("filenames")) if kind == FILE else list(FILES)
    fields = json.dumps({**checked_meta(meta), **({KIND: FILE} if kind == FILE else {})})
    normalise(meta.get("tags", []), {})  # refused before any bytes are sent
    _unique(store, ci["owner_id"], ci["id"], meta["name"])  # before any bytes; confirm again
    origin = _origin(request)
    uploads.sweep(store, bounds.upload_ttl_seconds)
    count, oldest = uploads.open_uploads(store, owner_id)
    if count >= bounds.max_open_uploads:
        left = max(0.0, (oldest or 0.0) + bounds.upload_ttl_seconds - time.time())
        fail(
            429,
            f"this API key has {count} unconfirmed uploads; the limit is "
            f"{bounds.max_open_uploads} (max_open_uploads): confirm them with confirm-upload, "
            f"or wait until they expire ({bounds.upload_ttl_seconds:g} s after initiate-upload, "
            f"upload_ttl_seconds; the oldest expires in {left:.0f} s)",
        )
    mid = new_id()
    tokens = uploads.create(store, owner_id, ci["id"], mid, names, fields)
    urls = []
    for filename, token in zip(names, tokens, strict=True):
        path = f"/uploads/{token}"
        urls.append(
            {"filename": filename, "signed_url": origin + path, "token": token, "path": path}
        )
    return json_response({"measurement_id": mid, "uploads": urls})


def _too_big(cap: int) -> str:
    return (
        f"upload exceeds max_upload_bytes ({cap:,} bytes, counted after decompression); "
        "upload a smaller file"
    )


async def put_upload(request: web.Request) -> web.Response:
    """Stream the body (after gzip decompression) to a partial file, then rename it; the token
    is single-use and expires ``upload_ttl_seconds`` after initiate-upload."""
    store, token, bounds = _store(request), request.match_info["token"], limits(request)
    cap = bounds.max_upload_bytes
    if not uploads.start_receiving(store, token, bounds.upload_ttl_seconds):
        fail(404, "unknown, expired or already used upload URL; call initiate-upload again")
    partial, size = uploads.partial_path(store, token), 0
    try:
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity") and (request.content_length or 0) > cap:
            fail(413, _too_big(cap))
        partial.parent.mkdir(parents=True, exist_ok=True)
        async with await anyio.open_file(partial, "wb") as fh:
            # aiohttp inflates a gzip (deflate, br) body as it streams: ``size`` counts the
            # decompressed bytes, so a compressed body has the same bound as a plain one
            async for chunk in _chunks(request, bounds.read_timeout_seconds):
                size += len(chunk)
                if size > cap:
                    fail(413, _too_big(cap))
                await fh.write(chunk)
            await fh.flush()
            await anyio.to_thread.run_sync(os.fsync, fh.wrapped.fileno())
        try:
            os.replace(partial, complete_path(store, token))
        except FileNotFoundError:  # removed meanwhile: the upload was withdrawn
            fail(404, "this upload URL was withdrawn while the body was received")
    except BaseException:
        partial.unlink(missing_ok=True)
        uploads.stop_receiving(store, token)
        raise
    if not uploads.finish_receiving(store, token):  # discarded meanwhile (project deleted)
        complete_path(store, token).unlink(missing_ok=True)
        fail(404, "this upload URL was withdrawn while the body was received")
    return json_response({"token": token, "size": size})


async def _chunks(request: web.Request, idle: float) -> AsyncIterator[bytes]:
    """The body in chunks; a client that sends nothing for ``idle`` seconds gets a 408 and
    its connection is closed (a trickling upload must not hold the URL and a socket forever)."""
    stream = request.content.iter_chunked(CHUNK)
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await anext(stream, None)
        except TimeoutError:
            message = f"the upload stalled for {idle:g} s (read_timeout_seconds)"
            raise HTTPError(408, message, close=True) from None
        if chunk is None:
            return
        yield chunk


def _claim(store: Store, owner_id: str, mid: str) -> list[sqlite3.Row]:
    """Atomically take the measurement's upload URLs for one confirm-upload (409 if another
    confirm has them or had them, or a body is still being received)."""
    try:
        return uploads.claim(store, owner_id, mid)
    except uploads.AlreadyClaimed as exc:
        fail(409, str(exc))
    except LookupError as exc:
        fail(404, f"measurement {access.shown(mid)}: {exc}")


async def _store_series(
    store: Store, bounds: Limits, files: dict[str, tuple[Path, Path]], folder: str
) -> tuple[int, int | None]:
    """Check a time series upload's files and move them into ``folder``: (rows, steps)."""
    if FILES[0] not in files:
        fail(422, f"{FILES[0]} was not uploaded; PUT it to its upload URL before confirming")
    gone = sorted(name for name, (path, _) in files.items() if not path.is_file())
    if gone:
        fail(422, f"the uploaded {', '.join(gone)} is no longer on the server; upload again")
    try:
        stored, rows, steps = await anyio.to_thread.run_sync(check_files, files, bounds)
    except MeasurementValidationError as exc:
        fail(422, f"invalid measurement data: {exc.message}")
    (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
    for name, path in stored.items():
        os.replace(path, store.blob_path(folder, name))
    return rows, steps


async def confirm_upload(request: web.Request) -> web.Response:
    """Validate and store the uploaded files; on any failure nothing is kept (the upload URLs
    are spent either way). The upload is claimed first, so a concurrent confirm of the same
    measurement gets a 409 and never touches this one's files."""
    mid = request.match_info["mid"]
    access.enter_upload(request, mid)  # an upload to a shared project: its owner's
    store, owner_id, bounds = _store(request), owner(request), limits(request)
    uploads.sweep(store, bounds.upload_ttl_seconds)
    claimed = _claim(store, owner_id, mid)
    tokens = [u["token"] for u in claimed]
    files = {
        u["filename"]: (complete_path(store, u["token"]), converted_path(store, u["token"]))
        for u in claimed
        if u["received"] == RECEIVED
    }
    folder = FOLDER.format(mid)
    try:
        body = await read_json(request)
        if not isinstance(body.get("measurement", {}), dict):
            fail(422, "'measurement' must be an object")
        stored_meta = json.loads(claimed[0]["meta"])
        kind = stored_meta.pop(KIND, "time_series")
        meta = {**stored_meta, **checked_meta(body.get("measurement", {}))}
        check_times(meta)
        if not isinstance(meta.get("name"), str) or not meta["name"]:
            fail(422, "'measurement.name' must be a non-empty string")
        rows, steps = 0, None
        if kind == FILE:
            meta["file_metadata"] = await store_attachments(store, bounds, claimed, folder)
        else:
            rows, steps = await _store_series(store, bounds, files, folder)
        ci = instance_or_404(store, owner_id, claimed[0]["cell_instance_id"])
        if "tags" in meta:
            meta["tags"] = normalise(meta["tags"], spelling(store, owner_id, ci["project_id"]))
        existing = measurements.create(
            store, ci, mid, meta, row_count=rows, steps_count=steps, measurement_type=kind
        )
        if existing is not None:
            conflict(meta["name"], ci["id"], existing)
    except BaseException:
        store.delete_blobs(folder)  # this request holds the claim: the folder is its own
        raise
    finally:
        uploads.discard(store, tokens)
    stored_record = measurement_dict(measurement_or_404(store, owner_id, mid))
    return json_response({**stored_record, "steps_created": steps or 0})


async def _start_sweeping(app: web.Application) -> None:
    """At start (after the store removed partial writes) and then every ``upload_ttl_seconds``
    (at most a minute): remove expired uploads."""
    server = app[STATE]
    store, ttl = server.store, server.limits.upload_ttl_seconds
    uploads.sweep(store, ttl, at_start=True)

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(min(ttl, SWEEP_SECONDS))
            try:
                uploads.sweep(store, ttl)
            except Exception:  # e.g. "database is locked": log, try again later
                log.exception("removing expired uploads failed")

    app[_SWEEPER] = asyncio.get_running_loop().create_task(sweep_forever())


async def _stop_sweeping(app: web.Application) -> None:
    task = app.get(_SWEEPER)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    app.on_startup.append(_start_sweeping)
    app.on_shutdown.append(_stop_sweeping)  # before the store closes (on cleanup)
    r = app.router
    r.add_get("/cell_instances/{ci}/cell_measurements", list_by_instance)
    r.add_post("/cell_instances/{ci}/cell_measurements/initiate-upload", initiate_upload)
    r.add_put("/uploads/{token}", put_upload)
    r.add_post("/cell_measurements/{mid}/confirm-upload", confirm_upload)
    r.add_get("/cell_measurements", list_by_project)
    measurement_tags.routes(r)  # before /cell_measurements/{mid}
    measurement_attachments.routes(r)
    measurement_steps.routes(r)
    r.add_get("/cell_measurements/{mid}", get_measurement)
    r.add_patch("/cell_measurements/{mid}", update_measurement)
    r.add_delete("/cell_measurements/{mid}", delete_measurement)
    r.add_get("/cell_measurements/{mid}/time_series/download", _download(FILES[0]))
    r.add_get("/cell_measurements/{mid}/steps/download", _download(FILES[1]))
