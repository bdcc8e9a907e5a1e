"""Routes: cell specifications and instances, the parents of measurements (wire.md §10.5):
create, list, get, update, delete. Specification names are unique per project, instance names
per specification (409 ``CONFLICT`` with ``detail.existing_id``); deleting a record that still
has children is a 409. Every project gets a default specification + instance on first use. A
member of a shared project reads and (by role) writes them (:mod:`.access`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeVar

from aiohttp import web

from ionworks.server.api.access import cell_instance, cell_specification, project_in, shown
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


#: Component slots a specification fills (``{slot: {material_id, …}}`` among its fields).
SLOTS: Final = ("anode", "cathode", "electrolyte", "separator", "case")
MAX_NAME: Final = 256


def _name(body: dict[str, Any], *, optional: bool = False) -> str | None:
    """The body's ``name``: a non-empty string of at most :data:`MAX_NAME` characters."""
    if optional and "name" not in body:
        return None
    name = require_str(body, "name")
    assert name is not None
    if len(name) > MAX_NAME:
        fail(422, f"'name' has {len(name)} characters; at most {MAX_NAME} are accepted")
    return name


def _no_batch(body: dict[str, Any], spec_id: str) -> None:
    """The local server keeps no cell batches: a ``batch_id`` other than null names none of
    the specification's (400, as the cloud for a batch of another specification)."""
    if "batch" in body:
        fail(422, "'batch' was removed from cell instances: pass 'batch_id' (a cell batch)")
    if body.get("batch_id") is not None:
        fail(
            400,
            f"cell batch {shown(body['batch_id'])} is not a batch of cell specification "
            f"{spec_id} (the local server keeps no cell batches)",
        )


def _unchanged(body: dict[str, Any], row: sqlite3.Row, *keys: str) -> None:
    """A 422 if the body would move the record (a key naming another parent)."""
    for key in keys:
        if key in body and body[key] != row[key]:
            fail(422, f"'{key}' cannot be changed")


def _conflict(what: str, name: str, where: str, existing_id: str) -> NoReturn:
    message = f"a {what} named {shown(name)} already exists in {where}"
    fail(409, {"message": message, "existing_id": existing_id}, "CONFLICT")


def _spec_json(row: sqlite3.Row) -> dict[str, Any]:
    return record(row)


def _metadata(spec: dict[str, Any]) -> dict[str, Any]:
    """A specification without its component slots (lists without ``full=true``)."""
    return {k: v for k, v in spec.items() if k not in SLOTS}


def _instance_json(row: sqlite3.Row) -> dict[str, Any]:
    return record(row, batch_id=None, batch_name=None)


async def create_spec(request: web.Request) -> web.Response:
    """``POST /cell_specifications``: 201; 409 ``CONFLICT`` (``detail.existing_id``) when the
    project has a specification of that name."""
    body = await read_json(request)
    name = _name(body)
    assert name is not None
    store = _store(request)
    pid = body.pop("project_id", None) or store.default_project(owner(request))["id"]
    project = project_in(request, pid)  # the key's project, or one shared with it
    owner_id = owner(request)
    try:
        sid = cells.create_specification(store, owner_id, project["id"], name, body, unique=True)
    except cells.NameTaken as exc:
        _conflict("cell specification", name, f"project {project['id']}", exc.existing_id)
    row = found(cells.get_specification(store, owner_id, sid), f"cell specification {sid}")
    return json_response(_spec_json(row), 201)


def _material_of(spec: dict[str, Any], slot: str) -> Any:
    component = spec.get(slot)
    if not isinstance(component, dict):
        return None
    material = component.get("material")
    if component.get("material_id") is None and isinstance(material, dict):
        return material.get("id")
    return component.get("material_id")


def _material_filter(request: web.Request) -> Callable[[dict[str, Any]], bool]:
    """``material_id`` / repeated ``material_ids`` (any slot) and ``{slot}_material_id`` (that
    slot; several: any of them), as the cloud's reverse look-up."""
    q = request.query
    wanted_any = set(q.getall("material_ids", [])) | set(q.getall("material_id", []))
    per_slot = {s: q[f"{s}_material_id"] for s in SLOTS if q.get(f"{s}_material_id")}

    def test(spec: dict[str, Any]) -> bool:
        if not wanted_any and not per_slot:
            return True
        used = {s: _material_of(spec, s) for s in SLOTS}
        if wanted_any and any(m in wanted_any for m in used.values() if m is not None):
            return True
        return any(used[s] == m for s, m in per_slot.items())

    return test


async def list_specs(request: web.Request) -> web.Response:
    """``/cell_specifications[?project_id=…&name=eq.…]``: the key's specifications (or a
    shared project's), filtered by ``form_factor=eq.…``, component materials
    (:func:`_material_filter`) and ``exclude_cell_spec_id``; ``full=true``: with their
    component slots."""
    page_params(request)  # a bad page is refused before any work
    q = request.query
    pid = q.get("project_id") or None
    if pid:
        project_in(request, pid)
    for key in ("name", "form_factor"):
        try:  # a bad pattern is refused even when no record would be tested against it
            name_matches("", q.get(key) or "")
        except ValueError as exc:
            fail(422, f"query parameter {key!r}: {exc}")
    rows = cells.list_specifications(_store(request), owner(request), project_id=pid)
    items = [record(r) for r in rows]
    if q.get("form_factor"):
        items = [i for i in items if name_matches(_text(i.get("form_factor")), q["form_factor"])]
    if q.get("exclude_cell_spec_id"):
        items = [i for i in items if i["id"] != q["exclude_cell_spec_id"]]
    uses = _material_filter(request)
    items = [i for i in items if uses(i)]
    if q.get("full") != "true":
        items = [_metadata(i) for i in items]
    return json_response(list_window(request, items, ("name", "created_at", "updated_at")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def get_spec(request: web.Request) -> web.Response:
    return json_response(_spec_json(cell_specification(request, request.match_info["spec"])))


async def update_spec(request: web.Request) -> web.Response:
    """``PATCH``: merge the body into the specification; 409 ``CONFLICT`` for a name another
    specification of the project has."""
    spec = cell_specification(request, request.match_info["spec"])
    body = await read_json(request)
    _name(body, optional=True)
    _unchanged(body, spec, "project_id")
    store = _store(request)
    try:
        cells.update_specification(store, spec, body)
    except cells.NameTaken as exc:
        _conflict(
            "cell specification", body["name"], f"project {spec['project_id']}", exc.existing_id
        )
    row = found(cells.get_specification(store, spec["owner_id"], spec["id"]), "cell specification")
    return json_response(_spec_json(row))


async def delete_spec(request: web.Request) -> web.Response:
    """``DELETE``: 204; 409 ``CONFLICT`` while the specification has cell instances (delete
    them first: nothing is deleted in cascade)."""
    spec = cell_specification(request, request.match_info["spec"])
    store = _store(request)
    used = cells.count_instances(store, spec["owner_id"], spec["id"])
    if used:
        message = (
            f"cell specification {spec['id']} has {used} cell instance(s); delete them first "
            "(cell_instance.delete), then the specification"
        )
        fail(409, {"message": message, "instance_count": used}, "CONFLICT")
    cells.delete_specification(store, spec["owner_id"], spec["id"])
    return web.Response(status=204)


async def create_instance(request: web.Request) -> web.Response:
    """``POST /cell_specifications/{spec}/cell_instances``: 201; 409 ``CONFLICT``
    (``detail.existing_id``) when the specification has an instance of that name."""
    spec = cell_specification(request, request.match_info["spec"])
    body = await read_json(request)
    name = _name(body)
    assert name is not None
    _no_batch(body, spec["id"])
    store = _store(request)
    try:
        iid = cells.create_instance(store, spec, name, body, unique=True)
    except cells.NameTaken as exc:
        _conflict("cell instance", name, f"cell specification {spec['id']}", exc.existing_id)
    return json_response(_instance_json(instance_or_404(store, spec["owner_id"], iid)), 201)


async def get_instance(request: web.Request) -> web.Response:
    return json_response(_instance_json(cell_instance(request, request.match_info["ci"])))


async def update_instance(request: web.Request) -> web.Response:
    """``PATCH``: merge the body into the instance; 409 ``CONFLICT`` for a name another
    instance of its specification has."""
    instance = cell_instance(request, request.match_info["ci"])
    body = await read_json(request)
    _name(body, optional=True)
    _unchanged(body, instance, "project_id", "cell_specification_id")
    _no_batch(body, instance["cell_specification_id"])
    store = _store(request)
    try:
        cells.update_instance(store, instance, body)
    except cells.NameTaken as exc:
        where = f"cell specification {instance['cell_specification_id']}"
        _conflict("cell instance", body["name"], where, exc.existing_id)
    return json_response(
        _instance_json(instance_or_404(store, instance["owner_id"], instance["id"]))
    )


async def delete_instance(request: web.Request) -> web.Response:
    """``DELETE``: 204; 409 ``CONFLICT`` while the instance has measurements (delete them
    first)."""
    instance = cell_instance(request, request.match_info["ci"])
    store = _store(request)
    used = cells.count_measurements(store, instance["owner_id"], instance["id"])
    if used:
        message = (
            f"cell instance {instance['id']} has {used} measurement(s); delete them first "
            "(cell_measurement.delete), then the instance"
        )
        fail(409, {"message": message, "measurement_count": used}, "CONFLICT")
    cells.delete_instance(store, instance["owner_id"], instance["id"])
    return web.Response(status=204)


async def list_instances(request: web.Request) -> web.Response:
    """``/cell_specifications/{spec}/cell_instances`` or ``/cell_instances?project_id=…``
    (``is_default=true``: only the project's default instance, created if missing;
    ``batch_id``: the instances of a batch, none here)."""
    page_params(request)  # a bad page is refused before any work
    spec_id = None
    if "spec" in request.match_info:
        spec_id = str(cell_specification(request, request.match_info["spec"])["id"])
    pid = request.query.get("project_id") or None
    if pid:
        project_in(request, pid)
        cells.default_instance(_store(request), owner(request), pid)
    try:
        name_matches("", request.query.get("name") or "")
    except ValueError as exc:
        fail(422, f"query parameter 'name': {exc}")
    rows = cells.list_instances(
        _store(request),
        owner(request),
        spec_id=spec_id,
        project_id=pid,
        only_default=request.query.get("is_default") == "true",
    )
    items = [_instance_json(r) for r in rows]
    if request.query.get("batch_id"):
        items = [i for i in items if i.get("batch_id") == request.query["batch_id"]]
    return json_response(list_window(request, items, ("name", "created_at", "updated_at")))


# --- measurements ------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/cell_specifications", create_spec)
    r.add_get("/cell_specifications", list_specs)
    r.add_get("/cell_specifications/{spec}", get_spec)
    r.add_patch("/cell_specifications/{spec}", update_spec)
    r.add_delete("/cell_specifications/{spec}", delete_spec)
    r.add_post("/cell_specifications/{spec}/cell_instances", create_instance)
    r.add_get("/cell_specifications/{spec}/cell_instances", list_instances)
    r.add_get("/cell_instances", list_instances)
    r.add_get("/cell_instances/{ci}", get_instance)
    r.add_patch("/cell_instances/{ci}", update_instance)
    r.add_delete("/cell_instances/{ci}", delete_instance)
