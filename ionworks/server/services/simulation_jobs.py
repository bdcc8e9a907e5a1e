"""The ``simulation`` job type: the payload a worker gets, and storing what it returns.

The worker function is :func:`ionworks.server.execution.worker.run_simulation_job`; the result
files go to one pack, ``blobs/simulations/<id>`` (the two tables, Arrow streams or parquet for
large ones; see :mod:`ionworks.server.db.packs`). Data directories of older versions have a
folder of parquet files and Arrow stream copies there instead; both are read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import anyio.to_thread

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.store import ARROW_SUFFIX, Store
from ionworks.server.engine.stored import resolve
from ionworks.wire.arrow import ARROW_STREAM_MAGIC
from ionworks.wire.jsonsafe import json_safe

__all__ = ["FOLDER", "build_payload", "store_result", "store_results"]

#: Result folder of a simulation under the store's blob directory.
FOLDER: Final = "simulations/{}"


def build_payload(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    row = simulations_db.by_id(store, params["simulation_id"])
    if row is None:
        raise LookupError(f"simulation {params['simulation_id']} was deleted")
    model = json.loads(row["parameterized_model"])
    protocol = templates_db.protocol(store, row["template_id"])
    if protocol is None:
        raise LookupError(f"protocol {row['template_id']} was deleted")
    return {
        # a stored parameterized model's id becomes its spec: workers never read the store
        "parameterized_model": resolve(store, row["owner_id"], model),
        "protocol": protocol,
        "experiment_parameters": json.loads(row["experiment_parameters"]),
        "design_parameters": json.loads(row["design_parameters"]),
        "extra_variables": json.loads(row["extra_variables"]),
        "max_backward_jumps": row["max_backward_jumps"],
    }


def _blobs(result: dict[str, Any]) -> dict[str, bytes]:
    """The result files of a simulation: each table as the worker encoded it, an Arrow
    stream (``<table>.arrows``) or parquet (``<table>.parquet``)."""
    return {
        f"{t}{ARROW_SUFFIX}"
        if result[t].startswith(ARROW_STREAM_MAGIC)
        else f"{t}.parquet": result[t]
        for t in ("time_series", "steps")
    }


async def _write(store: Store, results: dict[str, dict[str, Any]]) -> None:
    """Write and sync the packs of simulations ``{sid: result}`` (in a thread, so the loop
    keeps serving). One deleted meanwhile leaves a pack that :func:`_record` removes."""
    packs = {FOLDER.format(sid): _blobs(result) for sid, result in results.items()}
    await anyio.to_thread.run_sync(store.write_packs, packs)


def _record(store: Store, sid: str, result: dict[str, Any]) -> bool:
    """Record the stored files and metrics, only while the simulation's job still runs (not
    after a delete or a cancel during the write: its files are removed then)."""
    folder = FOLDER.format(sid)
    metrics = json_safe(dict(result.get("metrics") or {}))
    if simulations_db.set_result(store, sid, folder, json.dumps(metrics, default=str)):
        return True
    store.delete_blobs(folder)
    return False


async def store_result(store: Store, params: dict[str, Any], result: dict[str, Any]) -> None:
    sid = params["simulation_id"]
    if simulations_db.exists(store, sid):
        await _write(store, {sid: result})
        _record(store, sid, result)


async def store_results(
    store: Store, results: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]
) -> None:
    """Store a group of finished simulation jobs ``(job_id, params, result)``: every file
    is written and synced first (in one thread, :meth:`Store.write_packs`), then one
    transaction records the results and marks those jobs completed: a job is never
    ``completed`` before its files are on disk, and a crash before the commit leaves them
    ``running`` (re-run at the next start)."""
    wanted = [
        (job_id, params["simulation_id"], result)
        for job_id, params, result in results
        if simulations_db.exists(store, params["simulation_id"])
    ]
    if not wanted:
        return
    await _write(store, {sid: result for _, sid, result in wanted})
    with store.transaction():
        for job_id, sid, result in wanted:
            if _record(store, sid, result):
                jobs_db.finish(store, job_id, "completed", None)
