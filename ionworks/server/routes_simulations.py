"""Routes: protocol templates and simulations (submit, list, get, delete, statuses, results)."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks import doe as doe_module
from ionworks.server.http import fail, int_param, json_response, owner, read_json, require_str
from ionworks.server.store import ARROW_SUFFIX, Store, new_id, now_iso

__all__ = ["ctx", "job_tasks", "setup", "sim_or_404", "simulation_dict"]

STATE_FILTER = {
    "queued": ("pending",),
    "running": ("running",),
    "completed": ("completed",),
    "failed": ("failed", "canceled"),
}
FOLDER = "simulations/{}"


def ctx(request: web.Request) -> tuple[Store, Any]:
    from ionworks.server.app import RUNNER, STORE

    return request.app[STORE], request.app[RUNNER]


def _json_col(value: str | None, default: Any = None) -> Any:
    return default if value is None else json.loads(value)


def simulation_dict(row: sqlite3.Row, job: Any) -> dict[str, Any]:
    """The wire record of a simulation; ``job`` is its jobs row (or None if missing)."""
    model = _json_col(row["parameterized_model"])
    status = job["status"] if job is not None else "failed"
    return {
        "id": row["id"],
        "simulation_id": row["id"],
        "job_id": row["job_id"],
        "status": status,
        "error": job["error"] if job is not None else "job record missing",
        "project_id": row["project_id"],
        "experiment_template_id": row["template_id"],
        "protocol_id": row["template_id"],
        "parameterized_model": model,
        "parameterized_model_id": model if isinstance(model, str) else None,
        "experiment_parameters": _json_col(row["experiment_parameters"], {}),
        "design_parameters": _json_col(row["design_parameters"], {}),
        "extra_variables": _json_col(row["extra_variables"], []),
        "study_id": row["study_id"],
        "storage_folder": row["storage_folder"],
        "simulation_data": None,
        "metrics": _json_col(row["metrics"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class _JobView:
    """The job columns of a simulations ⋈ jobs row, shaped like a jobs row."""

    def __init__(self, row: sqlite3.Row) -> None:
        self._row = row

    def __getitem__(self, key: str) -> Any:
        return self._row["job_error" if key == "error" else key]


def _jobs_for(store: Store, rows: list[sqlite3.Row]) -> dict[str, sqlite3.Row]:
    ids = [r["job_id"] for r in rows]
    out: dict[str, sqlite3.Row] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for job in store.query(f"SELECT * FROM jobs WHERE id IN ({marks})", chunk):
            out[job["id"]] = job
    return out


def sim_or_404(store: Store, owner_id: str, sid: str, columns: str = "*") -> sqlite3.Row:
    """The caller's simulation row (``columns`` of it), or a 404."""
    row = store.one(
        f"SELECT {columns} FROM simulations WHERE id = ? AND owner_id = ?", (sid, owner_id)
    )
    if row is None:
        fail(404, f"simulation {sid} not found")
    return row


async def parse_to_template(request: web.Request) -> web.Response:
    from ionworks import ucp

    store, _ = ctx(request)
    body = await read_json(request)
    pe = body.get("protocol_experiment")
    if not isinstance(pe, dict):
        fail(422, "'protocol_experiment' must be an object with 'protocol' and 'name'")
    protocol = require_str(pe, "protocol")
    name = pe.get("name") or "Protocol"
    if not isinstance(name, str):
        fail(422, "'protocol_experiment.name' must be a string")
    result = ucp.validate(protocol)
    if not result["valid"]:
        fail(422, f"invalid protocol: {result['error']}")
    project_id = body.get("project_id")
    if project_id is not None:
        from ionworks.server.routes_models import project_or_404

        project_or_404(store, owner(request), str(project_id))
    digest = hashlib.sha256(json.dumps([name, protocol]).encode()).hexdigest()
    row = store.one(
        "SELECT id FROM templates WHERE owner_id = ? AND digest = ?", (owner(request), digest)
    )
    if row is not None:
        return json_response({"template_id": row["id"], "already_existed": True})
    tid = new_id()
    store.execute(
        "INSERT INTO templates(id, owner_id, project_id, name, protocol, digest, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tid, owner(request), project_id, name, protocol, digest, now_iso()),
    )
    return json_response({"template_id": tid})


def _numbers(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(422, f"'{what}' must be an object of name -> number")
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            fail(422, f"'{what}[{key!r}]' must be a number, got {item!r}")
    return dict(value)


def _combinations(body: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    sets = body.get("experiment_parameter_sets") or [{}]
    if not isinstance(sets, list) or not sets:
        fail(422, "'experiment_parameter_sets' must be a non-empty list")
    base_sets = [_numbers(s, "experiment_parameter_sets[]") for s in sets]
    conditions = body.get("conditions")
    doe = body.get("design_parameters_doe")
    if conditions is not None and doe is not None:
        fail(422, "'conditions' and 'design_parameters_doe' are mutually exclusive")
    if conditions is not None:
        if not isinstance(conditions, list) or not conditions:
            fail(422, "'conditions' must be a non-empty list")
        if len(conditions) > doe_module.MAX_SIMULATIONS:
            fail(
                422,
                f"{len(conditions)} conditions exceed the limit of {doe_module.MAX_SIMULATIONS}",
            )
        combos = []
        for i, cond in enumerate(conditions):
            if not isinstance(cond, dict):
                fail(422, f"conditions[{i}] must be an object")
            params = _numbers(
                cond.get("experiment_parameters"), f"conditions[{i}].experiment_parameters"
            )
            design = _numbers(cond.get("design_parameters"), f"conditions[{i}].design_parameters")
            combos.append(({**base_sets[0], **params}, design))
        return combos
    designs: list[dict[str, Any]] = [{}]
    if doe is not None:
        try:
            total = doe_module.count_simulations(doe) * len(base_sets)
            if total > doe_module.MAX_SIMULATIONS:
                fail(
                    422,
                    f"this request would create {total} simulations; the limit is {doe_module.MAX_SIMULATIONS}",
                )
            designs = doe_module.expand_doe(doe)
        except ValueError as exc:
            fail(422, f"invalid design_parameters_doe: {exc}")
    return [(dict(s), dict(d)) for s in base_sets for d in designs]


async def create_batch(request: web.Request) -> web.Response:
    from ionworks import ucp
    from ionworks.server.engine.catalog import EngineError, model_from_spec

    store, runner = ctx(request)
    owner_id = owner(request)
    body = await read_json(request)
    model = body.get("parameterized_model")
    if model is None:
        fail(422, "'parameterized_model' is required")
    try:
        model_from_spec(model)
    except EngineError as exc:
        fail(422, f"invalid parameterized_model: {exc}")
    tid = require_str(body, "experiment_template_id")
    template = store.one("SELECT * FROM templates WHERE id = ? AND owner_id = ?", (tid, owner_id))
    if template is None:
        fail(404, f"protocol (experiment template) {tid} not found")
    combos = _combinations(body)
    refs = ucp.find_input_references(template["protocol"])
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
    jumps = body.get("max_backward_jumps", 1000)
    if not isinstance(jumps, int) or isinstance(jumps, bool) or jumps < 0:
        fail(422, "'max_backward_jumps' must be a non-negative integer")
    project_id = (
        body.get("project_id") or template["project_id"] or store.default_project(owner_id)["id"]
    )
    from ionworks.server.routes_models import project_or_404

    project_or_404(store, owner_id, str(project_id))
    study_id = body.get("study_id")
    if study_id is not None and (
        not isinstance(study_id, str)
        or store.one("SELECT id FROM studies WHERE id = ? AND owner_id = ?", (study_id, owner_id))
        is None
    ):
        fail(404, f"study {study_id} not found")
    out = []
    ts = now_iso()
    with store.transaction():
        for params, design in combos:
            sid = new_id()
            job_id = runner.enqueue(owner_id, "simulation", {"simulation_id": sid})
            store.execute(
                "INSERT INTO simulations(id, owner_id, project_id, template_id, job_id, "
                "parameterized_model, experiment_parameters, design_parameters, extra_variables, "
                "max_backward_jumps, study_id, created_at, updated_at, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sid,
                    owner_id,
                    project_id,
                    tid,
                    job_id,
                    json.dumps(model),
                    json.dumps(params),
                    json.dumps(design),
                    json.dumps(extra),
                    jumps,
                    study_id,
                    ts,
                    ts,
                    store.next_seq(),
                ),
            )
            out.append({"simulation_id": sid, "job_id": job_id, "already_existed": False})
    runner.wake()
    return json_response(out)


async def list_simulations(request: web.Request) -> web.Response:
    store, _ = ctx(request)
    where, args = ["s.owner_id = ?"], [owner(request)]
    for param, column in (
        ("project_id", "s.project_id"),
        ("experiment_template_id", "s.template_id"),
    ):
        if request.query.get(param):
            where.append(f"{column} = ?")
            args.append(request.query[param])
    study_id = request.query.get("study_id")
    if study_id:  # created with the study, or assigned to it later (routes_studies)
        where.append(
            "(s.study_id = ? OR s.id IN "
            "(SELECT simulation_id FROM study_simulations WHERE study_id = ?))"
        )
        args.extend([study_id, study_id])
    if request.query.get("parameterized_model_id"):
        where.append("s.parameterized_model = ?")
        args.append(json.dumps(request.query["parameterized_model_id"]))
    state = request.query.get("state")
    if state:
        if state not in STATE_FILTER:
            fail(422, f"state must be one of {', '.join(STATE_FILTER)}, got {state!r}")
        statuses = STATE_FILTER[state]
        where.append(f"j.status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    limit = int_param(request, "limit", None, hi=10_000)
    offset = int_param(request, "offset", 0, hi=10**9) or 0
    sql_where = " AND ".join(where)
    total = store.one(
        f"SELECT COUNT(*) n FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE {sql_where}",
        args,
    )
    rows = store.query(
        f"SELECT s.* FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE {sql_where} "
        f"ORDER BY s.seq DESC LIMIT ? OFFSET ?",
        [*args, -1 if limit is None else limit, offset],
    )
    jobs = _jobs_for(store, rows)
    items = [simulation_dict(r, jobs.get(r["job_id"])) for r in rows]
    return json_response(
        {"simulations": items, "model_scalar_parameters": {}, "total": total["n"] if total else 0}
    )


async def get_simulation(request: web.Request) -> web.Response:
    store, _ = ctx(request)
    row = sim_or_404(store, owner(request), request.match_info["id"])
    job = store.one("SELECT * FROM jobs WHERE id = ?", (row["job_id"],))
    return json_response(simulation_dict(row, job))


async def delete_simulation(request: web.Request) -> web.Response:
    store, runner = ctx(request)
    row = sim_or_404(store, owner(request), request.match_info["id"])
    runner.cancel(row["job_id"])
    with store.transaction():
        store.execute("DELETE FROM simulations WHERE id = ?", (row["id"],))
        store.execute("DELETE FROM jobs WHERE id = ?", (row["job_id"],))
    store.delete_blobs(FOLDER.format(row["id"]))
    return web.Response(status=204)


async def statuses(request: web.Request) -> web.Response:
    store, _ = ctx(request)
    body = await read_json(request)
    ids = body.get("simulation_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        fail(422, "'simulation_ids' must be a list of strings")
    if len(ids) > 1000:
        fail(422, f"at most 1000 simulation_ids per request, got {len(ids)}")
    limit = body.get("limit", len(ids))
    marks = ",".join("?" * len(ids)) or "NULL"
    rows = store.query(
        f"SELECT s.*, j.status, j.error AS job_error, j.error_code, j.updated_at AS job_updated "
        f"FROM simulations s JOIN jobs j ON j.id = s.job_id "
        f"WHERE s.owner_id = ? AND s.id IN ({marks})",
        [owner(request), *ids],
    )
    found = {r["id"]: r for r in rows}
    out = []
    for i in ids:
        if i not in found:
            continue
        row = found[i]
        item = {
            "simulation_id": i,
            "status": row["status"],
            "error": row["job_error"],
            "error_code": row["error_code"],
            "updated_at": row["job_updated"],
        }
        if row["status"] in ("completed", "failed", "canceled"):
            # Our extension: the finished record itself, so a waiter needs no extra GET.
            item["simulation"] = simulation_dict(row, _JobView(row))
        out.append(item)
    return json_response(out[: int(limit)] if isinstance(limit, int) and limit >= 0 else out)


def _payload(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    row = store.one("SELECT * FROM simulations WHERE id = ?", (params["simulation_id"],))
    if row is None:
        raise LookupError(f"simulation {params['simulation_id']} was deleted")
    template = store.one("SELECT protocol FROM templates WHERE id = ?", (row["template_id"],))
    if template is None:
        raise LookupError(f"protocol {row['template_id']} was deleted")
    return {
        "parameterized_model": json.loads(row["parameterized_model"]),
        "protocol": template["protocol"],
        "experiment_parameters": json.loads(row["experiment_parameters"]),
        "design_parameters": json.loads(row["design_parameters"]),
        "extra_variables": json.loads(row["extra_variables"]),
        "max_backward_jumps": row["max_backward_jumps"],
    }


async def _store_result(store: Store, params: dict[str, Any], result: dict[str, Any]) -> None:
    sid = params["simulation_id"]
    if store.one("SELECT id FROM simulations WHERE id = ?", (sid,)) is None:
        return
    folder = FOLDER.format(sid)
    blobs = {"time_series.parquet": result["time_series"], "steps.parquet": result["steps"]}
    for name, content in (result.get("arrow") or {}).items():
        blobs[f"{name}{ARROW_SUFFIX}"] = content
    # fsyncs take milliseconds: in a thread, so the loop keeps serving and dispatching
    try:
        await anyio.to_thread.run_sync(store.write_blobs, folder, blobs)
    except FileNotFoundError:  # the simulation was deleted while its files were written
        if store.one("SELECT id FROM simulations WHERE id = ?", (sid,)) is not None:
            raise
    metrics = _finite(dict(result.get("metrics") or {}))
    # only while its job still runs: not after a delete or a cancel during the write
    updated = store.execute(
        "UPDATE simulations SET storage_folder = ?, metrics = ?, updated_at = ? WHERE id = ? "
        "AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = simulations.job_id "
        "AND jobs.status = 'running')",
        (folder, json.dumps(metrics, default=str), now_iso(), sid),
    )
    if not updated:
        store.delete_blobs(folder)


def _finite(value: Any) -> Any:
    """JSON-safe metrics: NaN/inf become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def job_tasks() -> dict[str, Any]:
    from ionworks.server.worker import run_simulation_job

    return {"simulation": (run_simulation_job, _payload, _store_result)}


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/protocols/parse-to-template", parse_to_template)
    r.add_post("/simulations/with-template/batch", create_batch)
    r.add_get("/simulations", list_simulations)
    r.add_post("/simulations/statuses", statuses)
    r.add_get("/simulations/{id}", get_simulation)
    r.add_delete("/simulations/{id}", delete_simulation)
