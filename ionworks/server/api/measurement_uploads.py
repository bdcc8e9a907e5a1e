"""Routes: the measurement upload flow (wire.md §10.2).

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
from pathlib import Path
from typing import Final

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api import (
    access,
)
from ionworks.server.api.cells import instance_or_404
from ionworks.server.api.http import (
    HTTPError,
    fail,
    json_response,
    owner,
    read_json,
)
from ionworks.server.api.measurement_attachments import FILE, check_filenames, store_attachments
from ionworks.server.api.measurement_tags import normalise, spelling
from ionworks.server.api.measurements import (
    FILES,
    KIND,
    check_times,
    checked_meta,
    conflict,
    measurement_dict,
    measurement_or_404,
    unique,
)
from ionworks.server.api.models import _store
from ionworks.server.db import measurements, uploads
from ionworks.server.db.measurements import FOLDER
from ionworks.server.db.store import Store, new_id
from ionworks.server.db.uploads import RECEIVED, complete_path, converted_path
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import store_series
from ionworks.server.state import STATE, limits, state

__all__ = ["check_open_uploads", "claim", "origin", "setup"]

CHUNK: Final = 1 << 20
SWEEP_SECONDS: Final = 60.0  # expired uploads are removed at least this often
_SWEEPER: Final = web.AppKey("upload_sweeper", asyncio.Task[None])
log = logging.getLogger("ionworks.server")


# --- upload: initiate -> PUT /uploads/{token} -> confirm ----------------------------------------


def origin(request: web.Request) -> str:
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
    unique(store, ci["owner_id"], ci["id"], meta["name"])  # before any bytes; confirm again
    base = origin(request)
    check_open_uploads(store, owner_id, bounds)
    mid = new_id()
    tokens = uploads.create(store, owner_id, ci["id"], mid, names, fields)
    urls = []
    for filename, token in zip(names, tokens, strict=True):
        path = f"/uploads/{token}"
        urls.append({"filename": filename, "signed_url": base + path, "token": token, "path": path})
    return json_response({"measurement_id": mid, "uploads": urls})


def check_open_uploads(store: Store, owner_id: str, bounds: Limits) -> None:
    """Before an initiate-upload: remove expired uploads, then a 429 if the owner has
    ``max_open_uploads`` unconfirmed ones (measurements and raw data alike)."""
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


def claim(store: Store, owner_id: str, mid: str, *, raw: bool = False) -> list[sqlite3.Row]:
    """Atomically take the measurement's (``raw``: the raw-data record's) upload URLs for one
    confirm-upload (409 if another confirm has them or had them, or a body is still being
    received)."""
    try:
        return uploads.claim(store, owner_id, mid, raw=raw)
    except uploads.AlreadyClaimed as exc:
        fail(409, str(exc))
    except LookupError as exc:
        fail(404, f"{'raw data' if raw else 'measurement'} {access.shown(mid)}: {exc}")


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
        return await anyio.to_thread.run_sync(store_series, store, files, folder, bounds)
    except MeasurementValidationError as exc:
        fail(422, f"invalid measurement data: {exc.message}")


async def confirm_upload(request: web.Request) -> web.Response:
    """Validate and store the uploaded files; on any failure nothing is kept (the upload URLs
    are spent either way). The upload is claimed first, so a concurrent confirm of the same
    measurement gets a 409 and never touches this one's files."""
    mid = request.match_info["mid"]
    access.enter_upload(request, mid)  # an upload to a shared project: its owner's
    store, owner_id, bounds = _store(request), owner(request), limits(request)
    uploads.sweep(store, bounds.upload_ttl_seconds)
    claimed = claim(store, owner_id, mid)
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
        # this request holds the claim of a new measurement: the folder is its own (never
        # that of a stored measurement, whatever id the request named)
        if not measurements.exists(store, mid):
            store.delete_blobs(folder)
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
    r.add_post("/cell_instances/{ci}/cell_measurements/initiate-upload", initiate_upload)
    r.add_put("/uploads/{token}", put_upload)
    r.add_post("/cell_measurements/{mid}/confirm-upload", confirm_upload)
