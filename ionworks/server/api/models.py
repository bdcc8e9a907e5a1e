"""Routes: models (wire.md §11.1) — PyBaMM's SPM, SPMe and DFN (built in, read only, listed in
every project) and a key's own, in a project: a built-in PyBaMM model config
(``POST /models``) or an uploaded custom model (``POST /models/upload-custom``, a PyBaMM
``Serialise`` JSON file that passes the allow-list of
:mod:`ionworks.server.engine.safe_pybamm` and that PyBaMM then loads, before it is stored).

The local server simulates SPM, SPMe and DFN only: a parameterized model on a custom model or
on another PyBaMM model is stored, and a simulation of it is refused with a 422 at submit.
Custom variables (``POST /models/{id}/custom-variables``) are stored with the model; their
expressions use the calculation elements' syntax, ``{Variable name}`` in braces.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final, NoReturn

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.access import find_shared, project_in, shown
from ionworks.server.api.forms import read_form
from ionworks.server.api.http import _parse_json, fail, json_response, owner, read_json
from ionworks.server.api.listing import list_window, name_matches, page_params
from ionworks.server.api.parameterized_models import (
    check_changes,
    check_settings,
    text_field,
    writable,
)
from ionworks.server.api.projects import project_or_404
from ionworks.server.db import models as models_db
from ionworks.server.db.store import Store, json_column
from ionworks.server.engine.errors import EngineError
from ionworks.server.state import limits, state

__all__ = ["CHEMISTRIES", "MODEL_TYPES", "project_or_404", "setup"]

#: The built-in models: PyBaMM lithium-ion model type → name.
MODEL_TYPES: Final = {
    "SPM": "Single Particle Model",
    "SPMe": "SPM with electrolyte",
    "DFN": "Doyle-Fuller-Newman",
}
#: ``chemistry`` of an uploaded model (the official client's ``ModelChemistry``).
CHEMISTRIES: Final = ("lithium_ion", "lithium_sulfur", "ecm", "generic")
#: The fields of ``POST /models``.
FIELDS: Final = frozenset(
    {"name", "config", "project_id", "description", "pybamm_version", "simulation_settings"}
)
#: Models one project may hold; custom variables one model may have.
MAX_PER_PROJECT: Final = 1000
MAX_CUSTOM_VARIABLES: Final = 100
SORTABLE: Final = ("name", "created_at", "updated_at")


def _store(request: web.Request) -> Store:
    return state(request).store


def builtin_record(model_type: str) -> dict[str, Any]:
    return {
        "id": model_type, "name": MODEL_TYPES[model_type], "description": None,
        "project_id": None, "source_model_id": None, "config": {"type": model_type},
        "simulation_settings": None, "pybamm_version": None, "chemistry": "lithium_ion",
        "is_custom_model": False, "custom_variables": [], "is_builtin": True,
        "created_by_email": None, "created_at": None, "updated_at": None,
    }  # fmt: skip


def record(row: sqlite3.Row) -> dict[str, Any]:
    """A stored model as JSON (never a custom model's document)."""
    return {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "project_id": row["project_id"], "source_model_id": None,
        "config": json_column(row["config"]),
        "simulation_settings": json_column(row["simulation_settings"]),
        "pybamm_version": row["pybamm_version"], "chemistry": row["chemistry"],
        "is_custom_model": bool(row["is_custom"]),
        "custom_variables": json_column(row["custom_variables"], []), "is_builtin": False,
        "created_by_email": None, "created_at": row["created_at"], "updated_at": row["updated_at"],
    }  # fmt: skip


def _project(request: web.Request, project_id: Any) -> str:
    """The project a new model goes to (default: the key's default project), checked."""
    store = _store(request)
    if project_id is None or project_id == "":
        project_id = store.default_project(owner(request))["id"]
    project_in(request, project_id)
    if models_db.count_in_project(store, owner(request), project_id) >= MAX_PER_PROJECT:
        fail(422, f"project {project_id} has {MAX_PER_PROJECT} models, the limit")
    return str(project_id)


def _builtin_type(model_id: str) -> str | None:
    return next((t for t in MODEL_TYPES if t.lower() == model_id.lower()), None)


def _row(request: web.Request) -> sqlite3.Row | None:
    """The path's stored model; None for a built-in one; 404 otherwise."""
    model_id, store = request.match_info["id"], _store(request)
    row = find_shared(
        request, lambda o: models_db.get(store, o, model_id), lambda r: r["project_id"]
    )
    if row is None and _builtin_type(model_id) is None:
        fail(404, f"model {shown(model_id)} not found; built-in models: {', '.join(MODEL_TYPES)}")
    return row


async def list_models(request: web.Request) -> web.Response:
    """``GET /models?project_id=&name=&created_by_email=&created_at_gt=…&order_by=&order=``:
    the project's (or the key's) models, newest first, then the built-in ones."""
    page_params(request)
    project_id = request.query.get("project_id") or None
    if project_id is not None:
        project_in(request, project_id)
    rows = models_db.list_rows(_store(request), owner(request), project_id)
    items = [record(row) for row in rows] + [builtin_record(t) for t in MODEL_TYPES]
    email = request.query.get("created_by_email")
    if email:  # the local server records no e-mail addresses: matches nothing
        items = [i for i in items if name_matches(i["created_by_email"], email)]
    return json_response(list_window(request, items, SORTABLE))


async def get_model(request: web.Request) -> web.Response:
    row = _row(request)
    if row is None:
        return json_response(builtin_record(str(_builtin_type(request.match_info["id"]))))
    return json_response(record(row))


def _check_config(config: Any) -> None:
    """A built-in PyBaMM model config that passes the allow-list and that PyBaMM builds."""
    from ionworks.server.engine.parameter_check import Base, model_of
    from ionworks.server.engine.safe_pybamm import check_model_config

    check_model_config(config, "config")
    model_of(Base(config))


async def create_model(request: web.Request) -> web.Response:
    """``POST /models``: ``{name, config, project_id?, description?, pybamm_version?,
    simulation_settings?}``; ``config`` is ``{"type": <a PyBaMM model class>, "module"?,
    "options"?}`` (custom models: ``POST /models/upload-custom``)."""
    body = await read_json(request)
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        fail(422, f"unknown field(s): {', '.join(unknown)}; accepted: {', '.join(sorted(FIELDS))}")
    name = str(text_field(body.get("name"), "name", required=True))
    config = body.get("config")
    if isinstance(config, str):
        config = {"type": config}
    if not isinstance(config, dict):
        fail(422, '\'config\' must be a model config object such as {"type": "SPMe"}')
    if config.get("type") == "custom":
        fail(422, "'config': upload custom models with POST /models/upload-custom")
    check_settings(body)
    try:
        await anyio.to_thread.run_sync(_check_config, config)
    except EngineError as exc:
        fail(422, str(exc) if str(exc).startswith("config") else f"config: {exc}")
    new = models_db.NewModel(
        project_id=_project(request, body.get("project_id")), name=name,
        description=text_field(body.get("description"), "description"), config=config,
        simulation_settings=body.get("simulation_settings"),
        pybamm_version=text_field(body.get("pybamm_version"), "pybamm_version"),
        chemistry="lithium_ion",
    )  # fmt: skip
    return _created(request, models_db.create(_store(request), owner(request), new))


def _created(request: web.Request, model_id: str) -> web.Response:
    row = models_db.get(_store(request), owner(request), model_id)
    assert row is not None
    return json_response(record(row), status=201)


async def update_model(request: web.Request) -> web.Response:
    """``PATCH``: ``name``, ``description``, ``pybamm_version``, ``simulation_settings``
    (null clears them). The config is fixed: parameterized models are built on it."""
    row = writable(request, _row(request), "model")
    body = await read_json(request)
    check_changes(body, models_db.UPDATABLE, "create a new model for another config")
    store = _store(request)
    models_db.update(store, row, body)
    updated = models_db.get(store, row["owner_id"], row["id"])
    assert updated is not None
    return json_response(record(updated))


async def delete_model(request: web.Request) -> web.Response:
    """``DELETE``: the model and its parameterized models."""
    row = writable(request, _row(request), "model")
    models_db.delete(_store(request), row["owner_id"], row["id"])
    return web.Response(status=204)


def _checked_document(raw: bytes, max_depth: int) -> tuple[bytes, str | None, str]:
    """An uploaded model file, parsed (JSON limits), allow-listed and loaded by PyBaMM:
    ``(packed document, its pybamm_version, the model's name)``; slow, in a thread. A model of
    a class outside PyBaMM is kept as its closest PyBaMM base (``pybamm_bases``)."""
    from ionworks.server.engine.parameter_check import load_custom_model, pybamm_bases

    parsed = _parse_json(raw, max_depth)
    data = pybamm_bases(parsed)
    try:
        model = load_custom_model(data, "file")
    except EngineError as exc:
        fail(422, str(exc))
    if data is not parsed:  # the stored document names the PyBaMM base it loads as
        raw = json.dumps(data, allow_nan=False).encode()
    version = data.get("pybamm_version")
    return models_db.pack(raw), version if isinstance(version, str) else None, str(model.name)


async def upload_custom(request: web.Request) -> web.Response:
    """``POST /models/upload-custom`` (multipart): fields ``name``, ``chemistry``
    (:data:`CHEMISTRIES`), ``project_id``, ``description?``; file ``file``: a PyBaMM
    ``Serialise`` JSON document (``Serialise().save_custom_model``)."""
    form = await read_form(request)
    fields = form.fields
    unknown = sorted(set(fields) - {"name", "chemistry", "project_id", "description"})
    if unknown or set(form.files) != {"file"}:
        fail(
            422,
            "the form takes the fields name, chemistry, project_id, description and one file "
            f"'file'; got fields {sorted(fields)} and files {sorted(form.files)}",
        )
    name = str(text_field(fields.get("name"), "name", required=True))
    chemistry = fields.get("chemistry", "lithium_ion")
    if chemistry not in CHEMISTRIES:
        fail(422, f"'chemistry' must be one of {', '.join(CHEMISTRIES)}, got {chemistry!r}")
    project_id = _project(request, fields.get("project_id"))
    depth = limits(request).max_json_depth
    packed, version, model_name = await anyio.to_thread.run_sync(
        _checked_document, form.files["file"][1], depth
    )
    new = models_db.NewModel(
        project_id=project_id, name=name, description=fields.get("description"),
        config={"type": "custom", "name": model_name}, pybamm_version=version,
        chemistry=chemistry, document=packed,
    )  # fmt: skip
    return _created(request, models_db.create(_store(request), owner(request), new))


def _variables_of(row: sqlite3.Row, packed: bytes | None) -> list[str]:
    """The variable names of a stored model (slow: in a thread)."""
    from ionworks.server.engine.parameter_check import Base, model_of
    from ionworks.server.engine.stored import unpacked

    config = json_column(row["config"])
    base = Base(config, document=packed) if packed is not None else Base(config)
    return list(model_of(unpacked(base)).variable_names())


def _bad_variable(message: str) -> NoReturn:
    fail(422, f"custom variable: {message}")


async def add_custom_variable(request: web.Request) -> web.Response:
    """``POST /models/{id}/custom-variables``: ``{name, expression}``; the expression reads the
    model's variables in braces (``{Voltage [V]} * {Current [A]}``), with ``+ - * / **``,
    numbers and ``sqrt exp log log10 abs min max``. One of the same name is replaced."""
    from ionworks.server.engine.errors import did_you_mean
    from ionworks.server.fitting.expressions import names_in

    row = writable(request, _row(request), "model")
    body = await read_json(request)
    if sorted(body) != ["expression", "name"]:
        _bad_variable(f"send exactly 'name' and 'expression', got {sorted(body)}")
    name = str(text_field(body["name"], "name", required=True))
    expression = str(text_field(body["expression"], "expression", required=True))
    current = json_column(row["custom_variables"], [])
    if len(current) >= MAX_CUSTOM_VARIABLES and all(v["name"] != name for v in current):
        _bad_variable(f"the model has {MAX_CUSTOM_VARIABLES} custom variables, the limit")
    try:
        names = names_in(expression)
    except ValueError as exc:
        _bad_variable(f"'expression': {exc}")
    store = _store(request)
    packed = models_db.document(store, row["owner_id"], row["id"]) if row["is_custom"] else None
    try:
        variables = set(await anyio.to_thread.run_sync(_variables_of, row, packed))
    except EngineError as exc:
        fail(422, str(exc))
    if name in variables:
        _bad_variable(f"'name': the model already has a variable {name!r}")
    known = variables | {v["name"] for v in current if v["name"] != name}
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        details = "; ".join(f"{n!r}{did_you_mean(n, known)}" for n in unknown[:10])
        _bad_variable(f"'expression' reads unknown variable(s): {details}")
    models_db.add_custom_variable(store, row, {"name": name, "expression": expression})
    updated = models_db.get(store, row["owner_id"], row["id"])
    assert updated is not None
    return json_response(record(updated))


async def serialize_ionworks_model(request: web.Request) -> web.Response:
    """``POST /discovery/ionworks_models/serialize`` ``{name, options?}``: the cloud builds a
    licensed Ionworks model (ECM, LumpedSPMR, MSMR, GITT …) and returns its PyBaMM JSON; the
    local server has none of them, so a well-formed request is a 404 that says so."""
    body = await read_json(request)
    name = text_field(body.get("name"), "name", required=True)
    if body.get("options") is not None and not isinstance(body["options"], dict):
        fail(422, "'options' must be an object of model options or null")
    fail(
        404,
        f"no Ionworks model {name!r} on this server: the Ionworks models (ECM, LumpedSPMR, "
        "MSMR, GITTModel …) are built by the licensed ionworkspipeline package, which the "
        "local server does not have (GET /discovery/pybamm_models lists no ionworks_models). "
        "PyBaMM's own models (SPM, SPMe, DFN …) are used with pybamm directly; "
        "model.upload_custom stores a model of your own.",
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/models", list_models)
    r.add_post("/models", create_model)
    r.add_post("/models/upload-custom", upload_custom)
    r.add_get("/models/{id}", get_model)
    r.add_patch("/models/{id}", update_model)
    r.add_delete("/models/{id}", delete_model)
    r.add_post("/models/{id}/custom-variables", add_custom_variable)
    r.add_post("/discovery/ionworks_models/serialize", serialize_ionworks_model)
