"""Routes: the minimal cell specifications and instances that measurements hang off (wire.md
§10.4 "Parents"). Every project gets a default specification + instance on first use. A
member of a shared project reads and (by role) writes them (:mod:`.access`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, TypeVar

from aiohttp import web

from ionworks.server.api.access import cell_instance, cell_specification, project_in
from ionworks.server.api.http import fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import list_window, name_matches, page_params
from ionworks.server.api.models import _store
from ionworks.server.db import cells
from ionworks.server.db.store import Store

__all__ = ["found", "instance_or_404", "record", "setup"]

T = TypeVar("T")


# --- cell specifications and instances -------------------------------------------------------------


def record(row: sqlite3.Row, **defaults: Any) -> dict[str, Any]:
    """A row as JSON: defaults, the caller's extra fields, then the columns."""
    columns = {k: row[k] for k in row.keys() if k not in ("fields", "owner_id", "steps_count")}
    return {**defaults, **json.loads(row["fields"]), **columns}


def found(value: T | None, what: str) -> T:
    """``value``, or a 404 ``{what} not found`` if it is None."""
    if value is None:
        fail(404, f"{what} not found")
    return value


def instance_or_404(store: Store, owner_id: str, instance_id: str) -> sqlite3.Row:
    return found(cells.get_instance(store, owner_id, instance_id), f"cell instance {instance_id}")


async def create_spec(request: web.Request) -> web.Response:
    body = await read_json(request)
    require_str(body, "name")
    store = _store(request)
    pid = body.pop("project_id", None) or store.default_project(owner(request))["id"]
    project = project_in(request, pid)  # the key's project, or one shared with it
    owner_id = owner(request)
    sid = cells.create_specification(store, owner_id, project["id"], body["name"], body)
    row = found(cells.get_specification(store, owner_id, sid), f"cell specification {sid}")
    return json_response(record(row), 201)


async def list_specs(request: web.Request) -> web.Response:
    """``/cell_specifications[?project_id=…&name=eq.…]``: the key's specifications (or a
    shared project's)."""
    page_params(request)  # a bad page is refused before any work
    pid = request.query.get("project_id") or None
    if pid:
        project_in(request, pid)
    try:  # a bad pattern is refused even when no record would be tested against it
        name_matches("", request.query.get("name") or "")
    except ValueError as exc:
        fail(422, f"query parameter 'name': {exc}")
    rows = cells.list_specifications(_store(request), owner(request), project_id=pid)
    items = [record(r) for r in rows]
    return json_response(list_window(request, items, ("name", "created_at")))


async def get_spec(request: web.Request) -> web.Response:
    return json_response(record(cell_specification(request, request.match_info["spec"])))


async def create_instance(request: web.Request) -> web.Response:
    spec = cell_specification(request, request.match_info["spec"])
    body = await read_json(request)
    require_str(body, "name")
    store = _store(request)
    iid = cells.create_instance(store, spec, body["name"], body)
    return json_response(record(instance_or_404(store, spec["owner_id"], iid), batch_id=None), 201)


async def get_instance(request: web.Request) -> web.Response:
    return json_response(record(cell_instance(request, request.match_info["ci"]), batch_id=None))


async def list_instances(request: web.Request) -> web.Response:
    """``/cell_specifications/{spec}/cell_instances`` or ``/cell_instances?project_id=…``
    (``is_default=true``: only the project's default instance, created if missing)."""
    page_params(request)  # a bad page is refused before any work
    spec_id = None
    if "spec" in request.match_info:
        spec_id = str(cell_specification(request, request.match_info["spec"])["id"])
    pid = request.query.get("project_id") or None
    if pid:
        project_in(request, pid)
        cells.default_instance(_store(request), owner(request), pid)
    rows = cells.list_instances(
        _store(request),
        owner(request),
        spec_id=spec_id,
        project_id=pid,
        only_default=request.query.get("is_default") == "true",
    )
    items = [record(r, batch_id=None) for r in rows]
    return json_response(list_window(request, items, ("name", "created_at")))


# --- measurements ------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/cell_specifications", create_spec)
    r.add_get("/cell_specifications", list_specs)
    r.add_get("/cell_specifications/{spec}", get_spec)
    r.add_post("/cell_specifications/{spec}/cell_instances", create_instance)
    r.add_get("/cell_specifications/{spec}/cell_instances", list_instances)
    r.add_get("/cell_instances", list_instances)
    r.add_get("/cell_instances/{ci}", get_instance)
