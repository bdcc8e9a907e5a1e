"""Routes: cell measurements (wire.md §10); cell specifications/instances are in routes_cells.

Upload flow: ``initiate-upload`` hands out single-use URLs on this server (``/uploads/{token}``,
the unguessable token is the authorization), built from the server's ``public_url`` or else the
address it listens on (never from a request's ``Host`` header); ``PUT`` streams the bytes to a
partial file that becomes ``blobs/uploads/{token}`` once complete (a restart keeps it);
``confirm-upload`` claims the upload in SQLite (a concurrent or later confirm gets a 409),
checks the files and moves them into place, or discards everything (no record, no files) with
a 422 naming the file, the column and row, or the limit.

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
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api.cells import _insert, _record, _row
from ionworks.server.api.http import HTTPError, fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import list_window
from ionworks.server.api.models import _store, project_or_404
from ionworks.server.db.measurements import FOLDER, STEPS, TIME_SERIES
from ionworks.server.db.store import Store, new_id, now_iso
from ionworks.server.services.measurement_files import check_files
from ionworks.server.state import STATE, limits, state

__all__ = ["measurement_dict", "setup", "upload_files"]


FILES = (TIME_SERIES, STEPS)
PROTECTED = {"id", "cell_instance_id", "project_id", "measurement_type", "processing_status"}
CHUNK: Final = 1 << 20

# measurement_uploads.received: the state of one upload URL
WAITING: Final = 0  # nothing received yet
RECEIVED: Final = 1  # the whole body is in blobs/uploads/{token}
RECEIVING: Final = 2  # a PUT is streaming the body
CONFIRMING: Final = 3  # claimed by a confirm-upload

SWEEP_SECONDS: Final = 60.0  # expired uploads are removed at least this often
_SWEEPER: Final = web.AppKey("upload_sweeper", asyncio.Task[None])
log = logging.getLogger("ionworks.server")


def measurement_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = _record(row, notes=None, processing_status="ready", processing_error=None)
    return {**out, "tags": out.get("tags") or [], "has_steps": row["steps_count"] is not None}


def _list_rows(request: web.Request, where: list[str], args: list[Any]) -> web.Response:
    if request.query.get("measurement_type"):
        where.append("measurement_type = ?")
        args.append(request.query["measurement_type"])
    rows = _store(request).query(
        f"SELECT * FROM cell_measurements WHERE {' AND '.join(where)} ORDER BY created_at DESC",
        args,
    )
    tags_all = set(request.query.getall("tags_all", []))
    tags_any = set(request.query.getall("tags_any", []))
    items = [
        m
        for m in map(measurement_dict, rows)
        if tags_all <= set(m["tags"]) and (not tags_any or tags_any & set(m["tags"]))
    ]
    return json_response(list_window(request, items, ("name", "created_at", "updated_at")))


async def list_by_instance(request: web.Request) -> web.Response:
    ci = _row(_store(request), "cell_instances", owner(request), request.match_info["ci"])
    return _list_rows(request, ["owner_id = ?", "cell_instance_id = ?"], [owner(request), ci["id"]])


async def list_by_project(request: web.Request) -> web.Response:
    where, args = ["owner_id = ?"], [owner(request)]
    pid = request.query.get("project_id")
    if pid:
        project_or_404(_store(request), owner(request), pid)
        where.append("project_id = ?")
        args.append(pid)
    return _list_rows(request, where, args)


async def get_measurement(request: web.Request) -> web.Response:
    row = _row(_store(request), "cell_measurements", owner(request), request.match_info["mid"])
    return json_response(measurement_dict(row))


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(PROTECTED & set(body))
    if bad:
        fail(422, f"measurement field(s) cannot be set: {', '.join(bad)}")
    if "name" in body:
        require_str(body, "name")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        fail(422, "'tags' must be a list of strings")
    return {k: v for k, v in body.items() if k != "data_type"}


async def update_measurement(request: web.Request) -> web.Response:
    store, owner_id = _store(request), owner(request)
    row = _row(store, "cell_measurements", owner_id, request.match_info["mid"])
    changes = _meta(await read_json(request))
    fields = {**json.loads(row["fields"]), **changes}
    store.execute(
        "UPDATE cell_measurements SET name = ?, fields = ?, updated_at = ? WHERE id = ?",
        (fields.pop("name", row["name"]), json.dumps(fields, default=str), now_iso(), row["id"]),
    )
    return json_response(measurement_dict(_row(store, "cell_measurements", owner_id, row["id"])))


async def delete_measurement(request: web.Request) -> web.Response:
    """Delete the record (its study memberships go with it: ON DELETE CASCADE) and its files."""
    store = _store(request)
    row = _row(store, "cell_measurements", owner(request), request.match_info["mid"])
    store.execute("DELETE FROM cell_measurements WHERE id = ?", (row["id"],))
    store.delete_blobs(FOLDER.format(row["id"]))
    return web.Response(status=204)


def _download(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        store = _store(request)
        row = _row(store, "cell_measurements", owner(request), request.match_info["mid"])
        path = store.blob_path(FOLDER.format(row["id"]), name)
        if not path.is_file():
            fail(404, f"measurement {row['id']} has no {name}")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    return handler


# --- upload: initiate -> PUT /uploads/{token} -> confirm ----------------------------------------


def _uploads_dir(store: Store) -> Path:
    return store.blob_dir / "uploads"


def _partial(store: Store, token: str) -> Path:
    """Where a PUT streams to (a ``.*.tmp`` partial write: removed at start if interrupted)."""
    return _uploads_dir(store) / f".{token}.tmp"


def _complete(store: Store, token: str) -> Path:
    """A fully received upload (renamed from its partial file after fsync)."""
    return _uploads_dir(store) / token


def _converted(store: Store, token: str) -> Path:
    """The parquet copy of an uploaded CSV file, made by confirm-upload."""
    return _uploads_dir(store) / f".{token}.parquet.tmp"


def upload_files(store: Store, token: str) -> tuple[Path, ...]:
    """Every file an upload URL may have on disk (for deleting them)."""
    return _partial(store, token), _complete(store, token), _converted(store, token)


def _remove_upload_files(store: Store, tokens: Iterable[str]) -> None:
    for token in tokens:
        for path in upload_files(store, token):
            path.unlink(missing_ok=True)


def _discard(store: Store, tokens: Sequence[str]) -> None:
    """Forget these upload URLs: their rows, then their files."""
    with store.transaction():
        for token in tokens:
            store.execute("DELETE FROM measurement_uploads WHERE token = ?", (token,))
    _remove_upload_files(store, tokens)


def sweep_uploads(store: Store, ttl: float, *, at_start: bool = False) -> None:
    """Remove uploads older than ``ttl`` seconds (rows and files; not while a PUT or a confirm
    is working on one). ``at_start`` (no request in flight): an interrupted PUT's URL can be
    used again, an interrupted confirm's upload is spent (its URLs, files and any partly moved
    measurement files are removed, unless its record was written), and files in
    ``blobs/uploads/`` of unknown tokens are removed."""
    if at_start:
        for row in store.query(
            "SELECT token FROM measurement_uploads WHERE received = ?", (RECEIVING,)
        ):
            _remove_upload_files(store, [row["token"]])
        store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE received = ?", (WAITING, RECEIVING)
        )
        claimed = store.query(
            "SELECT DISTINCT measurement_id FROM measurement_uploads WHERE received = ?",
            (CONFIRMING,),
        )
        for row in claimed:
            mid = row["measurement_id"]
            tokens = store.query(
                "SELECT token FROM measurement_uploads WHERE measurement_id = ?", (mid,)
            )
            _discard(store, [t["token"] for t in tokens])
            if store.one("SELECT id FROM cell_measurements WHERE id = ?", (mid,)) is None:
                store.delete_blobs(FOLDER.format(mid))
    expired = store.query(
        "SELECT token FROM measurement_uploads WHERE created <= ? AND received IN (?, ?)",
        (time.time() - ttl, WAITING, RECEIVED),
    )
    if expired:
        _discard(store, [row["token"] for row in expired])
    folder = _uploads_dir(store)
    if at_start and folder.is_dir():
        known = {row["token"] for row in store.query("SELECT token FROM measurement_uploads")}
        for path in folder.iterdir():
            if not path.name.startswith(".") and path.name not in known:
                path.unlink(missing_ok=True)


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
    store, owner_id, bounds = _store(request), owner(request), limits(request)
    ci = _row(store, "cell_instances", owner_id, request.match_info["ci"])
    body = await read_json(request)
    meta = body.get("measurement")
    if not isinstance(meta, dict) or not meta.get("name"):
        fail(422, "'measurement' must be an object with a non-empty 'name'")
    kind = body.get("measurement_type", "time_series")
    if kind != "time_series":
        fail(422, f"only time_series measurements can be uploaded, got {kind!r}")
    fields = json.dumps(_meta(meta))
    origin = _origin(request)
    sweep_uploads(store, bounds.upload_ttl_seconds)
    open_ = store.one(
        "SELECT COUNT(DISTINCT measurement_id) n, MIN(created) oldest FROM measurement_uploads "
        "WHERE owner_id = ?",
        (owner_id,),
    )
    if open_ is not None and open_["n"] >= bounds.max_open_uploads:
        left = max(0.0, open_["oldest"] + bounds.upload_ttl_seconds - time.time())
        fail(
            429,
            f"this API key has {open_['n']} unconfirmed uploads; the limit is "
            f"{bounds.max_open_uploads} (max_open_uploads): confirm them with confirm-upload, "
            f"or wait until they expire ({bounds.upload_ttl_seconds:g} s after initiate-upload, "
            f"upload_ttl_seconds; the oldest expires in {left:.0f} s)",
        )
    mid, uploads, created = new_id(), [], time.time()
    with store.transaction():
        for filename in FILES:
            token = secrets.token_urlsafe(32)
            store.execute(
                "INSERT INTO measurement_uploads(token, measurement_id, owner_id, cell_instance_id,"
                " filename, meta, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, mid, owner_id, ci["id"], filename, fields, created),
            )
            path = f"/uploads/{token}"
            uploads.append(
                {"filename": filename, "signed_url": origin + path, "token": token, "path": path}
            )
    return json_response({"measurement_id": mid, "uploads": uploads})


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
    claimed = store.execute(
        "UPDATE measurement_uploads SET received = ? WHERE token = ? AND received = ? "
        "AND created > ?",
        (RECEIVING, token, WAITING, time.time() - bounds.upload_ttl_seconds),
    )
    if not claimed:
        fail(404, "unknown, expired or already used upload URL; call initiate-upload again")
    partial, size = _partial(store, token), 0
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
            os.replace(partial, _complete(store, token))
        except FileNotFoundError:  # removed meanwhile: the upload was withdrawn
            fail(404, "this upload URL was withdrawn while the body was received")
    except BaseException:
        partial.unlink(missing_ok=True)
        store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE token = ? AND received = ?",
            (WAITING, token, RECEIVING),
        )
        raise
    done = store.execute(
        "UPDATE measurement_uploads SET received = ? WHERE token = ? AND received = ?",
        (RECEIVED, token, RECEIVING),
    )
    if not done:  # the upload was discarded meanwhile (its project deleted)
        _complete(store, token).unlink(missing_ok=True)
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
    with store.transaction():
        uploads = store.query(
            "SELECT * FROM measurement_uploads WHERE measurement_id = ? AND owner_id = ?",
            (mid, owner_id),
        )
        if not uploads:
            done = store.one(
                "SELECT id FROM cell_measurements WHERE id = ? AND owner_id = ?", (mid, owner_id)
            )
            if done is not None:
                fail(409, f"measurement {mid} was already confirmed")
            fail(
                404,
                f"no pending upload for measurement {mid} (unknown, expired or already used); "
                "call initiate-upload first",
            )
        states = {u["filename"]: u["received"] for u in uploads}
        if CONFIRMING in states.values():
            fail(409, f"measurement {mid} is already being confirmed by another request")
        busy = sorted(f for f, state in states.items() if state == RECEIVING)
        if busy:
            fail(
                409,
                f"{', '.join(busy)} of measurement {mid} is still being uploaded; confirm once "
                "the PUT has finished",
            )
        claimed = store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE measurement_id = ? "
            "AND owner_id = ? AND received IN (?, ?)",
            (CONFIRMING, mid, owner_id, WAITING, RECEIVED),
        )
        if claimed != len(uploads):  # cannot happen inside the transaction; never guess
            fail(409, f"measurement {mid} is already being confirmed by another request")
    return uploads


async def confirm_upload(request: web.Request) -> web.Response:
    """Validate and store the uploaded files; on any failure nothing is kept (the upload URLs
    are spent either way). The upload is claimed first, so a concurrent confirm of the same
    measurement gets a 409 and never touches this one's files."""
    store, owner_id, mid = _store(request), owner(request), request.match_info["mid"]
    bounds = limits(request)
    sweep_uploads(store, bounds.upload_ttl_seconds)
    uploads = _claim(store, owner_id, mid)
    tokens = [u["token"] for u in uploads]
    files = {
        u["filename"]: (_complete(store, u["token"]), _converted(store, u["token"]))
        for u in uploads
        if u["received"] == RECEIVED
    }
    folder = FOLDER.format(mid)
    try:
        body = await read_json(request)
        if not isinstance(body.get("measurement", {}), dict):
            fail(422, "'measurement' must be an object")
        meta = {**json.loads(uploads[0]["meta"]), **_meta(body.get("measurement", {}))}
        if FILES[0] not in files:
            fail(422, f"{FILES[0]} was not uploaded; PUT it to its upload URL before confirming")
        gone = sorted(name for name, (path, _) in files.items() if not path.is_file())
        if gone:
            fail(422, f"the uploaded {', '.join(gone)} is no longer on the server; upload again")
        try:
            stored, rows, steps = await anyio.to_thread.run_sync(check_files, files, bounds)
        except MeasurementValidationError as exc:
            fail(422, f"invalid measurement data: {exc.message}")
        ci = _row(store, "cell_instances", owner_id, uploads[0]["cell_instance_id"])
        (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
        for name, path in stored.items():
            os.replace(path, store.blob_path(folder, name))
        sizes = {"row_count": rows, "steps_count": steps, "updated_at": now_iso()}
        name, pid = str(meta["name"]), ci["project_id"]
        kind = {"measurement_type": "time_series", "cell_instance_id": ci["id"]}
        _insert(
            store,
            "cell_measurements",
            owner_id,
            pid,
            id=mid,
            name=name,
            fields=meta,
            **kind,
            **sizes,
        )
    except BaseException:
        store.delete_blobs(folder)  # this request holds the claim: the folder is its own
        raise
    finally:
        _discard(store, tokens)
    record = measurement_dict(_row(store, "cell_measurements", owner_id, mid))
    return json_response({**record, "steps_created": steps or 0})


async def _start_sweeping(app: web.Application) -> None:
    """At start (after the store removed partial writes) and then every ``upload_ttl_seconds``
    (at most a minute): remove expired uploads."""
    server = app[STATE]
    store, ttl = server.store, server.limits.upload_ttl_seconds
    sweep_uploads(store, ttl, at_start=True)

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(min(ttl, SWEEP_SECONDS))
            try:
                sweep_uploads(store, ttl)
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
    r.add_get("/cell_measurements/{mid}", get_measurement)
    r.add_patch("/cell_measurements/{mid}", update_measurement)
    r.add_delete("/cell_measurements/{mid}", delete_measurement)
    r.add_get("/cell_measurements/{mid}/time_series/download", _download(FILES[0]))
    r.add_get("/cell_measurements/{mid}/steps/download", _download(FILES[1]))
