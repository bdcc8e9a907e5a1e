"""Routes: projects, parameterized models (built in from PyBaMM sets) and model types."""

from __future__ import annotations

import math
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.http import fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import name_matches, page, page_params
from ionworks.server.db import jobs, projects, simulations, templates, uploads
from ionworks.server.db.measurements import folders_in_project
from ionworks.server.db.store import Store
from ionworks.server.state import state

__all__ = ["setup"]

MODEL_TYPES = {
    "SPM": "Single Particle Model",
    "SPMe": "SPM with electrolyte",
    "DFN": "Doyle-Fuller-Newman",
}


def _store(request: web.Request) -> Store:
    return state(request).store


def project_or_404(store: Store, owner_id: str, project_id: str) -> dict[str, Any]:
    project = projects.get(store, owner_id, project_id)
    if project is None:
        fail(404, f"project {project_id} not found")
    return project


#: ``GET /projects?is_default=…``: the values accepted (PostgREST's ``eq.`` form too).
_BOOLEANS = {"true": True, "eq.true": True, "false": False, "eq.false": False}


async def list_projects(request: web.Request) -> web.Response:
    """The key's projects, its default project first (``is_default: true``; created if
    missing). Filters: ``name``, ``is_default=true|false``."""
    limit, offset = page_params(request)
    only = request.query.get("is_default")
    if only is not None and only.lower() not in _BOOLEANS:
        fail(422, f"query parameter 'is_default' must be 'true' or 'false', got {only!r}")
    is_default = None if only is None else _BOOLEANS[only.lower()]
    items = projects.list_for_owner(_store(request), owner(request), is_default=is_default)
    name = request.query.get("name")
    if name:
        items = [p for p in items if name_matches(p["name"], name)]
    return json_response(page(items[offset : offset + limit], len(items)))


async def create_project(request: web.Request) -> web.Response:
    body = await read_json(request)
    require_str(body, "name")
    store = _store(request)
    pid = projects.create(store, owner(request), body["name"], body.get("description"))
    return json_response(project_or_404(store, owner(request), pid), status=201)


async def get_project(request: web.Request) -> web.Response:
    return json_response(project_or_404(_store(request), owner(request), request.match_info["pid"]))


async def update_project(request: web.Request) -> web.Response:
    store, pid = _store(request), request.match_info["pid"]
    project = project_or_404(store, owner(request), pid)
    body = await read_json(request)
    unknown = set(body) - set(projects.UPDATABLE)
    if unknown:
        fail(422, f"unknown project field(s): {', '.join(sorted(unknown))}")
    if "name" in body and (not isinstance(body["name"], str) or not body["name"]):
        fail(422, "'name' must be a non-empty string")
    if body.get("description") is not None and not isinstance(body["description"], str):
        fail(422, "'description' must be a string or null")
    projects.update(store, project, body)
    return json_response(project_or_404(store, owner(request), pid))


async def delete_project(request: web.Request) -> web.Response:
    """Delete a project and everything in it: its studies, simulations (their jobs and result
    files), pipelines and simple pipelines (their jobs), cell specifications and instances,
    measurements (their files) and unconfirmed uploads (their files).

    The project's running jobs are canceled through the job runner first; then every row goes
    in one SQLite transaction, and the files are deleted after it commits. Simulations of
    other projects that were in one of its studies only leave the study. Protocol templates are
    shared by every project of the key (found again by content), so they are kept, no longer
    tied to this project. The default project cannot be deleted (409): a key always has one.
    """
    from ionworks.server.services.simulation_jobs import FOLDER as SIMULATIONS

    store, owner_id, pid = _store(request), owner(request), request.match_info["pid"]
    project = project_or_404(store, owner_id, pid)
    if project["is_default"]:
        fail(409, "the default project cannot be deleted")
    runner = state(request).runner
    for job_id in jobs.running_of_project(store, pid, owner_id):
        runner.cancel(job_id)
    folders = [SIMULATIONS.format(sid) for sid in simulations.ids_of_project(store, pid, owner_id)]
    folders += folders_in_project(store, owner_id, pid)
    tokens = uploads.tokens_in_project(store, owner_id, pid)
    with store.transaction():
        simulations.leave_studies_of_project(store, pid, owner_id)
        jobs.delete_of_project(store, pid, owner_id)  # found through simulations and pipelines
        simulations.delete_of_project(store, pid, owner_id)
        templates.detach_project(store, pid, owner_id)
        projects.delete_rows(store, owner_id, pid)

    def remove_files() -> None:
        for folder in folders:
            store.delete_blobs(folder)
        uploads.remove_files(store, tokens)

    await anyio.to_thread.run_sync(remove_files)
    return web.Response(status=204)


def _builtin(model_id: str) -> Any:
    from ionworks.server.engine.catalog import BUILTIN_MODELS

    model = BUILTIN_MODELS.get(model_id)
    if model is None:
        fail(
            404,
            f"parameterized model {model_id} not found; built-in ids: {', '.join(BUILTIN_MODELS)}",
        )
    return model


def _pm_dict(model: Any) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "model_id": model.model_type,
        "parameter_set": model.parameter_set,
        "model": {"type": model.model_type},
        "is_builtin": True,
        "simulation_settings": None,
    }


async def list_parameterized_models(request: web.Request) -> web.Response:
    from ionworks.server.engine.catalog import BUILTIN_MODELS

    project_id = request.query.get("project_id")
    if project_id:
        project_or_404(_store(request), owner(request), project_id)
    limit, offset = page_params(request)
    items = [_pm_dict(m) for m in BUILTIN_MODELS.values()]
    return json_response(page(items[offset : offset + limit], len(items)))


async def get_parameterized_model(request: web.Request) -> web.Response:
    return json_response(_pm_dict(_builtin(request.match_info["id"])))


def _parameter_values(model_id: str) -> dict[str, Any]:
    from ionworks.server.engine.catalog import model_from_spec, parameter_values

    values = parameter_values(model_from_spec(model_id))
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value) if math.isfinite(value) else None
        else:
            out[key] = getattr(value, "__name__", None) or str(value)
    return out


async def get_parameter_values(request: web.Request) -> web.Response:
    model = _builtin(request.match_info["id"])
    return json_response(await anyio.to_thread.run_sync(_parameter_values, model.id))


def _variable_names(model_id: str) -> list[str]:
    from ionworks.server.engine.catalog import build_model, model_from_spec

    return sorted(build_model(model_from_spec(model_id)).variable_names())


async def get_variable_names(request: web.Request) -> web.Response:
    model = _builtin(request.match_info["id"])
    return json_response(await anyio.to_thread.run_sync(_variable_names, model.id))


async def list_models(request: web.Request) -> web.Response:
    limit, offset = page_params(request)
    items = [
        {
            "id": key,
            "name": name,
            "config": {"type": key},
            "project_id": request.query.get("project_id"),
        }
        for key, name in MODEL_TYPES.items()
    ]
    return json_response(page(items[offset : offset + limit], len(items)))


async def get_model(request: web.Request) -> web.Response:
    key = request.match_info["id"]
    if key not in MODEL_TYPES:
        fail(404, f"model {key} not found; built-in models: {', '.join(MODEL_TYPES)}")
    return json_response({"id": key, "name": MODEL_TYPES[key], "config": {"type": key}})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/projects", list_projects)
    r.add_post("/projects", create_project)
    r.add_get("/projects/{pid}", get_project)
    r.add_patch("/projects/{pid}", update_project)
    r.add_delete("/projects/{pid}", delete_project)
    r.add_get("/parameterized_models", list_parameterized_models)
    r.add_get("/parameterized_models/{id}", get_parameterized_model)
    r.add_get("/parameterized_models/{id}/parameter-values", get_parameter_values)
    r.add_get("/parameterized_models/{id}/variable-names", get_variable_names)
    r.add_get("/models", list_models)
    r.add_get("/models/{id}", get_model)
