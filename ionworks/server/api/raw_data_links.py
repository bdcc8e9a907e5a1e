"""Routes: raw data linked to measurements, and measurements made from raw data.

``POST /cell_measurements/{mid}/raw_data`` ``{raw_data_ids: [...]}`` links records of the
measurement's project (idempotent; an unknown id is a 404, a record of another project a 422;
nothing is linked then); ``DELETE /cell_measurements/{mid}/raw_data/{rid}`` removes one link;
``GET /cell_measurements/{mid}/raw_data`` pages the linked records.

``POST /cell_instances/{ci}/cell_measurements/from-raw-data`` ``{raw_data_id, name?, notes?,
tags?}`` parses a stored raw cycler file into a time-series measurement of the instance
(:mod:`ionworks.server.services.raw_import`; the name defaults to the file's name without its
extension and is unique within the instance: 409 with ``detail.existing_id``); a file that
cannot be read is a 422 naming it, one over ``max_upload_bytes`` a 413.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.cells import MAX_NAME
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.listing import page, page_params
from ionworks.server.api.measurement_tags import normalise, spelling
from ionworks.server.api.measurements import (
    conflict,
    measurement_dict,
    measurement_or_404,
    unique,
)
from ionworks.server.api.models import _store
from ionworks.server.api.raw_data import raw_dict
from ionworks.server.db import raw_data
from ionworks.server.services.raw_import import NameTaken, default_name, import_raw
from ionworks.server.services.raw_readers import RawFileError
from ionworks.server.state import limits

__all__ = ["setup"]

#: Raw records one attach request may name.
MAX_ATTACH: Final = 1000
FROM_RAW_FIELDS: Final = frozenset({"raw_data_id", "name", "notes", "tags"})


def _same_project(request: web.Request, raw_id: Any, project_id: str) -> str:
    """The id of a raw record of ``owner(request)`` in ``project_id`` (404 for an unknown id,
    422 for a record of another project)."""
    if not isinstance(raw_id, str) or not raw_id:
        fail(422, f"raw data ids must be non-empty strings, got {access.shown(raw_id)}")
    row = raw_data.get(_store(request), owner(request), raw_id)
    if row is None or not access.visible(request, row["project_id"]):
        fail(404, f"raw data {access.shown(raw_id)} not found")
    if row["project_id"] != project_id:
        fail(
            422,
            f"raw data {raw_id} is in project {row['project_id']}, not in project {project_id} "
            "(where the measurement is made): upload it to that project",
        )
    return raw_id


async def attach(request: web.Request) -> web.Response:
    m = access.measurement(request, request.match_info["mid"])
    body = await read_json(request)
    ids = body.get("raw_data_ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_ATTACH:
        fail(422, f"'raw_data_ids' must be a list of 1 to {MAX_ATTACH} raw data ids")
    checked = list(dict.fromkeys(_same_project(request, i, m["project_id"]) for i in ids))
    raw_data.link(_store(request), m["id"], checked)
    return json_response({"measurement_id": m["id"], "raw_data_ids": checked})


async def detach(request: web.Request) -> web.Response:
    m = access.measurement(request, request.match_info["mid"])
    rid = request.match_info["rid"]
    if not raw_data.unlink(_store(request), m["id"], rid):
        fail(404, f"raw data {access.shown(rid)} is not linked to measurement {m['id']}")
    return web.Response(status=204)


async def linked(request: web.Request) -> web.Response:
    m = access.measurement(request, request.match_info["mid"])
    limit, offset = page_params(request)
    rows, total = raw_data.linked_raw(_store(request), m["id"], limit, offset)
    return json_response(page([raw_dict(r) for r in rows], total))


def _optional_text(body: dict[str, Any], key: str, most: int) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value or len(value) > most):
        fail(422, f"'{key}' must be a non-empty string of at most {most:,} characters")
    return value


async def from_raw_data(request: web.Request) -> web.Response:
    ci = access.cell_instance(request, request.match_info["ci"])  # a shared one: its owner's
    store = _store(request)
    body = await read_json(request)
    unknown = sorted(set(body) - FROM_RAW_FIELDS)
    if unknown:
        fail(
            422,
            f"unknown field(s): {', '.join(map(access.shown, unknown))}; accepted: "
            f"{', '.join(sorted(FROM_RAW_FIELDS))}",
        )
    raw_id = _same_project(request, body.get("raw_data_id"), ci["project_id"])
    raw = raw_data.get(store, ci["owner_id"], raw_id)
    assert raw is not None
    name = _optional_text(body, "name", MAX_NAME) or default_name(str(raw["filename"]))
    meta: dict[str, Any] = {"name": name, "raw_data_id": raw_id}
    notes = _optional_text(body, "notes", 100_000)
    if notes is not None:
        meta["notes"] = notes
    if body.get("tags") is not None:
        meta["tags"] = normalise(body["tags"], spelling(store, ci["owner_id"], ci["project_id"]))
    unique(store, ci["owner_id"], ci["id"], name)  # before the file is parsed
    try:
        mid = await import_raw(store, limits(request), ci, raw, meta)
    except RawFileError as exc:
        fail(exc.status, exc.message, "INVALID_RAW_FILE" if exc.status == 422 else None)
    except NameTaken as exc:
        conflict(name, ci["id"], exc.existing_id)
    record = measurement_dict(measurement_or_404(store, ci["owner_id"], mid))
    return json_response({**record, "steps_created": 0})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/cell_instances/{ci}/cell_measurements/from-raw-data", from_raw_data)
    r.add_post("/cell_measurements/{mid}/raw_data", attach)
    r.add_get("/cell_measurements/{mid}/raw_data", linked)
    r.add_delete("/cell_measurements/{mid}/raw_data/{rid}", detach)
