"""Pipeline jobs: payload builder, driver and result handler (server side), the single-process
entry point and its progress checkpoints.

A ``pipeline`` job is a :class:`~ionworks.server.execution.fanout.ServerTask` (:data:`run_pipeline`):
its element loop runs in the server and its work in sub-jobs on the executor's workers —
one per element, and one per chunk of each differential evolution generation (see
:mod:`.distributed`). :func:`run_pipeline_job` runs a whole config in one process.

Checkpoints are written by the worker straight into the job's ``result`` column
(:func:`ionworks.server.db.jobs.checkpoint_writer`: SQLite in WAL mode takes writers from
several processes), throttled to a few per second, so
``GET /jobs/{id}/metadata`` and ``GET /pipelines/{id}/elements`` show them while the job
runs. The server overwrites the column with the final result when the job completes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import pipelines
from ionworks.server.db.jobs import checkpoint_writer
from ionworks.server.execution.fanout import FanOut, ServerTask
from ionworks.wire.jsonsafe import json_safe

if TYPE_CHECKING:
    from ionworks.server.db.store import Store

__all__ = [
    "build_payload",
    "checkpoint_writer",
    "drive_pipeline",
    "run_pipeline",
    "run_pipeline_job",
    "store_result",
]


def run_pipeline_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one pipeline config (see :func:`.runner.run_config`); errors carry their type."""
    from .runner import run_config

    checkpoint = payload.get("checkpoint")
    report = checkpoint_writer(checkpoint["db"], checkpoint["job_id"]) if checkpoint else None
    try:
        return run_config(payload["config"], payload.get("measurements") or {}, report)
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        raise RuntimeError(f"{type(cause).__name__}: {exc}") from None


async def drive_pipeline(fan: FanOut, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one pipeline config from the server, its work fanned out over the executor's
    workers (see :mod:`.distributed`); errors as :func:`run_pipeline_job`'s."""
    from ionworks.server.execution.executor import JobCanceled, WorkerError

    from .distributed import FanOutRemote
    from .runner import RemoteError, run_config

    checkpoint = payload.get("checkpoint")
    report = checkpoint_writer(checkpoint["db"], checkpoint["job_id"]) if checkpoint else None
    remote = FanOutRemote(fan, payload)
    measurements = payload.get("measurements") or {}
    try:
        return await fan.in_thread(
            lambda: run_config(payload["config"], measurements, report, remote)
        )
    except Exception as exc:
        if fan.canceled or isinstance(exc, JobCanceled):
            raise JobCanceled(fan.job_id) from None
        if isinstance(exc, RemoteError):
            raise WorkerError(str(exc)) from None
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        raise WorkerError(f"{type(cause).__name__}: {exc}") from None


#: The ``pipeline`` job function: runs in the server, its elements and DE populations in
#: sub-jobs on the executor's workers.
run_pipeline = ServerTask(drive_pipeline)


# --- server side: the job payload and the result handler -----------------------------


def _db_refs(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value.startswith("db:"):
        yield value[3:]
    elif isinstance(value, dict):
        for item in value.values():
            yield from _db_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _db_refs(item)


def _measurements(store: Store, owner_id: str, config: Any) -> dict[str, Any]:
    ids = sorted(set(_db_refs(config)))
    if not ids:
        return {}
    from ionworks.server.db.measurements import measurement_frames

    out = {}
    for mid in ids:
        try:
            series, steps = measurement_frames(store, owner_id, mid)
        except LookupError:
            raise LookupError(
                f"measurement {mid!r} not found (data reference 'db:{mid}')"
            ) from None
        out[mid] = {"time_series": str(series), "steps": None if steps is None else str(steps)}
    return out


def build_payload(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    row = pipelines.get_by_id(store, params["pipeline_id"])
    if row is None:
        raise LookupError(f"pipeline {params['pipeline_id']} was deleted")
    from ionworks.server.engine.stored import resolve_tree

    # stored parameterized models' ids become their specs: workers never read the store
    config = resolve_tree(store, row["owner_id"], json.loads(row["config"]))
    options = json.loads(row["options"])
    live = options.get("live_progress_updates")
    checkpoint = None
    if live is not False:  # None: the worker's default is to report progress (throttled)
        db = str(store.data_dir / "ionworks.sqlite3")
        checkpoint = {"db": db, "job_id": row["job_id"]}
    return {
        "config": config,
        "measurements": _measurements(store, row["owner_id"], config),
        "checkpoint": checkpoint,
    }


async def store_result(store: Store, params: dict[str, Any], result: dict[str, Any]) -> None:
    row = pipelines.get_by_id(store, params["pipeline_id"])
    if row is None:
        return
    traces = [
        r.pop("intermediate_results")
        for r in result.get("element_results", {}).values()
        if isinstance(r, dict) and "intermediate_results" in r
    ]

    final = json_safe({**result, "intermediate_results": traces[-1] if traces else []})
    jobs_db.set_result(store, row["job_id"], final)
