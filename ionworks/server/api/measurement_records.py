"""Routes: measurements created without an upload (wire.md §10.4) — ``POST
/cell_instances/{ci}/cell_measurements/create`` makes a ``properties`` measurement (manual
key-value measurements such as thickness or mass: ``{"name", "properties": {...}, notes?,
protocol?, start_time?, end_time?, test_setup?, tags?}``). Names are unique within a cell
instance as for uploads (409 ``CONFLICT`` with ``detail.existing_id``); tags follow
:mod:`.measurement_tags`; the body is bounded like every JSON body (``read_json``)."""

from __future__ import annotations

from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.measurement_tags import normalise, spelling
from ionworks.server.api.measurements import (
    checked_meta,
    conflict,
    measurement_dict,
    measurement_or_404,
)
from ionworks.server.api.models import _store
from ionworks.server.db import measurements
from ionworks.server.db.store import new_id

__all__ = ["setup"]

PROPERTIES = "properties"


async def create_properties(request: web.Request) -> web.Response:
    ci = access.cell_instance(request, request.match_info["ci"])  # a writer's role in a share
    body = await read_json(request)
    kind = body.pop("measurement_type", PROPERTIES)
    if kind != PROPERTIES:
        fail(
            422,
            f"this route creates 'properties' measurements, got measurement_type "
            f"{access.shown(kind)}; upload time series and files with initiate-upload",
        )
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        fail(422, "'name' must be a non-empty string")
    if not isinstance(body.get("properties"), dict):
        fail(422, "'properties' must be an object of named values")
    fields = checked_meta(body)
    store, owner_id = _store(request), owner(request)
    if "tags" in fields:
        fields["tags"] = normalise(fields["tags"], spelling(store, owner_id, ci["project_id"]))
    mid = new_id()
    existing = measurements.create(
        store, ci, mid, fields, row_count=0, steps_count=None, measurement_type=PROPERTIES
    )
    if existing is not None:
        conflict(fields["name"], ci["id"], existing)
    return json_response(measurement_dict(measurement_or_404(store, owner_id, mid)), status=201)


def setup(app: web.Application) -> None:
    app.router.add_post("/cell_instances/{ci}/cell_measurements/create", create_properties)
