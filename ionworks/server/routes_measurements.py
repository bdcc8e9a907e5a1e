"""Routes: cell measurements (wire.md §10); cell specifications/instances are in routes_cells.

Upload flow: ``initiate-upload`` hands out single-use URLs on this server (``/uploads/{token}``,
the unguessable token is the authorization); ``PUT`` streams the bytes to a temp file;
``confirm-upload`` validates the parquet and moves the files into place, or discards
everything (no record, no files) with a 422 naming the column and row.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.resources.cell_measurement import validate_time_series
from ionworks.server.http import fail, json_response, owner, read_json, require_str
from ionworks.server.routes_cells import _insert, _record, _row, list_window
from ionworks.server.routes_models import _store, project_or_404
from ionworks.server.store import Store, new_id, now_iso

__all__ = ["measurement_dict", "measurement_frames", "setup"]

SCHEMA = """CREATE TABLE IF NOT EXISTS cell_measurements (
  id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, project_id TEXT NOT NULL,
  cell_instance_id TEXT NOT NULL, name TEXT NOT NULL, fields TEXT NOT NULL,
  measurement_type TEXT NOT NULL, row_count INTEGER NOT NULL, steps_count INTEGER,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cell_measurements_instance ON cell_measurements(cell_instance_id);
CREATE TABLE IF NOT EXISTS measurement_uploads (
  token TEXT PRIMARY KEY, measurement_id TEXT NOT NULL, owner_id TEXT NOT NULL,
  cell_instance_id TEXT NOT NULL, filename TEXT NOT NULL, meta TEXT NOT NULL,
  received INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
"""

FILES = ("time_series.parquet", "steps.parquet")
FOLDER = "measurements/{}"
UPLOAD_TTL = 24 * 3600.0
MAX_UPLOAD = 4 * 1024**3
PROTECTED = {"id", "cell_instance_id", "project_id", "measurement_type", "processing_status"}


def measurement_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = _record(row, notes=None, processing_status="ready", processing_error=None)
    return {**out, "tags": out.get("tags") or [], "has_steps": row["steps_count"] is not None}


def measurement_frames(
    store: Store, owner_id: str, measurement_id: str
) -> tuple[Path, Path | None]:
    """Paths of a measurement's stored ``time_series`` and ``steps`` parquet files (``db:<id>``
    references of pipelines); ``LookupError`` for unknown ids or another owner's."""
    row = store.one(
        "SELECT * FROM cell_measurements WHERE id = ? AND owner_id = ?", (measurement_id, owner_id)
    )
    if row is None:
        raise LookupError(f"measurement {measurement_id} not found")
    folder = FOLDER.format(row["id"])
    steps = store.blob_path(folder, FILES[1]) if row["steps_count"] is not None else None
    return store.blob_path(folder, FILES[0]), steps


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


def _tmp(store: Store, token: str) -> Path:
    return store.blob_dir / "uploads" / f".{token}.tmp"


async def initiate_upload(request: web.Request) -> web.Response:
    store, owner_id = _store(request), owner(request)
    ci = _row(store, "cell_instances", owner_id, request.match_info["ci"])
    body = await read_json(request)
    meta = body.get("measurement")
    if not isinstance(meta, dict) or not meta.get("name"):
        fail(422, "'measurement' must be an object with a non-empty 'name'")
    kind = body.get("measurement_type", "time_series")
    if kind != "time_series":
        fail(422, f"only time_series measurements can be uploaded, got {kind!r}")
    mid, origin, uploads = new_id(), str(request.url.origin()), []
    with store.transaction():
        for filename in FILES:
            token = secrets.token_urlsafe(32)
            store.execute(
                "INSERT INTO measurement_uploads(token, measurement_id, owner_id, cell_instance_id,"
                " filename, meta, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, mid, owner_id, ci["id"], filename, json.dumps(_meta(meta)), time.time()),
            )
            path = f"/uploads/{token}"
            uploads.append(
                {"filename": filename, "signed_url": origin + path, "token": token, "path": path}
            )
    return json_response({"measurement_id": mid, "uploads": uploads})


async def put_upload(request: web.Request) -> web.Response:
    """Stream the body to a temp file; the token is single-use and expires after a day."""
    store, token = _store(request), request.match_info["token"]
    claimed = store.execute(
        "UPDATE measurement_uploads SET received = 2 WHERE token = ? AND received = 0 "
        "AND created > ?",
        (token, time.time() - UPLOAD_TTL),
    )
    if not claimed:
        fail(404, "unknown, expired or already used upload URL; call initiate-upload again")
    tmp, size = _tmp(store, token), 0
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        async with await anyio.open_file(tmp, "wb") as fh:
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    fail(413, f"upload exceeds {MAX_UPLOAD} bytes")
                await fh.write(chunk)
            await fh.flush()
            await anyio.to_thread.run_sync(os.fsync, fh.wrapped.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        store.execute("UPDATE measurement_uploads SET received = 0 WHERE token = ?", (token,))
        raise
    store.execute("UPDATE measurement_uploads SET received = 1 WHERE token = ?", (token,))
    return json_response({"token": token, "size": size})


def _check_files(files: dict[str, Path]) -> tuple[int, int | None]:
    """(time-series rows, step rows or None); ``MeasurementValidationError`` if invalid."""
    import polars as pl

    frames = {}
    for name, path in files.items():
        try:
            frames[name] = pl.read_parquet(path)
        except Exception as exc:
            raise MeasurementValidationError(
                f"{name} is not a readable parquet file: {exc}"
            ) from exc
    validate_time_series(frames[FILES[0]])
    steps = frames.get(FILES[1])
    return frames[FILES[0]].height, None if steps is None else steps.height


async def confirm_upload(request: web.Request) -> web.Response:
    """Validate and store the uploaded files; on any failure nothing is kept (the upload URLs
    are spent either way)."""
    store, owner_id, mid = _store(request), owner(request), request.match_info["mid"]
    uploads = store.query(
        "SELECT * FROM measurement_uploads WHERE measurement_id = ? AND owner_id = ?",
        (mid, owner_id),
    )
    if not uploads:
        fail(404, f"no pending upload for measurement {mid}; call initiate-upload first")
    files = {u["filename"]: _tmp(store, u["token"]) for u in uploads if u["received"] == 1}
    folder = FOLDER.format(mid)
    try:
        body = await read_json(request)
        if not isinstance(body.get("measurement", {}), dict):
            fail(422, "'measurement' must be an object")
        meta = {**json.loads(uploads[0]["meta"]), **_meta(body.get("measurement", {}))}
        if FILES[0] not in files:
            fail(422, f"{FILES[0]} was not uploaded; PUT it to its upload URL before confirming")
        try:
            rows, steps = await anyio.to_thread.run_sync(_check_files, files)
        except MeasurementValidationError as exc:
            fail(422, f"invalid measurement data: {exc.message}")
        ci = _row(store, "cell_instances", owner_id, uploads[0]["cell_instance_id"])
        (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
        for name, tmp in files.items():
            os.replace(tmp, store.blob_path(folder, name))
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
        store.delete_blobs(folder)
        raise
    finally:
        for u in uploads:
            _tmp(store, u["token"]).unlink(missing_ok=True)
        store.execute("DELETE FROM measurement_uploads WHERE measurement_id = ?", (mid,))
    record = measurement_dict(_row(store, "cell_measurements", owner_id, mid))
    return json_response({**record, "steps_created": steps or 0})


def setup(app: web.Application) -> None:
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
