"""Routes: parameterized models (wire.md §11.2).

Two kinds share the paths: the built-in ones (PyBaMM parameter sets × SPM/SPMe/DFN, read
only, listed in every project) and a key's own — a model (a built-in type, a built-in
parameterized model, or one of the key's models) with parameter values, in a project or
under one of its cell specifications (``/cells/{spec}/parameterized_models``, where a name is
unique: a duplicate is a 409 ``CONFLICT`` with ``detail.existing_id``). Parameter values are
checked against PyBaMM when one is created (:mod:`ionworks.server.engine.parameter_check`)
and fixed from then on; a simulation or pipeline names it by its id
(:mod:`ionworks.server.engine.stored`).
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any, Final, NoReturn

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.access import (
    cell_specification,
    check_references,
    find_shared,
    project_in,
    shown,
)
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.listing import list_window, page_params
from ionworks.server.db import parameterized_models as pm_db
from ionworks.server.db.store import Store, json_column
from ionworks.server.engine.catalog import BUILTIN_MODELS, BuiltinModel
from ionworks.server.engine.errors import EngineError
from ionworks.server.state import state

__all__ = ["MAX_PER_PROJECT", "setup"]

#: The keys of a ``summary=true`` list item (no parameter values).
SUMMARY_KEYS: Final = (
    "id", "name", "description", "cell_spec_id", "model_id", "model_name", "created_at",
    "updated_at",
)  # fmt: skip
#: The fields of a create request.
FIELDS: Final = frozenset(
    {"name", "model_id", "description", "parameters", "simulation_settings", "project_id"}
)
#: Parameterized models one project may hold.
MAX_PER_PROJECT: Final = 10_000
MAX_NAME: Final = 256
SORTABLE: Final = ("name", "created_at", "updated_at")
_BOOLEANS: Final = {"true": True, "false": False}


def _store(request: web.Request) -> Store:
    return state(request).store


def builtin_record(model: BuiltinModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "project_id": None,
        "cell_spec_id": None,
        "model_id": model.model_type,
        "model_name": model.model_type,
        "parameter_set": model.parameter_set,
        "model": {"type": model.model_type},
        "is_builtin": True,
        "simulation_settings": None,
        "created_at": None,
        "updated_at": None,
    }


def record(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    """A stored parameterized model as JSON."""
    from ionworks.server.engine.stored import base_of

    found = base_of(store, row["owner_id"], row["model_id"])
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "cell_spec_id": row["cell_spec_id"],
        "model_id": row["model_id"],
        "model_name": None if found is None else found[1],
        "parameters": json_column(row["parameters"]),
        "is_builtin": False,
        "simulation_settings": json_column(row["simulation_settings"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _builtin(pm_id: str) -> BuiltinModel | None:
    return BUILTIN_MODELS.get(pm_id.strip().lower())


def _not_found(pm_id: str) -> NoReturn:
    fail(
        404,
        f"parameterized model {shown(pm_id)} not found; built-in ids are '<set>-<model>' such as "
        f"'chen2020-spme' (GET /parameterized_models lists them)",
    )


def _spec(request: web.Request) -> sqlite3.Row:
    """The cell specification of a ``/cells/{spec}/…`` path (the key's, or shared), or 404."""
    return cell_specification(request, request.match_info["spec"])


def _stored(request: web.Request) -> sqlite3.Row | None:
    """The path's stored parameterized model (under the path's cell specification, if any),
    or None for a built-in id; 404 otherwise."""
    pm_id, store = request.match_info["id"], _store(request)
    spec_id = _spec(request)["id"] if "spec" in request.match_info else None
    row = find_shared(request, lambda o: pm_db.get(store, o, pm_id), lambda r: r["project_id"])
    if row is None:
        if spec_id is None and _builtin(pm_id) is not None:
            return None
        _not_found(pm_id)
    if request.method != "GET" or spec_id is not None:  # writes name the record's place
        if row["cell_spec_id"] != spec_id:
            where = f"cell specification {spec_id}" if spec_id else "/parameterized_models"
            hint = (
                f"it belongs to cell specification {row['cell_spec_id']}"
                if row["cell_spec_id"]
                else "it has no cell specification"
            )
            fail(404, f"parameterized model {pm_id} not found under {where} ({hint})")
    return row


def _summary(request: web.Request) -> bool:
    raw = request.query.get("summary")
    if raw is None or raw == "":
        return False
    if raw.lower() not in _BOOLEANS:
        fail(422, f"query parameter 'summary' must be 'true' or 'false', got {raw!r}")
    return _BOOLEANS[raw.lower()]


def _window(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    page = list_window(request, items, SORTABLE)
    if _summary(request):
        page["items"] = [{k: item.get(k) for k in SUMMARY_KEYS} for item in page["items"]]
    return json_response(page)


async def list_all(request: web.Request) -> web.Response:
    """``GET /parameterized_models?project_id=&cell_spec_id=&summary=``: the project's (or
    the key's) parameterized models, newest first, then the built-in ones (not with a
    ``cell_spec_id``)."""
    page_params(request)  # a bad page is refused before any work
    _summary(request)
    store, query = _store(request), request.query
    project_id, spec_id = query.get("project_id") or None, query.get("cell_spec_id") or None
    if project_id is not None:
        project_in(request, project_id)
    rows = pm_db.list_rows(store, owner(request), project_id=project_id, cell_spec_id=spec_id)
    items = [record(store, row) for row in rows]
    if spec_id is None:
        items += [builtin_record(m) for m in BUILTIN_MODELS.values()]
    return _window(request, items)


async def list_of_spec(request: web.Request) -> web.Response:
    """``GET /cells/{spec}/parameterized_models``: the specification's, newest first."""
    page_params(request)
    spec = _spec(request)
    store = _store(request)
    rows = pm_db.list_rows(store, owner(request), cell_spec_id=spec["id"])
    return _window(request, [record(store, row) for row in rows])


def text_field(value: Any, key: str, *, required: bool = False) -> str | None:
    """A string field of a request (``required``: non-empty); names are bounded."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        fail(422, f"'{key}' must be a {'non-empty ' if required else ''}string")
    if key in ("name", "model_id") and len(value) > MAX_NAME:
        fail(422, f"'{key}' has {len(value)} characters; at most {MAX_NAME} are accepted")
    return value


def writable(request: web.Request, row: sqlite3.Row | None, what: str) -> sqlite3.Row:
    """The stored record a write names; 403 for a built-in one (``row`` None)."""
    if row is None:
        fail(403, f"{request.match_info['id']} is a built-in {what}: read only")
    return row


def check_settings(body: dict[str, Any]) -> None:
    """``simulation_settings``: an object (PyBaMM simulation keyword arguments) or null."""
    value = body.get("simulation_settings")
    if value is not None and not isinstance(value, dict):
        fail(422, "'simulation_settings' must be an object (var_pts, solver, …) or null")


def check_changes(body: dict[str, Any], updatable: tuple[str, ...], fixed: str) -> None:
    """A ``PATCH`` body: only ``updatable`` fields (else a 422 that says why: ``fixed``), a
    non-empty ``name``, strings or nulls, :func:`check_settings`."""
    unknown = sorted(set(body) - set(updatable))
    if unknown:
        fail(
            422,
            f"field(s) cannot be changed: {', '.join(unknown)} (accepted: "
            f"{', '.join(updatable)}; {fixed})",
        )
    for key in updatable:
        if key == "name" and "name" in body:
            text_field(body["name"], "name", required=True)
        elif key != "simulation_settings":
            text_field(body.get(key), key)
    check_settings(body)


async def create(request: web.Request) -> web.Response:
    """``POST /parameterized_models`` (in ``project_id``, default: the key's default project)
    or ``POST /cells/{spec}/parameterized_models`` (in the specification's project)."""
    from ionworks.server.engine.stored import base_of, check_new

    store = _store(request)
    spec = _spec(request) if "spec" in request.match_info else None
    body = await read_json(request)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        fail(422, f"unknown field(s): {', '.join(unknown)}; accepted: {', '.join(sorted(FIELDS))}")
    name = str(text_field(body.get("name"), "name", required=True))
    model_id = str(text_field(body.get("model_id"), "model_id", required=True))
    description = text_field(body.get("description"), "description")
    check_settings(body)
    project_id = body.get("project_id")
    if spec is not None:
        if project_id is not None and project_id != spec["project_id"]:
            fail(
                422,
                f"'project_id' {project_id} differs from the project of cell specification "
                f"{spec['id']} ({spec['project_id']})",
            )
        project_id = spec["project_id"]
    elif project_id is None:
        project_id = store.default_project(owner(request))["id"]
    project_in(request, project_id)
    check_references(request, {"model_id": model_id})  # a member: a shared project's
    owner_id = owner(request)
    if pm_db.count_in_project(store, owner_id, project_id) >= MAX_PER_PROJECT:
        fail(422, f"project {project_id} has {MAX_PER_PROJECT} parameterized models, the limit")
    found = base_of(store, owner_id, model_id, with_document=True)
    if found is None:
        fail(
            404,
            f"model_id: model {model_id!r} not found; use a built-in model type (SPM, SPMe, "
            "DFN), a built-in parameterized model id (e.g. 'chen2020-spme') or one of your models",
        )
    try:
        parameters = await anyio.to_thread.run_sync(check_new, found[0], body.get("parameters"))
    except EngineError as exc:
        fail(422, str(exc))
    new = pm_db.NewParameterizedModel(
        project_id=project_id, cell_spec_id=None if spec is None else spec["id"], name=name,
        description=description, model_id=model_id, parameters=parameters,
        simulation_settings=body.get("simulation_settings"),
    )  # fmt: skip
    try:
        pm_id = pm_db.create(store, owner_id, new)
    except pm_db.DuplicateName as exc:
        _conflict(name, new.cell_spec_id, exc.existing_id)
    row = pm_db.get(store, owner_id, pm_id)
    assert row is not None
    return json_response(record(store, row), status=201)


def _conflict(name: str, spec_id: Any, existing_id: str) -> NoReturn:
    message = f"a parameterized model named {name!r} already exists in cell specification {spec_id}"
    fail(409, {"message": message, "existing_id": existing_id}, "CONFLICT")


async def get_one(request: web.Request) -> web.Response:
    row = _stored(request)
    if row is None:
        builtin = _builtin(request.match_info["id"])
        assert builtin is not None
        return json_response(builtin_record(builtin))
    return json_response(record(_store(request), row))


async def update(request: web.Request) -> web.Response:
    """``PATCH``: ``name``, ``description``, ``simulation_settings`` (null clears them)."""
    row = writable(request, _stored(request), "parameterized model")
    body = await read_json(request)
    check_changes(body, pm_db.UPDATABLE, "parameter values are fixed once created")
    store = _store(request)
    try:
        pm_db.update(store, row, body)
    except pm_db.DuplicateName as exc:
        _conflict(body["name"], row["cell_spec_id"], exc.existing_id)
    updated = pm_db.get(store, row["owner_id"], row["id"])
    assert updated is not None
    return json_response(record(store, updated))


async def delete(request: web.Request) -> web.Response:
    row = writable(request, _stored(request), "parameterized model")
    pm_db.delete(_store(request), row["owner_id"], row["id"])
    return web.Response(status=204)


def _as_json(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value) if math.isfinite(value) else None
        else:
            out[key] = getattr(value, "__name__", None) or str(value)
    return out


def _base(request: web.Request, row: sqlite3.Row | None) -> tuple[Any, Any]:
    """The base and parameters of the path's parameterized model (built-in or stored)."""
    from ionworks.server.engine.parameter_check import Base
    from ionworks.server.engine.stored import base_of

    if row is None:
        builtin = _builtin(request.match_info["id"])
        assert builtin is not None
        return Base({"type": builtin.model_type}, catalog_id=builtin.id), None
    found = base_of(_store(request), row["owner_id"], row["model_id"], with_document=True)
    if found is None:
        fail(404, f"the model {row['model_id']} of parameterized model {row['id']} was deleted")
    return found[0], json_column(row["parameters"])


def _values(base: Any, parameters: Any) -> dict[str, Any]:
    from ionworks.server.engine.parameter_check import values_of

    return _as_json(values_of(base, parameters))


def _variables(base: Any) -> list[str]:
    from ionworks.server.engine.parameter_check import model_of
    from ionworks.server.engine.stored import unpacked

    return sorted(model_of(unpacked(base)).variable_names())


async def parameter_values(request: web.Request) -> web.Response:
    """``GET …/parameter-values``: every parameter value (numbers; functions by name)."""
    base, parameters = _base(request, _stored(request))
    try:
        return json_response(await anyio.to_thread.run_sync(_values, base, parameters))
    except EngineError as exc:
        fail(422, str(exc))


async def variable_names(request: web.Request) -> web.Response:
    """``GET …/variable-names``: the model's variable names, sorted."""
    base, _ = _base(request, _stored(request))
    try:
        return json_response(await anyio.to_thread.run_sync(_variables, base))
    except EngineError as exc:
        fail(422, str(exc))


def setup(app: web.Application) -> None:
    r = app.router
    for prefix in ("", "/cells/{spec}"):
        path = f"{prefix}/parameterized_models"
        r.add_get(path, list_of_spec if prefix else list_all)
        r.add_post(path, create)
        r.add_get(path + "/{id}", get_one)
        r.add_patch(path + "/{id}", update)
        r.add_delete(path + "/{id}", delete)
    r.add_get("/parameterized_models/{id}/parameter-values", parameter_values)
    r.add_get("/parameterized_models/{id}/variable-names", variable_names)
