"""Routes: simulations (submit, list, get, delete, statuses); templates are in templates.py."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.access import (
    check_references,
    enter_if_shared,
    find_shared,
    project_in,
    readable_owners,
    visible,
)
from ionworks.server.api.http import (
    fail,
    json_response,
    owner,
    read_json,
    read_only,
    require_str,
)
from ionworks.server.api.listing import page_params
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import studies as studies_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.store import Store, json_column
from ionworks.server.services import batches
from ionworks.server.services.simulation_jobs import FOLDER
from ionworks.server.state import limits, state

__all__ = ["ctx", "readable_with_status", "setup", "sim_or_404", "simulation_dict"]

STATE_FILTER = {
    "queued": ("pending",),
    "running": ("running",),
    "completed": ("completed",),
    "failed": ("failed", "canceled"),
}


def ctx(request: web.Request) -> tuple[Store, Any]:
    server = state(request)
    return server.store, server.runner


def readable_with_status(
    request: web.Request, ids: list[str], columns: str = "s.*"
) -> dict[str, sqlite3.Row]:
    """The simulations among ``ids`` the request may read (the key's own, and those in
    projects shared with it), by id, with their job's status
    (:func:`~ionworks.server.db.simulations.with_job_status`; ``columns`` include
    ``s.project_id``)."""
    store, _ = ctx(request)
    out: dict[str, sqlite3.Row] = {}
    for owner_id, projects in readable_owners(request):
        for row in simulations_db.with_job_status(store, owner_id, ids, columns):
            if projects is None or row["project_id"] in projects:
                out[row["id"]] = row
    return out


def simulation_dict(row: sqlite3.Row, job: Any) -> dict[str, Any]:
    """The wire record of a simulation; ``job`` is its jobs row (or None if missing)."""
    model = json_column(row["parameterized_model"])
    status = job["status"] if job is not None else "failed"
    return {
        "id": row["id"],
        "simulation_id": row["id"],
        "job_id": row["job_id"],
        "status": status,
        "error": job["error"] if job is not None else "job record missing",
        "error_code": job["error_code"] if job is not None else jobs_db.SERVER_ERROR,
        "project_id": row["project_id"],
        "experiment_template_id": row["template_id"],
        "protocol_id": row["template_id"],
        "parameterized_model": model,
        "parameterized_model_id": model if isinstance(model, str) else None,
        "experiment_parameters": json_column(row["experiment_parameters"], {}),
        "design_parameters": json_column(row["design_parameters"], {}),
        "extra_variables": json_column(row["extra_variables"], []),
        "study_id": row["study_id"],
        "storage_folder": row["storage_folder"],
        "simulation_data": None,
        "metrics": json_column(row["metrics"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class _JobView:
    """The job columns of a simulations ⋈ jobs row, shaped like a jobs row."""

    def __init__(self, row: sqlite3.Row) -> None:
        self._row = row

    def __getitem__(self, key: str) -> Any:
        return self._row["job_error" if key == "error" else key]


def sim_or_404(request: web.Request, sid: str, columns: str = "*") -> sqlite3.Row:
    """The simulation row (``columns`` of it, and ``project_id``), the key's own or one in a
    project shared with it (the request then acts as the project's owner), or a 404."""
    store = state(request).store
    wanted = columns if columns == "*" else f"{columns}, project_id"
    row = find_shared(
        request,
        lambda owner_id: simulations_db.get(store, owner_id, sid, wanted),
        lambda found: found["project_id"],
    )
    if row is None:
        fail(404, f"simulation {sid} not found")
    return row


#: Output variables one simulation may add to its time series.
MAX_EXTRA_VARIABLES = 100


async def create_batch(request: web.Request) -> web.Response:
    from ionworks import ucp
    from ionworks.server.engine.catalog import EngineError, model_from_spec
    from ionworks.server.engine.stored import resolve

    store, runner = ctx(request)
    body = await read_json(request)
    if body.get("project_id") is not None:  # first: a shared project's records are its owner's
        project_in(request, body["project_id"])
    check_references(request, {"parameterized_model": body.get("parameterized_model")})
    owner_id = owner(request)
    model = body.get("parameterized_model")
    if model is None:
        fail(422, "'parameterized_model' is required")
    try:  # off the loop: a parameter or options check may import PyBaMM
        resolved = resolve(store, owner_id, model)  # the id of a stored parameterized model
        await anyio.to_thread.run_sync(model_from_spec, resolved)
    except EngineError as exc:
        fail(422, f"invalid parameterized_model: {exc}")
    tid = str(require_str(body, "experiment_template_id"))  # not optional: never None
    template = templates_db.get(store, owner_id, tid)
    if template is None or not visible(request, template["project_id"]):
        fail(404, f"protocol (experiment template) {tid} not found")
    cap = limits(request).max_batch_simulations
    try:
        combos = await anyio.to_thread.run_sync(batches.combinations, body, cap)
    except batches.BatchError as exc:
        fail(422, str(exc))
    refs = await anyio.to_thread.run_sync(ucp.find_input_references, template["protocol"])
    for params, _ in combos:
        missing = [r for r in refs if r not in params]
        if missing:
            fail(
                422,
                f"missing experiment parameter(s) for input reference(s): {', '.join(map(repr, missing))}",
            )
    extra = body.get("extra_variables") or []
    if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
        fail(422, "'extra_variables' must be a list of strings")
    if len(extra) > MAX_EXTRA_VARIABLES:
        fail(422, f"'extra_variables' has {len(extra)} names; the limit is {MAX_EXTRA_VARIABLES}")
    jumps = body.get("max_backward_jumps", 1000)
    if not isinstance(jumps, int) or isinstance(jumps, bool) or jumps < 0:
        fail(422, "'max_backward_jumps' must be a non-negative integer")
    project_id = (
        body.get("project_id") or template["project_id"] or store.default_project(owner_id)["id"]
    )
    project_in(request, str(project_id))
    study_id = body.get("study_id")
    study_project = (
        studies_db.project_of(store, owner_id, study_id) if isinstance(study_id, str) else None
    )
    if study_id is not None and (study_project is None or not visible(request, study_project)):
        fail(404, f"study {study_id} not found")
    fields = (json.dumps(model), json.dumps(extra), jumps)
    out = await anyio.to_thread.run_sync(
        batches.insert_batch, store, owner_id, tid, str(project_id), study_id, fields, combos
    )
    runner.wake()
    return json_response(out)


async def list_simulations(request: web.Request) -> web.Response:
    """A page of the owner's simulations, newest first: at most ``limit`` (default and
    maximum: the server's ``max_page_size``) from ``offset``, with the ``total``."""
    limit, offset = page_params(request)
    store, _ = ctx(request)
    query = request.query
    state = query.get("state")
    if state and state not in STATE_FILTER:
        fail(422, f"state must be one of {', '.join(STATE_FILTER)}, got {state!r}")
    if query.get("project_id"):
        enter_if_shared(request, query["project_id"])  # a shared project: its simulations
    where = simulations_db.SimulationFilter(
        project_id=query.get("project_id") or None,
        template_id=query.get("experiment_template_id") or None,
        study_id=query.get("study_id") or None,  # created with the study, or assigned later
        parameterized_model_id=query.get("parameterized_model_id") or None,
        job_statuses=STATE_FILTER[state] if state else None,
    )
    total, rows = simulations_db.page(store, owner(request), where, limit, offset)
    jobs = jobs_db.with_ids(store, [r["job_id"] for r in rows])
    items = [simulation_dict(r, jobs.get(r["job_id"])) for r in rows]
    return json_response({"simulations": items, "model_scalar_parameters": {}, "total": total})


async def get_simulation(request: web.Request) -> web.Response:
    store, _ = ctx(request)
    row = sim_or_404(request, request.match_info["id"])
    return json_response(simulation_dict(row, jobs_db.get(store, row["job_id"])))


async def delete_simulation(request: web.Request) -> web.Response:
    store, runner = ctx(request)
    row = sim_or_404(request, request.match_info["id"])
    runner.cancel(row["job_id"])
    with store.transaction():
        simulations_db.delete(store, row["id"])
        jobs_db.delete(store, row["job_id"])
    store.delete_blobs(FOLDER.format(row["id"]))
    return web.Response(status=204)


async def statuses(request: web.Request) -> web.Response:
    body = await read_json(request)
    ids = body.get("simulation_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        fail(422, "'simulation_ids' must be a list of strings")
    if len(ids) > 1000:
        fail(422, f"at most 1000 simulation_ids per request, got {len(ids)}")
    limit = body.get("limit", len(ids))
    finished_only = body.get("finished_only", False)  # our extension, for long waits
    if not isinstance(finished_only, bool):
        fail(422, "'finished_only' must be true or false")
    found = readable_with_status(request, ids, "s.id, s.project_id")
    done = [i for i, row in found.items() if row["status"] in jobs_db.TERMINAL]
    # whole records only for these: a poll of running jobs stays cheap
    finished = readable_with_status(request, done) if done else {}
    out: list[dict[str, Any]] = []
    for i in ids:
        if i not in found:
            if finished_only:  # the waiter must learn it will never finish
                out.append({"simulation_id": i, "missing": True})
            continue
        if finished_only and i not in finished:
            continue
        row = finished.get(i, found[i])
        item = {
            "simulation_id": i,
            "status": row["status"],
            "error": row["job_error"],
            "error_code": row["error_code"],
            "updated_at": row["job_updated"],
        }
        if i in finished:
            # Our extension: the finished record itself, so a waiter needs no extra GET.
            item["simulation"] = simulation_dict(row, _JobView(row))
        out.append(item)
    return json_response(out[: int(limit)] if isinstance(limit, int) and limit >= 0 else out)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/simulations/with-template/batch", create_batch)
    r.add_get("/simulations", list_simulations)
    r.add_post("/simulations/statuses", read_only(statuses))
    r.add_get("/simulations/{id}", get_simulation)
    r.add_delete("/simulations/{id}", delete_simulation)
