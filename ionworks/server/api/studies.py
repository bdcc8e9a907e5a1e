"""Routes: studies under ``/projects/{pid}/studies`` (wire.md §8).

A study groups simulations and measurements of one project. Membership lives in
``study_simulations`` / ``study_measurements`` (rows vanish with the study, the simulation or
the measurement: ``ON DELETE CASCADE``); deleting a study never deletes its members.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aiohttp import web

from ionworks.server.api.cells import _row
from ionworks.server.api.http import fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import list_window, page_params
from ionworks.server.api.measurements import measurement_dict
from ionworks.server.api.models import _store, project_or_404
from ionworks.server.db.store import Store, new_id, now_iso

__all__ = ["setup"]


READ_ONLY = {"id", "project_id", "created_at", "updated_at", "simulation_count"}
IN_STUDY = (
    "s.owner_id = ? AND (s.study_id = ? OR s.id IN "
    "(SELECT simulation_id FROM study_simulations WHERE study_id = ?))"
)


def _study_dict(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    sims = store.one(
        f"SELECT COUNT(*) n FROM simulations s WHERE {IN_STUDY}",
        (row["owner_id"], row["id"], row["id"]),
    )
    meas = store.one("SELECT COUNT(*) n FROM study_measurements WHERE study_id = ?", (row["id"],))
    return {
        **json.loads(row["fields"]),
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "simulation_count": sims["n"] if sims else 0,
        "measurement_count": meas["n"] if meas else 0,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _study(request: web.Request) -> sqlite3.Row:
    """The study of the path, in the owner's project (404 otherwise)."""
    store, owner_id = _store(request), owner(request)
    pid, sid = request.match_info["pid"], request.match_info["sid"]
    project_or_404(store, owner_id, pid)
    row = store.one(
        "SELECT * FROM studies WHERE id = ? AND project_id = ? AND owner_id = ?",
        (sid, pid, owner_id),
    )
    if row is None:
        fail(404, f"study {sid} not found in project {pid}")
    return row


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(READ_ONLY & set(body))
    if bad:
        fail(422, f"study field(s) cannot be set: {', '.join(bad)}")
    if "name" in body:
        require_str(body, "name")
    if body.get("description") is not None and not isinstance(body["description"], str):
        fail(422, "'description' must be a string")
    return body


async def list_studies(request: web.Request) -> web.Response:
    page_params(request)  # a bad page is refused before any work
    store, owner_id, pid = _store(request), owner(request), request.match_info["pid"]
    project_or_404(store, owner_id, pid)
    rows = store.query(
        "SELECT * FROM studies WHERE project_id = ? AND owner_id = ? "
        "ORDER BY created_at DESC, rowid DESC",
        (pid, owner_id),
    )
    items = [_study_dict(store, r) for r in rows]
    sortable = ("name", "created_at", "updated_at", "simulation_count", "measurement_count")
    return json_response(list_window(request, items, sortable))


async def create_study(request: web.Request) -> web.Response:
    store, owner_id, pid = _store(request), owner(request), request.match_info["pid"]
    project_or_404(store, owner_id, pid)
    body = _fields(await read_json(request))
    if "name" not in body:
        fail(422, "'name' must be a non-empty string")
    sid, ts = new_id(), now_iso()
    extra = {k: v for k, v in body.items() if k not in ("name", "description")}
    store.execute(
        "INSERT INTO studies(id, owner_id, project_id, name, description, fields, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (sid, owner_id, pid, body["name"], body.get("description"), json.dumps(extra), ts, ts),
    )
    row = store.one("SELECT * FROM studies WHERE id = ?", (sid,))
    assert row is not None
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
    store.execute(
        "UPDATE studies SET name = ?, description = ?, fields = ?, updated_at = ? WHERE id = ?",
        (
            body.get("name", row["name"]),
            body.get("description", row["description"]),
            json.dumps(extra),
            now_iso(),
            row["id"],
        ),
    )
    return json_response(_study_dict(store, _study(request)))


async def delete_study(request: web.Request) -> web.Response:
    """Delete the study and its memberships; simulations and measurements are kept."""
    store, row = _store(request), _study(request)
    with store.transaction():
        store.execute("UPDATE simulations SET study_id = NULL WHERE study_id = ?", (row["id"],))
        store.execute("DELETE FROM studies WHERE id = ?", (row["id"],))
    return web.Response(status=204)


def _assign(kind: str, table: str, param: str) -> Any:
    """POST …/studies/{sid}/<kind>s/{id}: add an owned record to the study (idempotent)."""
    link, column = f"study_{kind}s", f"{kind}_id"

    async def handler(request: web.Request) -> web.Response:
        store, study = _store(request), _study(request)
        member = _row(store, table, owner(request), request.match_info[param])
        ts = now_iso()
        store.execute(
            f"INSERT OR IGNORE INTO {link}(study_id, {column}, created_at) VALUES (?, ?, ?)",
            (study["id"], member["id"], ts),
        )
        return json_response({"study_id": study["id"], column: member["id"], "created_at": ts})

    return handler


assign_simulation = _assign("simulation", "simulations", "simid")
assign_measurement = _assign("measurement", "cell_measurements", "mid")


async def remove_simulation(request: web.Request) -> web.Response:
    store, study = _store(request), _study(request)
    simid = request.match_info["simid"]
    with store.transaction():
        n = store.execute(
            "DELETE FROM study_simulations WHERE study_id = ? AND simulation_id = ?",
            (study["id"], simid),
        )
        n += store.execute(
            "UPDATE simulations SET study_id = NULL WHERE id = ? AND study_id = ? AND owner_id = ?",
            (simid, study["id"], owner(request)),
        )
    if not n:
        fail(404, f"simulation {simid} is not in study {study['id']}")
    return web.Response(status=204)


async def list_measurements(request: web.Request) -> web.Response:
    page_params(request)  # a bad page is refused before any work
    store, study = _store(request), _study(request)
    rows = store.query(
        "SELECT m.* FROM cell_measurements m JOIN study_measurements sm ON sm.measurement_id = m.id"
        " WHERE sm.study_id = ? ORDER BY sm.created_at DESC",
        (study["id"],),
    )
    items = [measurement_dict(r) for r in rows]
    return json_response(list_window(request, items, ("name", "created_at", "updated_at")))


async def remove_measurement(request: web.Request) -> web.Response:
    store, study = _store(request), _study(request)
    mid = request.match_info["mid"]
    n = store.execute(
        "DELETE FROM study_measurements WHERE study_id = ? AND measurement_id = ?",
        (study["id"], mid),
    )
    if not n:
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
