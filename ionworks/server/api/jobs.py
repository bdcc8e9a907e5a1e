"""Routes: jobs, and a job's fit diagnostics: recorded series (:mod:`.job_series`), plots
(:mod:`.job_plots`), metadata (trace, posterior samples). A running job's record carries its
``progress`` (element, iteration, evaluations, best cost) from its latest checkpoint."""

from __future__ import annotations

from typing import Any

import anyio
from aiohttp import web

from ionworks.server.api import job_plots, job_series
from ionworks.server.api.access import find_shared
from ionworks.server.api.http import fail, json_response, owner
from ionworks.server.api.listing import page_params
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import members
from ionworks.server.db.jobs import job_dict
from ionworks.server.db.store import Store
from ionworks.server.state import state

__all__ = ["setup"]


def _ctx(request: web.Request) -> tuple[Store, Any]:
    server = state(request)
    return server.store, server.runner


def _job_or_404(request: web.Request, job_id: str) -> dict[str, Any]:
    """The job, the key's own or one of a project shared with it, or a 404."""
    store = state(request).store
    row = find_shared(
        request,
        lambda owner_id: jobs_db.get(store, job_id, owner_id),
        lambda job: members.job_project(store, job["id"]),
    )
    if row is None:
        fail(404, f"job {job_id} not found")
    return job_dict(row)


async def list_jobs(request: web.Request) -> web.Response:
    """The owner's jobs, newest first: a bare array (wire.md §5) of at most ``limit`` jobs
    (default and maximum: the server's ``max_page_size``) from ``offset``."""
    limit, offset = page_params(request)
    store, _ = _ctx(request)
    rows = jobs_db.list_for_owner(store, owner(request), limit, offset)
    return json_response([job_dict(r) for r in rows])


async def create_job(request: web.Request) -> web.Response:
    fail(410, "POST /jobs/ is deprecated: submit simulations or pipelines instead")


#: Checkpoint keys a running job's ``progress`` shows.
PROGRESS = ("iteration", "evaluations", "best_cost")


def _with_progress(job: dict[str, Any]) -> dict[str, Any]:
    """The job with ``progress``: ``{"element", "iteration", "evaluations", "best_cost"}``
    of its latest checkpoint while it runs, else ``None``."""
    result = job["result"]
    checkpoint = result.get("checkpoint") if isinstance(result, dict) else None
    progress = None
    if job["status"] == "running" and isinstance(checkpoint, dict):
        progress = {"element": result.get("element")}
        progress.update({k: checkpoint.get(k) for k in PROGRESS})
    return {**job, "progress": progress}


async def get_job(request: web.Request) -> web.Response:
    return json_response(_with_progress(_job_or_404(request, request.match_info["id"])))


async def cancel_job(request: web.Request) -> web.Response:
    job_id = request.match_info["id"]
    _job_or_404(request, job_id)
    runner = state(request).runner
    runner.cancel(job_id)
    return json_response(_job_or_404(request, job_id))


async def series_channels(request: web.Request) -> web.Response:
    """``{objective: {source: [channel, ...]}}`` of the series the job recorded (see
    :mod:`.job_series`); ``{}`` when it recorded none."""
    job = _job_or_404(request, request.match_info["id"])
    return json_response(job_series.channels(job["result"]))


async def series(request: web.Request) -> web.Response:
    """One objective's series, ``{channel: [values]}`` (see :func:`.job_series.select`)."""
    job = _job_or_404(request, request.match_info["id"])
    return json_response(job_series.select(request, job["job_id"], job["result"]))


async def plot_data(request: web.Request) -> web.Response:
    """One plot of a fit objective (see :mod:`.job_plots`)."""
    job = _job_or_404(request, request.match_info["id"])
    return json_response(job_plots.plot_data(request, job["job_id"], job["result"]))


async def job_metadata(request: web.Request) -> web.Response:
    """The job's stored result with the official metadata keys derived from it (recorded
    series, plot manifest, sampler chains: :func:`.job_series.metadata`); the trace is
    ``intermediate_results``."""
    job = _job_or_404(request, request.match_info["id"])
    result = job["result"] if isinstance(job["result"], dict) else {"result": job["result"]}
    derived = await anyio.to_thread.run_sync(job_series.metadata, result)
    return json_response(
        {"job_id": job["job_id"], "job_type": job["job_type"], **result, **derived}
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/jobs/", list_jobs)
    r.add_get("/jobs", list_jobs)
    r.add_post("/jobs/", create_job)
    r.add_get("/jobs/{id}", get_job)
    r.add_post("/jobs/{id}/cancel", cancel_job)
    r.add_get("/jobs/{id}/metadata", job_metadata)
    r.add_get("/jobs/{id}/series/channels", series_channels)
    r.add_get("/jobs/{id}/series", series)
    r.add_get("/jobs/{id}/plot_data", plot_data)
    r.add_get("/pipelines/datafits/{id}/plot_data", plot_data)
