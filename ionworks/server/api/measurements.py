"""Routes: cell measurements (wire.md §10): records, lists, downloads; the upload flow is in
:mod:`.measurement_uploads`, cell specifications/instances in :mod:`.cells`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

from aiohttp import web

from ionworks.server.api import (
    access,
    measurement_attachments,
    measurement_steps,
    measurement_tags,
)
from ionworks.server.api.cells import found, record
from ionworks.server.api.http import (
    check_editable,
    fail,
    json_response,
    owner,
    read_json,
)
from ionworks.server.api.listing import list_window
from ionworks.server.api.measurement_tags import has_tags, normalise, spelling
from ionworks.server.api.models import _store
from ionworks.server.db import measurements
from ionworks.server.db.measurements import FOLDER, STEPS, TIME_SERIES
from ionworks.server.db.store import Store

__all__ = [
    "FILES",
    "KIND",
    "check_times",
    "checked_meta",
    "conflict",
    "measurement_dict",
    "measurement_or_404",
    "setup",
    "unique",
]


FILES = (TIME_SERIES, STEPS)
KIND: Final = "_measurement_type"  # in an upload's stored metadata: a file upload's type
PROTECTED = {"id", "cell_instance_id", "project_id", "measurement_type", "processing_status"} | {
    KIND,
    "file_metadata",
}


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


def unique(store: Store, owner_id: str, ci: str, name: Any, *, other_than: str = "") -> None:
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
        unique(
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


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/cell_instances/{ci}/cell_measurements", list_by_instance)
    r.add_get("/cell_measurements", list_by_project)
    measurement_tags.routes(r)  # before /cell_measurements/{mid}
    measurement_attachments.routes(r)
    measurement_steps.routes(r)
    r.add_get("/cell_measurements/{mid}", get_measurement)
    r.add_patch("/cell_measurements/{mid}", update_measurement)
    r.add_delete("/cell_measurements/{mid}", delete_measurement)
    r.add_get("/cell_measurements/{mid}/time_series/download", _download(FILES[0]))
    r.add_get("/cell_measurements/{mid}/steps/download", _download(FILES[1]))
