"""Routes: pipelines and simple pipelines (wire.md §6, §7), run as ``pipeline`` jobs.

Both kinds share one table; a record's status is its job's status (pending → running →
completed | failed | canceled). A pipeline runs as one job driven from the server
(:data:`ionworks.server.fitting.job.run_pipeline`): its elements, and the chunks of a
differential evolution fit's populations, run as sub-jobs on the executor's workers; its
elements report the pipeline job's id.
``db:<measurement id>`` references are resolved by the payload builder into the
measurement's parquet paths, so the worker never touches another owner's data.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

import anyio.to_thread
from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response, owner, read_json
from ionworks.server.api.listing import Predicate, page_params, predicate, range_test
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import pipelines
from ionworks.server.db.store import Store, new_id, now_iso
from ionworks.server.engine.errors import EngineError
from ionworks.server.state import limits, state

__all__ = ["setup"]

PIPELINE, SIMPLE = "pipeline", "simple"
KIND_LABEL: Final = {PIPELINE: "pipeline", SIMPLE: "simple pipeline"}
FILTER_COLUMNS: Final = (
    "id", "name", "description", "status", "created_by_email", "created_at", "updated_at",
)  # fmt: skip
ORDER_COLUMNS: Final = FILTER_COLUMNS
RANGE_FILTERS: Final = {"_gt": ">", "_lt": "<", "_gte": ">=", "_lte": "<="}


def _ctx(request: web.Request) -> tuple[Store, Any]:
    server = state(request)
    return server.store, server.runner


def _row_or_404(request: web.Request, kind: str, pid: str) -> sqlite3.Row:
    """The record of this kind, the key's own or in a project shared with it (then the
    request acts as the project's owner), or a 404."""
    store = state(request).store
    row = access.find_shared(
        request, lambda owner_id: pipelines.get(store, owner_id, kind, pid), _project_of
    )
    if row is None:
        fail(404, f"{KIND_LABEL[kind]} {pid} not found")
    return row


def _project_of(row: sqlite3.Row) -> str:
    return str(row["project_id"])


def _job(store: Store, row: sqlite3.Row) -> sqlite3.Row | None:
    return jobs_db.get(store, row["job_id"])


def _final(job: sqlite3.Row | None) -> dict[str, Any] | None:
    if job is None or job["status"] != "completed" or job["result"] is None:
        return None
    result: dict[str, Any] = json.loads(job["result"])
    return result


def record(row: sqlite3.Row, job: sqlite3.Row | None) -> dict[str, Any]:
    """The wire record of a pipeline or simple pipeline (status from its job)."""
    status = job["status"] if job is not None else "failed"
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "organization_id": row["owner_id"],
        "user_id": row["owner_id"],
        "created_by_email": None,
        "job_id": row["job_id"],
        "status": status,
        "is_terminal": status in ("completed", "failed", "canceled"),
        "is_failed": status in ("failed", "canceled"),
        "error": job["error"] if job is not None else "job record missing",
        "error_code": job["error_code"] if job is not None else jobs_db.SERVER_ERROR,
        "created_at": row["created_at"],
        "updated_at": max(row["updated_at"], job["updated_at"]) if job else row["updated_at"],
    }
    if row["kind"] == SIMPLE:
        final = _final(job)
        out["config_path"] = None
        out["result"] = None if final is None else _simple_result(final)
    return out


def _simple_result(final: dict[str, Any]) -> dict[str, Any]:
    out = {"parameter_values": final.get("parameter_values", {})}
    if "summary_stats" in final:
        out["summary_stats"] = final["summary_stats"]
    return out


def _options(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        fail(422, "'options' must be an object, e.g. {\"live_progress_updates\": true}")
    live = options.get("live_progress_updates")
    if live is not None and not isinstance(live, bool):
        fail(422, "'options.live_progress_updates' must be true, false or null")
    return options


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        fail(422, f"'{key}' must be a string")
    return value


def _elements_or_422(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict) or not isinstance(config.get("elements"), dict):
        fail(422, "the config needs 'elements': an object of element name -> element")
    elements: dict[str, Any] = config["elements"]
    if not elements:
        fail(422, "'elements' must not be empty")
    for name, element in elements.items():
        if not isinstance(element, dict):
            fail(422, f"element {name!r} must be an object")
    return elements


def _check_simple(elements: dict[str, Any]) -> None:
    from ionworks.server.fitting.config import LEGACY_ALIASES, RUNNING_TYPES

    running = [
        name
        for name, e in elements.items()
        if LEGACY_ALIASES.get(e.get("element_type"), e.get("element_type")) in RUNNING_TYPES
    ]
    if len(running) > 1:
        fail(
            422,
            "a simple pipeline may contain at most one data_fit or validation element; found "
            f"{len(running)}: {', '.join(map(repr, running))}. Use client.pipeline for "
            "multi-step pipelines.",
        )


def _create(request: web.Request, kind: str, body: dict[str, Any], config: Any) -> str:
    store, runner = _ctx(request)
    elements = _elements_or_422(config)
    if kind == SIMPLE:
        _check_simple(elements)
    project_id = body.get("project_id")
    if project_id is None:
        project_id = store.default_project(owner(request))["id"]
    elif not isinstance(project_id, str):
        fail(422, "'project_id' must be a string")
    access.project_in(request, project_id)
    owner_id = owner(request)
    access.check_references(request, config)  # a member: only the shared projects' data
    name, description = _text(body, "name"), _text(body, "description")
    options = _options(body)
    pid, ts = new_id(), now_iso()
    if kind == PIPELINE and not name:
        name = f"Pipeline {ts[:19].replace('T', ' ')} ({pid[:8]})"
    stored = {"elements": elements}
    if kind == PIPELINE and config.get("output_file") is not None:
        stored["output_file"] = config["output_file"]
    with store.transaction():
        job_id = runner.enqueue(owner_id, "pipeline", {"pipeline_id": pid})
        pipelines.create(
            store, pid, owner_id, kind, project_id, name=name, description=description,
            config=stored, options=options, job_id=job_id, created_at=ts,
        )  # fmt: skip
    runner.wake()
    return pid


def _respond(request: web.Request, kind: str, pid: str) -> web.Response:
    store, _ = _ctx(request)
    row = _row_or_404(request, kind, pid)
    return json_response(record(row, _job(store, row)))


def _enter_named_project(request: web.Request, body: dict[str, Any]) -> None:
    """Before any check: a project shared with the key makes its owner's records the ones
    the request reads (stored parameterized models included)."""
    if isinstance(body.get("project_id"), str):
        access.project_in(request, body["project_id"])


async def _checked(request: web.Request, config: Any) -> None:
    """Models against the PyBaMM allow-list, fit sizes against the limits (off the loop:
    a model check may import PyBaMM)."""
    from ionworks.server.engine.stored import resolve_tree
    from ionworks.server.fitting.checks import check_pipeline

    elements = _elements_or_422(config)
    try:  # ids of stored parameterized models are checked as their specs
        elements = resolve_tree(state(request).store, owner(request), elements)
        await anyio.to_thread.run_sync(check_pipeline, elements, limits(request))
    except (ValueError, EngineError) as exc:  # EngineError: a model outside the allow-list
        fail(422, str(exc))


async def create_pipeline(request: web.Request) -> web.Response:
    body = await read_json(request)
    _enter_named_project(request, body)
    config = {k: body[k] for k in ("elements", "output_file") if k in body}
    await _checked(request, config)
    return _respond(request, PIPELINE, _create(request, PIPELINE, body, config))


async def create_simple(request: web.Request) -> web.Response:
    body = await read_json(request)
    _enter_named_project(request, body)
    await _checked(request, body.get("config"))
    return _respond(request, SIMPLE, _create(request, SIMPLE, body, body.get("config")))


RANGE_PARAMS: Final = tuple(
    f"{column}{suffix}" for column in ("created_at", "updated_at") for suffix in RANGE_FILTERS
)
LIST_PARAMS: Final = ("project_id", "limit", "offset", "order_by", "order")


def _selected(request: web.Request, kind: str) -> Predicate:
    """The test of the request's filters on a record. Checked before any work: a parameter
    that is no filter column (or list parameter) is a 422 listing the allowed ones, as is a
    malformed LIKE pattern."""
    query = request.query
    allowed = {*FILTER_COLUMNS, *RANGE_PARAMS, *LIST_PARAMS}
    if kind == PIPELINE:
        allowed.add("skip")  # the official client's name of the offset (wire.md §6.3)
    unknown = [name for name in query if name not in allowed]
    if unknown:
        fail(
            422,
            f"unknown filter column {unknown[0]!r} for {KIND_LABEL[kind]}s; filter on "
            f"{', '.join(FILTER_COLUMNS)} (ranges: {', '.join(RANGE_PARAMS)}); the other "
            f"parameters are {', '.join(sorted(allowed - {*FILTER_COLUMNS, *RANGE_PARAMS}))}",
        )
    tests: list[tuple[str, Predicate]] = []
    for column in FILTER_COLUMNS:
        if query.get(column):
            try:
                tests.append((column, predicate(query[column])))
            except ValueError as exc:
                fail(422, f"filter {column}: {exc}")
    for column, suffix in ((c, s) for c in ("created_at", "updated_at") for s in RANGE_FILTERS):
        bound = query.get(column + suffix)
        if bound:
            tests.append((column, range_test(RANGE_FILTERS[suffix], bound)))
    return lambda item: all(test(item.get(column)) for column, test in tests)


async def _list(request: web.Request, kind: str) -> tuple[list[dict[str, Any]], int]:

    offset_name = "skip" if kind == PIPELINE and "offset" not in request.query else "offset"
    limit, offset = page_params(request, offset_name=offset_name)
    keep = _selected(request, kind)
    order_by = request.query.get("order_by") or "created_at"
    if order_by not in ORDER_COLUMNS:
        fail(422, f"order_by must be one of {', '.join(ORDER_COLUMNS)}, got {order_by!r}")
    order = request.query.get("order") or "desc"
    if order not in ("asc", "desc"):
        fail(422, f"order must be 'asc' or 'desc', got {order!r}")
    store, _ = _ctx(request)
    project_id = request.query.get("project_id")
    if project_id:
        access.enter_if_shared(request, project_id)  # a shared project: list its records
    rows = pipelines.list_rows(store, owner(request), kind, project_id)
    jobs = {r["job_id"]: _job(store, r) for r in rows}
    items = [item for item in (record(r, jobs[r["job_id"]]) for r in rows) if keep(item)]
    items.sort(key=lambda i: str(i.get(order_by) or ""), reverse=order == "desc")
    return items[offset : offset + limit], len(items)


async def list_pipelines(request: web.Request) -> web.Response:
    items, total = await _list(request, PIPELINE)
    return json_response({"pipelines": items, "total": total})


async def list_simple(request: web.Request) -> web.Response:
    items, total = await _list(request, SIMPLE)
    return json_response({"items": items, "count": len(items), "total": total})


def _get(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return _respond(request, kind, request.match_info["id"])

    return handler


def _update(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        store, _ = _ctx(request)
        row = _row_or_404(request, kind, request.match_info["id"])
        body = await read_json(request)
        unknown = sorted(set(body) - set(pipelines.UPDATABLE))
        if unknown:
            fail(422, f"only name and description can be updated; got {', '.join(unknown)}")
        changes = {k: _text(body, k) for k in pipelines.UPDATABLE if body.get(k) is not None}
        if not changes:
            fail(422, "update needs at least one of name or description")
        pipelines.update(store, row, changes)
        return _respond(request, kind, row["id"])

    return handler


def _cancel_job(request: web.Request, kind: str) -> tuple[Store, sqlite3.Row]:
    """The caller's record of this kind (404 otherwise), its job cancelled."""
    store, runner = _ctx(request)
    row = _row_or_404(request, kind, request.match_info["id"])
    runner.cancel(row["job_id"])
    return store, row


def _cancel(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        _, row = _cancel_job(request, kind)
        return _respond(request, kind, row["id"])

    return handler


def _delete(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        store, row = _cancel_job(request, kind)
        with store.transaction():
            pipelines.delete(store, row["id"])
            jobs_db.delete(store, row["job_id"])
        return web.Response(status=204)

    return handler


async def pipeline_result(request: web.Request) -> web.Response:
    store, _ = _ctx(request)
    row = _row_or_404(request, PIPELINE, request.match_info["id"])
    job = _job(store, row)
    final = _final(job)
    if final is None:
        status = job["status"] if job is not None else "failed"
        detail = f": {job['error']}" if job is not None and job["error"] else ""
        fail(409, f"pipeline {row['id']} has no result: it is {status}{detail}")
    result = {k: v for k, v in final.items() if k not in ("element_results", "status")}
    result.pop("intermediate_results", None)
    return json_response({"result": result, "element_results": final["element_results"]})


async def pipeline_elements(request: web.Request) -> web.Response:
    from ionworks.server.fitting.config import DISPLAY_LABELS, LEGACY_ALIASES

    store, _ = _ctx(request)
    row = _row_or_404(request, PIPELINE, request.match_info["id"])
    job = _job(store, row)
    saved = json.loads(job["result"]) if job is not None and job["result"] else {}
    results, checkpoint = saved.get("element_results") or {}, saved.get("checkpoint") or {}
    out = []
    for name, element in json.loads(row["config"])["elements"].items():
        raw = element.get("element_type")
        kind = LEGACY_ALIASES.get(raw, raw)
        best = (results.get(name) or {}).get("cost")
        if best is None and saved.get("element") == name:
            best = checkpoint.get("best_cost")
        out.append(
            {
                "name": name,
                "job_id": row["job_id"],
                "element_type": DISPLAY_LABELS.get(kind, raw),
                "progress": {"best_cost": best},
            }
        )
    return json_response(out)


def setup(app: web.Application) -> None:
    r = app.router
    for kind, base in ((PIPELINE, "/pipelines"), (SIMPLE, "/simple_pipelines")):
        r.add_get(base + "/{id}", _get(kind))
        r.add_patch(base + "/{id}", _update(kind))
        r.add_delete(base + "/{id}", _delete(kind))
        r.add_post(base + "/{id}/cancel", _cancel(kind))
    r.add_post("/pipelines", create_pipeline)
    r.add_get("/pipelines", list_pipelines)
    r.add_get("/pipelines/{id}/result", pipeline_result)
    r.add_get("/pipelines/{id}/elements", pipeline_elements)
    r.add_post("/simple_pipelines", create_simple)
    r.add_get("/simple_pipelines", list_simple)
