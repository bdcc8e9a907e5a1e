"""The ``simulation`` job type: the payload a worker gets, and storing what it returns.

The worker function is :func:`ionworks.server.execution.worker.run_simulation_job`; the result
files go to ``blobs/simulations/<id>/`` (parquet, plus Arrow stream copies of small tables).
"""

from __future__ import annotations

import json
from typing import Any, Final

import anyio.to_thread

from ionworks.server.db import simulations as simulations_db
from ionworks.server.db import templates as templates_db
from ionworks.server.db.store import ARROW_SUFFIX, Store
from ionworks.server.engine.stored import resolve
from ionworks.wire.jsonsafe import json_safe

__all__ = ["FOLDER", "build_payload", "store_result"]

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


async def store_result(store: Store, params: dict[str, Any], result: dict[str, Any]) -> None:
    sid = params["simulation_id"]
    if not simulations_db.exists(store, sid):
        return
    folder = FOLDER.format(sid)
    blobs = {"time_series.parquet": result["time_series"], "steps.parquet": result["steps"]}
    for name, content in (result.get("arrow") or {}).items():
        blobs[f"{name}{ARROW_SUFFIX}"] = content
    # fsyncs take milliseconds: in a thread, so the loop keeps serving and dispatching
    try:
        await anyio.to_thread.run_sync(store.write_blobs, folder, blobs)
    except FileNotFoundError:  # the simulation was deleted while its files were written
        if simulations_db.exists(store, sid):
            raise
    metrics = json_safe(dict(result.get("metrics") or {}))
    # only while its job still runs: not after a delete or a cancel during the write
    if not simulations_db.set_result(store, sid, folder, json.dumps(metrics, default=str)):
        store.delete_blobs(folder)
