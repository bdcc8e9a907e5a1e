"""File measurements (wire.md §10.4): attachments such as images, PDFs and raw cycler exports,
uploaded through the same initiate → PUT → confirm flow as time series
(``measurement_type: "file"`` and ``filenames`` in ``initiate-upload``), then listed
(``GET /cell_measurements/{mid}/files`` → ``{"filenames": [...]}``) and downloaded one by one
(``GET /cell_measurements/{mid}/files/{filename}``).

Uploads are hostile (docs/security.md): a name must be a plain file name of an allowed type
(:func:`~ionworks.server.services.measurement_files.attachment_type`), at most
:data:`MAX_FILES` per measurement, no two alike; images and PDFs must carry their format's
signature; each file is bounded by ``max_upload_bytes`` as it streams in. On disk a file is
``blobs/measurements/<id>/attachment-<n>`` — a name of the server's own, never the client's —
and it is served back only as a download (``application/octet-stream``, ``attachment``,
``nosniff``), the record's ``file_metadata`` mapping names to those files.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response
from ionworks.server.api.models import _store
from ionworks.server.db.measurements import FOLDER
from ionworks.server.db.store import Store
from ionworks.server.db.uploads import RECEIVED, complete_path
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import attachment_type, check_attachment

__all__ = ["FILE", "MAX_FILES", "check_filenames", "routes", "store_attachments"]

FILE: Final = "file"
MAX_FILES: Final = 20


def _disk_name(index: int) -> str:
    return f"attachment-{index}"


def check_filenames(raw: Any) -> list[str]:
    """``initiate-upload``'s ``filenames`` for a file measurement (422 naming the problem)."""
    if not isinstance(raw, list) or not raw:
        fail(422, "'filenames' must be a non-empty list of file names for a file measurement")
    if len(raw) > MAX_FILES:
        fail(422, f"'filenames': at most {MAX_FILES} files per measurement, got {len(raw)}")
    try:
        for name in raw:
            attachment_type(name)
    except MeasurementValidationError as exc:
        fail(422, exc.message)
    lowered = [n.lower() for n in raw]
    if len(set(lowered)) != len(lowered):
        fail(422, "'filenames' must not repeat a name")
    return list(raw)


def _check_all(files: list[tuple[str, Path]], bounds: Limits) -> list[int]:
    return [check_attachment(name, path, bounds) for name, path in files]


async def store_attachments(
    store: Store, bounds: Limits, claimed: list[sqlite3.Row], folder: str
) -> list[dict[str, Any]]:
    """Check the claimed uploads and move them into ``folder``; their ``file_metadata``."""
    missing = [u["filename"] for u in claimed if u["received"] != RECEIVED]
    if missing:
        shown = ", ".join(access.shown(n) for n in missing[:5])
        fail(422, f"{shown} was not uploaded; PUT each file to its upload URL before confirming")
    files = [(str(u["filename"]), complete_path(store, u["token"])) for u in claimed]
    if any(not path.is_file() for _, path in files):
        fail(422, "an uploaded file is no longer on the server; upload again")
    try:
        sizes = await anyio.to_thread.run_sync(_check_all, files, bounds)
    except MeasurementValidationError as exc:
        fail(422, f"invalid file: {exc.message}")
    (store.blob_dir / folder).mkdir(parents=True, exist_ok=True)
    for index, (_, path) in enumerate(files):
        os.replace(path, store.blob_path(folder, _disk_name(index)))
    return [{"filename": name, "size": size} for (name, _), size in zip(files, sizes, strict=True)]


def _listed(row: sqlite3.Row) -> list[str]:
    if row["measurement_type"] != FILE:
        fail(
            422,
            f"measurement {row['id']} is a {row['measurement_type']} measurement, not a file "
            "one; it has no files",
        )
    found = json.loads(row["fields"]).get("file_metadata") or []
    return [str(f["filename"]) for f in found if isinstance(f, dict) and "filename" in f]


async def list_files(request: web.Request) -> web.Response:
    row = access.measurement(request, request.match_info["mid"])
    return json_response({"filenames": _listed(row)})


async def get_file(request: web.Request) -> web.StreamResponse:
    store, row = _store(request), access.measurement(request, request.match_info["mid"])
    wanted = request.match_info["filename"]
    names = _listed(row)
    if wanted not in names:
        fail(404, f"measurement {row['id']} has no file {access.shown(wanted)}")
    path = store.blob_path(FOLDER.format(row["id"]), _disk_name(names.index(wanted)))
    if not path.is_file():
        fail(404, f"measurement {row['id']} has no file {access.shown(wanted)}")
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(wanted)}",
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cell_measurements/{mid}/files", list_files)
    router.add_get("/cell_measurements/{mid}/files/{filename}", get_file)
