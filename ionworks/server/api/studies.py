"""Routes: studies under ``/projects/{pid}/studies`` (wire.md §8).

A study groups simulations and measurements of one project. Membership lives in
``study_simulations`` / ``study_measurements`` (rows vanish with the study, the simulation or
the measurement: ``ON DELETE CASCADE``); deleting a study never deletes its members.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ionworks.server.api.access import project_in, visible
from ionworks.server.api.cells import found
from ionworks.server.api.http import check_editable, fail, json_response, owner, read_json
from ionworks.server.api.listing import list_window, page_params
from ionworks.server.api.measurements import measurement_dict, measurement_or_404
from ionworks.server.api.models import _store
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import studies
from ionworks.server.db.store import Store

__all__ = ["setup"]


READ_ONLY = {"id", "project_id", "created_at", "updated_at", "simulation_count"}


def _study_dict(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    return {
        **json.loads(row["fields"]),
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "simulation_count": simulations_db.count_in_study(store, row["owner_id"], row["id"]),
        "measurement_count": studies.measurement_count(store, row["id"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _study(request: web.Request) -> sqlite3.Row:
    """The study of the path, in the key's project or one shared with it (404 otherwise)."""
    pid, sid = request.match_info["pid"], request.match_info["sid"]
    project_in(request, pid)
    row = studies.get(_store(request), owner(request), pid, sid)
    if row is None:
        fail(404, f"study {sid} not found in project {pid}")
    return row


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    check_editable(body, READ_ONLY, "study")
    if body.get("description") is not None and not isinstance(body["description"], str):
        fail(422, "'description' must be a string")
    return body


async def list_studies(request: web.Request) -> web.Response:
    page_params(request)  # a bad page is refused before any work
    store, pid = _store(request), request.match_info["pid"]
    project_in(request, pid)
    items = [_study_dict(store, r) for r in studies.list_in_project(store, owner(request), pid)]
    sortable = ("name", "created_at", "updated_at", "simulation_count", "measurement_count")
    return json_response(list_window(request, items, sortable))


async def create_study(request: web.Request) -> web.Response:
    store, pid = _store(request), request.match_info["pid"]
    project_in(request, pid)
    owner_id = owner(request)
    body = _fields(await read_json(request))
    if "name" not in body:
        fail(422, "'name' must be a non-empty string")
    extra = {k: v for k, v in body.items() if k not in ("name", "description")}
    row = studies.create(store, owner_id, pid, body["name"], body.get("description"), extra)
    return json_response(_study_dict(store, row), status=201)


async def get_study(request: web.Request) -> web.Response:
    return json_response(_study_dict(_store(request), _study(request)))


async def update_study(request: web.Request) -> web.Response:
    store, row = _store(request), _study(request)
    body = _fields(await read_json(request))
    if not body:
        fail(422, "nothing to update: send at least one field, e.g. {'name': ...}")
    extra = {
        **json.loads(row["fields"]),
        **{k: v for k, v in body.items() if k not in ("name", "description")},
    }
    name, description = body.get("name", row["name"]), body.get("description", row["description"])
    studies.update(store, row["id"], name, description, extra)
    return json_response(_study_dict(store, _study(request)))


async def delete_study(request: web.Request) -> web.Response:
    """Delete the study and its memberships; simulations and measurements are kept."""
    store, row = _store(request), _study(request)
    with store.transaction():
        simulations_db.leave_study(store, row["id"])
        studies.delete(store, row["id"])
    return web.Response(status=204)


Lookup = Callable[[Store, str, str], sqlite3.Row]


def _simulation_or_404(store: Store, owner_id: str, simid: str) -> sqlite3.Row:
    return found(simulations_db.get(store, owner_id, simid), f"simulation {simid}")


def _assign(kind: str, param: str, lookup: Lookup) -> Any:
    """POST …/studies/{sid}/<kind>s/{id}: add an owned record to the study (idempotent)."""
    column = f"{kind}_id"

    async def handler(request: web.Request) -> web.Response:
        store, study = _store(request), _study(request)
        member = lookup(store, owner(request), request.match_info[param])
        if not visible(request, member["project_id"]):  # the owner's unshared projects
            fail(404, f"{kind} {member['id']} not found")
        ts = studies.add_member(store, kind, study["id"], member["id"])
        return json_response({"study_id": study["id"], column: member["id"], "created_at": ts})

    return handler


assign_simulation = _assign("simulation", "simid", _simulation_or_404)
assign_measurement = _assign("measurement", "mid", measurement_or_404)


async def remove_simulation(request: web.Request) -> web.Response:
    store, study = _store(request), _study(request)
    simid = request.match_info["simid"]
    with store.transaction():
        n = studies.remove_member(store, "simulation", study["id"], simid)
        n += simulations_db.remove_from_study(store, owner(request), study["id"], simid)
    if not n:
        fail(404, f"simulation {simid} is not in study {study['id']}")
    return web.Response(status=204)


async def list_measurements(request: web.Request) -> web.Response:
    page_params(request)  # a bad page is refused before any work
    store, study = _store(request), _study(request)
    rows = studies.measurements(store, study["id"])
    items = [measurement_dict(r) for r in rows if visible(request, r["project_id"])]
    return json_response(list_window(request, items, ("name", "created_at", "updated_at")))


async def remove_measurement(request: web.Request) -> web.Response:
    store, study = _store(request), _study(request)
    mid = request.match_info["mid"]
    if not studies.remove_member(store, "measurement", study["id"], mid):
        fail(404, f"measurement {mid} is not in study {study['id']}")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    r = app.router
    base = "/projects/{pid}/studies"
    r.add_get(base, list_studies)
    r.add_post(base, create_study)
    r.add_get(base + "/{sid}", get_study)
    r.add_patch(base + "/{sid}", update_study)
    r.add_delete(base + "/{sid}", delete_study)
    r.add_post(base + "/{sid}/simulations/{simid}", assign_simulation)
    r.add_delete(base + "/{sid}/simulations/{simid}", remove_simulation)
    r.add_get(base + "/{sid}/measurements", list_measurements)
    r.add_post(base + "/{sid}/measurements/{mid}", assign_measurement)
    r.add_delete(base + "/{sid}/measurements/{mid}", remove_measurement)
