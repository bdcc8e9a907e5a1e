"""Routes: the minimal cell specifications and instances that measurements hang off (wire.md
§10.4 "Parents"). Every project gets a default specification + instance on first use.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aiohttp import web

from ionworks.server.api.http import fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import list_window, page_params
from ionworks.server.api.models import _store, project_or_404
from ionworks.server.db.store import Store, new_id, now_iso

__all__ = ["default_instance", "setup"]


# --- cell specifications and instances -------------------------------------------------------------


def _record(row: sqlite3.Row, **defaults: Any) -> dict[str, Any]:
    """A row as JSON: defaults, the caller's extra fields, then the columns."""
    columns = {k: row[k] for k in row.keys() if k not in ("fields", "owner_id", "steps_count")}
    return {**defaults, **json.loads(row["fields"]), **columns}


def _row(store: Store, table: str, owner_id: str, rid: str) -> sqlite3.Row:
    row = store.one(f"SELECT * FROM {table} WHERE id = ? AND owner_id = ?", (rid, owner_id))
    if row is None:
        fail(404, f"{table[:-1].replace('_', ' ').replace('cell m', 'm')} {rid} not found")
    return row


def _insert(store: Store, table: str, owner_id: str, project_id: str, **values: Any) -> str:
    """Insert a row; ``fields`` (the caller's extra keys) is stored as JSON."""
    values = {
        "id": new_id(),
        "created_at": now_iso(),
        **values,
        "owner_id": owner_id,
        "project_id": project_id,
        "fields": json.dumps(
            {k: v for k, v in values["fields"].items() if k != "name"}, default=str
        ),
    }
    marks = ", ".join("?" * len(values))
    sql = f"INSERT INTO {table}({', '.join(values)}) VALUES ({marks})"
    store.execute(sql, list(values.values()))
    return str(values["id"])


def _new_instance(store: Store, spec: sqlite3.Row, body: dict[str, Any], default: int = 0) -> str:
    ids = {"cell_specification_id": spec["id"], "is_default": default}
    pid = spec["project_id"]
    return _insert(
        store, "cell_instances", spec["owner_id"], pid, name=body["name"], fields=body, **ids
    )


def default_instance(store: Store, owner_id: str, project_id: str) -> sqlite3.Row:
    """The project's default cell instance (created with a default specification on first use)."""
    sql = "SELECT * FROM cell_instances WHERE owner_id = ? AND project_id = ? AND is_default = 1"
    row = store.one(sql, (owner_id, project_id))
    if row is None:
        with store.transaction():
            new = {"name": "Default cell", "fields": {}, "is_default": 1}
            sid = _insert(store, "cell_specifications", owner_id, project_id, **new)
            _new_instance(
                store, _row(store, "cell_specifications", owner_id, sid), {"name": new["name"]}, 1
            )
        row = store.one(sql, (owner_id, project_id))
    assert row is not None
    return row


async def create_spec(request: web.Request) -> web.Response:
    store, owner_id = _store(request), owner(request)
    body = await read_json(request)
    name = require_str(body, "name")
    pid = str(body.pop("project_id", None) or store.default_project(owner_id)["id"])
    project_or_404(store, owner_id, pid)
    sid = _insert(store, "cell_specifications", owner_id, pid, name=name, fields=body, is_default=0)
    return json_response(_record(_row(store, "cell_specifications", owner_id, sid)), 201)


async def get_spec(request: web.Request) -> web.Response:
    spec = _row(_store(request), "cell_specifications", owner(request), request.match_info["spec"])
    return json_response(_record(spec))


async def create_instance(request: web.Request) -> web.Response:
    store, owner_id = _store(request), owner(request)
    spec = _row(store, "cell_specifications", owner_id, request.match_info["spec"])
    body = await read_json(request)
    require_str(body, "name")
    iid = _new_instance(store, spec, body)
    return json_response(_record(_row(store, "cell_instances", owner_id, iid), batch_id=None), 201)


async def get_instance(request: web.Request) -> web.Response:
    row = _row(_store(request), "cell_instances", owner(request), request.match_info["ci"])
    return json_response(_record(row, batch_id=None))


async def list_instances(request: web.Request) -> web.Response:
    """``/cell_specifications/{spec}/cell_instances`` or ``/cell_instances?project_id=…``
    (``is_default=true``: only the project's default instance, created if missing)."""
    page_params(request)  # a bad page is refused before any work
    store, owner_id = _store(request), owner(request)
    where, args = ["owner_id = ?"], [owner_id]
    if "spec" in request.match_info:
        spec = _row(store, "cell_specifications", owner_id, request.match_info["spec"])
        where.append("cell_specification_id = ?")
        args.append(spec["id"])
    pid = request.query.get("project_id")
    if pid:
        project_or_404(store, owner_id, pid)
        default_instance(store, owner_id, pid)
        where.append("project_id = ?")
        args.append(pid)
    if request.query.get("is_default") == "true":
        where.append("is_default = 1")
    rows = store.query(
        f"SELECT * FROM cell_instances WHERE {' AND '.join(where)} ORDER BY created_at DESC", args
    )
    items = [_record(r, batch_id=None) for r in rows]
    return json_response(list_window(request, items, ("name", "created_at")))


# --- measurements ------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/cell_specifications", create_spec)
    r.add_get("/cell_specifications/{spec}", get_spec)
    r.add_post("/cell_specifications/{spec}/cell_instances", create_instance)
    r.add_get("/cell_specifications/{spec}/cell_instances", list_instances)
    r.add_get("/cell_instances", list_instances)
    r.add_get("/cell_instances/{ci}", get_instance)
