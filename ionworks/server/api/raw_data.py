"""Routes: raw data, the original cycler files of a project, stored as uploaded
(``client.raw_data``).

Upload flow (the measurement upload machinery of :mod:`.measurement_uploads`, the same single-use
URLs, size cap, open-upload cap and expiry): ``POST /raw_data/initiate-upload`` ``{project_id,
name, filename, content_type, metadata?, source?}`` → ``{raw_data_id, uploads: [{filename,
signed_url, token, path}]}``; ``PUT`` the bytes to the URL; ``POST /raw_data/{id}/confirm-upload``
(``size_bytes`` must match what arrived) → the record. The client's file name is cleaned (its
last part, control and invisible format characters such as U+202E replaced) and kept as a
column only: the file is stored under the record's id. ``content_type`` must be an ``application/…`` or ``text/…`` type other than
:data:`REFUSED_TYPES` (never HTML or scripts: the file is served back as a download only).

Records: ``GET /raw_data?project_id=`` (paged), ``GET/PATCH/DELETE /raw_data/{id}`` (delete
removes the file and the links; measurements made from it keep their own data),
``GET /raw_data/{id}/download-url`` → ``{url}`` (on this server the URL needs the API key),
``GET /raw_data/{id}/content``, ``GET /raw_data/{id}/cell_measurements`` (linked measurement
ids). Links, and measurements made from raw data: :mod:`.raw_data_links`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import PurePath
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.cells import _name
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.listing import page, page_params
from ionworks.server.api.measurement_uploads import check_open_uploads, claim, origin
from ionworks.server.api.models import _store
from ionworks.server.db import raw_data, uploads
from ionworks.server.db.store import new_id
from ionworks.server.db.uploads import RECEIVED, complete_path
from ionworks.server.services.raw_import import raw_path
from ionworks.server.services.raw_readers import printable
from ionworks.server.state import limits

__all__ = ["raw_dict", "raw_or_404", "setup"]

#: A raw file's declared content type: ``application/…`` or ``text/…`` (what clients guess
#: for cycler exports, e.g. ``application/vnd.ms-project`` for ``.mpt``), never one a browser
#: would run (:data:`REFUSED_TYPES`; the file is served back as a download only).
CONTENT_TYPE: Final = re.compile(r"^(application|text)/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
REFUSED_TYPES: Final = frozenset(
    {"text/html", "application/xhtml+xml", "text/javascript", "application/javascript"}
    | {"application/x-javascript", "application/ecmascript", "text/ecmascript", "text/xml"}
    | {"application/xml", "application/x-sh", "application/x-msdownload"}
)
MAX_FILENAME: Final = 255
MAX_SOURCE: Final = 2000
FIELDS: Final = frozenset({"project_id", "name", "filename", "content_type", "metadata", "source"})
EDITABLE: Final = frozenset({"name", "source", "metadata"})


def raw_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A record as JSON."""
    out = {k: row[k] for k in row.keys() if k not in ("owner_id", "metadata")}
    return {**out, "metadata": json.loads(row["metadata"]), "organization_id": row["owner_id"]}


def raw_or_404(request: web.Request, raw_data_id: str) -> sqlite3.Row:
    """The path's raw-data record, the key's own or in a project shared with it."""
    return access.record_in(request, "raw data", raw_data.get, raw_data_id)


def clean_filename(value: Any) -> str:
    """The last part of a client's file name, control and invisible format characters
    replaced (:func:`~ionworks.server.services.raw_readers.printable`; 422 if nothing is
    left): never a path."""
    if not isinstance(value, str) or not value.strip():
        fail(422, f"'filename' must be a non-empty string, got {access.shown(value)}")
    name = PurePath(value.replace("\\", "/")).name.strip()
    name = printable(name[:MAX_FILENAME])
    if not name or name in (".", ".."):
        fail(422, f"'filename' {access.shown(value)} names no file")
    return name


def _checked(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The body's known fields, checked (422 naming the field and what was expected)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        fail(
            422,
            f"unknown field(s) for raw data: {', '.join(map(access.shown, unknown))}; accepted: "
            f"{', '.join(sorted(allowed))}",
        )
    out: dict[str, Any] = {}
    if "name" in body:
        out["name"] = _name(body)
    if body.get("source") is not None:
        source = body["source"]
        if not isinstance(source, str) or len(source) > MAX_SOURCE:
            fail(422, f"'source' must be a string of at most {MAX_SOURCE} characters")
        out["source"] = source
    if body.get("metadata") is not None:
        if not isinstance(body["metadata"], dict):
            fail(422, "'metadata' must be a JSON object")
        out["metadata"] = body["metadata"]
    return out


def _content_type(value: Any) -> str:
    kind = value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""
    if not CONTENT_TYPE.match(kind) or kind in REFUSED_TYPES:
        fail(
            422,
            f"'content_type' {access.shown(value)} is not accepted for raw data: send an "
            "application/… or text/… type (not HTML, XML or a script), e.g. "
            "application/octet-stream",
        )
    return kind


async def initiate_upload(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body.get("project_id"), str) or not body["project_id"]:
        fail(422, f"'project_id' must be a project id, got {access.shown(body.get('project_id'))}")
    project = access.project_in(request, body["project_id"])  # a shared one: its owner's
    store, owner_id, bounds = _store(request), owner(request), limits(request)
    filename = clean_filename(body.get("filename"))
    meta = {
        "name": filename,
        **_checked(body, FIELDS),
        "filename": filename,
        "content_type": _content_type(body.get("content_type", "application/octet-stream")),
    }
    check_open_uploads(store, owner_id, bounds)
    rid = new_id()
    (token,) = uploads.create(
        store, owner_id, "", rid, [filename], json.dumps(meta), project_id=project["id"]
    )
    path = f"/uploads/{token}"
    target = {"filename": filename, "signed_url": origin(request) + path, "token": token}
    return json_response({"raw_data_id": rid, "uploads": [{**target, "path": path}]})


async def confirm_upload(request: web.Request) -> web.Response:
    """Keep the uploaded file as the record's (the upload URL is spent either way)."""
    rid = request.match_info["rid"]
    store = _store(request)
    access.find_shared(request, lambda o: uploads.project_of(store, o, rid, raw=True), str)
    owner_id, bounds = owner(request), limits(request)
    uploads.sweep(store, bounds.upload_ttl_seconds)
    claimed = claim(store, owner_id, rid, raw=True)
    tokens = [u["token"] for u in claimed]
    folder = raw_data.FOLDER.format(rid)
    try:
        body = await read_json(request)
        (upload,) = claimed
        path = complete_path(store, upload["token"])
        if upload["received"] != RECEIVED or not path.is_file():
            fail(422, f"{upload['filename']} was not uploaded; PUT it to its upload URL first")
        size = path.stat().st_size
        declared = body.get("size_bytes")
        if declared is not None and (type(declared) is not int or declared != size):
            fail(
                422,
                f"'size_bytes' is {access.shown(declared)} but {size:,} bytes were uploaded; "
                "upload the file again",
            )
        if size == 0:
            fail(422, f"{upload['filename']} is empty")
        meta = {**json.loads(upload["meta"]), "size_bytes": size}
        (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
        path.replace(store.blob_path(folder, raw_data.BLOB))
        try:
            raw_data.create(store, owner_id, rid, str(upload["project_id"]), meta)
        except sqlite3.IntegrityError:  # the project was deleted meanwhile
            fail(404, f"project {upload['project_id']} not found")
    except BaseException:
        store.delete_blobs(folder)
        raise
    finally:
        uploads.discard(store, tokens)
    return json_response(raw_dict(raw_or_404(request, rid)))


async def list_raw(request: web.Request) -> web.Response:
    pid = request.query.get("project_id")
    if not pid:
        fail(422, "query parameter 'project_id' is required")
    access.project_in(request, pid)
    limit, offset = page_params(request)
    rows, total = raw_data.list_rows(_store(request), owner(request), pid, limit, offset)
    return json_response(page([raw_dict(r) for r in rows], total))


async def get_raw(request: web.Request) -> web.Response:
    return json_response(raw_dict(raw_or_404(request, request.match_info["rid"])))


async def update_raw(request: web.Request) -> web.Response:
    row = raw_or_404(request, request.match_info["rid"])
    changes = _checked(await read_json(request), EDITABLE)  # source "": cleared
    store = _store(request)
    if changes:
        raw_data.update(store, row, changes)
    return json_response(raw_dict(raw_or_404(request, row["id"])))


async def delete_raw(request: web.Request) -> web.Response:
    row = raw_or_404(request, request.match_info["rid"])
    raw_data.delete(_store(request), row["id"])
    return web.Response(status=204)


async def download_url(request: web.Request) -> web.Response:
    row = raw_or_404(request, request.match_info["rid"])
    return json_response({"url": f"{origin(request)}/raw_data/{row['id']}/content"})


async def content(request: web.Request) -> web.StreamResponse:
    row = raw_or_404(request, request.match_info["rid"])
    path = raw_path(_store(request), row)
    if not path.is_file():
        fail(404, f"raw data {row['id']} has no stored file")
    disposition = f"attachment; filename*=UTF-8''{quote(printable(str(row['filename'])), safe='')}"
    headers = {"Content-Type": "application/octet-stream", "Content-Disposition": disposition}
    return web.FileResponse(path, headers=headers)


async def measurements_of(request: web.Request) -> web.Response:
    row = raw_or_404(request, request.match_info["rid"])
    limit, offset = page_params(request)
    ids, total = raw_data.measurements_of(_store(request), row["id"], limit, offset)
    return json_response(page(ids, total))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/raw_data/initiate-upload", initiate_upload)
    r.add_get("/raw_data", list_raw)
    r.add_post("/raw_data/{rid}/confirm-upload", confirm_upload)
    r.add_get("/raw_data/{rid}", get_raw)
    r.add_patch("/raw_data/{rid}", update_raw)
    r.add_delete("/raw_data/{rid}", delete_raw)
    r.add_get("/raw_data/{rid}/download-url", download_url)
    r.add_get("/raw_data/{rid}/content", content)
    r.add_get("/raw_data/{rid}/cell_measurements", measurements_of)
