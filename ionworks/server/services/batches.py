"""Simulation batches: every point of a batch request, counted against the server's limit
before anything is expanded, and the rows written in one transaction (both run in a worker
thread, off the event loop)."""

from __future__ import annotations

import json
import math
from typing import Any

from ionworks import doe as doe_module
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db.store import Store, new_id, now_iso

__all__ = ["MAX_DOE_VALUES", "BatchError", "combinations", "insert_batch", "numbers"]


class BatchError(ValueError):
    """A batch request that cannot be run as sent (the message says why; HTTP 422)."""


def numbers(value: Any, what: str) -> dict[str, Any]:
    """An object of name -> finite number (numeric strings such as ``"0.6"`` are kept as
    they are: UCP reads them)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BatchError(f"'{what}' must be an object of name -> number")
    for key, item in value.items():
        number: Any = item
        if isinstance(item, str):
            try:
                number = float(item)
            except ValueError:
                number = None
        if isinstance(item, bool) or not isinstance(number, int | float):
            raise BatchError(f"'{what}[{key!r}]' must be a number, got {item!r}")
        if not math.isfinite(number):
            raise BatchError(f"'{what}[{key!r}]' must be a finite number, got {item!r}")
    return dict(value)


#: Parameter values one DOE expansion may produce (rows × simulations).
MAX_DOE_VALUES = 1_000_000


def _too_many(count: int, cap: int, what: str) -> None:
    if count > cap:
        raise BatchError(
            f"this request would create {count} simulations ({what}); one batch creates at "
            f"most {cap} (the server's max_batch_simulations). Split it into several batches.",
        )


def combinations(body: dict[str, Any], cap: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (experiment parameters, design parameters) point of a batch request, counted
    against ``cap`` before anything is expanded (runs in a worker thread)."""
    sets = body.get("experiment_parameter_sets") or [{}]
    if not isinstance(sets, list) or not sets:
        raise BatchError("'experiment_parameter_sets' must be a non-empty list")
    conditions = body.get("conditions")
    doe = body.get("design_parameters_doe")
    if conditions is not None and doe is not None:
        raise BatchError("'conditions' and 'design_parameters_doe' are mutually exclusive")
    if conditions is None:
        _too_many(len(sets), cap, f"{len(sets)} experiment_parameter_sets")
    base_sets = [numbers(s, f"experiment_parameter_sets[{i}]") for i, s in enumerate(sets)]
    if conditions is not None:
        if not isinstance(conditions, list) or not conditions:
            raise BatchError("'conditions' must be a non-empty list")
        _too_many(len(conditions), cap, f"{len(conditions)} conditions")
        combos = []
        for i, cond in enumerate(conditions):
            if not isinstance(cond, dict):
                raise BatchError(f"conditions[{i}] must be an object")
            params = numbers(
                cond.get("experiment_parameters"), f"conditions[{i}].experiment_parameters"
            )
            design = numbers(cond.get("design_parameters"), f"conditions[{i}].design_parameters")
            combos.append(({**base_sets[0], **params}, design))
        return combos
    designs: list[dict[str, Any]] = [{}]
    if doe is not None:
        try:
            points = doe_module.count_simulations(doe)
        except ValueError as exc:
            raise BatchError(f"invalid design_parameters_doe: {exc}") from None
        _too_many(
            points * len(base_sets),
            cap,
            f"{points} design points × {len(base_sets)} experiment_parameter_sets",
        )
        rows = len(doe["rows"])
        if rows * points > MAX_DOE_VALUES:
            raise BatchError(
                f"design_parameters_doe would produce {rows} rows × {points} points = "
                f"{rows * points} values; the limit is {MAX_DOE_VALUES}",
            )
        designs = doe_module.expand_doe(doe)
    return [(dict(s), dict(d)) for s in base_sets for d in designs]


def insert_batch(
    store: Store,
    owner_id: str,
    template_id: str,
    project_id: str,
    study_id: str | None,
    fields: tuple[str, str, int],
    combos: list[tuple[dict[str, Any], dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One simulation row and one job row per point, in one transaction on a connection of
    its own (runs in a worker thread)."""
    model, extra, jumps = fields
    seq = store.reserve_seq(2 * len(combos))
    ts = now_iso()
    jobs, sims, out = [], [], []
    for i, (params, design) in enumerate(combos):
        sid = new_id()
        job = jobs_db.new_job(owner_id, "simulation", {"simulation_id": sid}, seq + 2 * i)
        jobs.append(job)
        sims.append(
            simulations_db.NewSimulation(
                sid, owner_id, project_id, template_id, job.id, model, json.dumps(params),
                json.dumps(design), extra, jumps, study_id, ts, ts, seq + 2 * i + 1,
            )
        )  # fmt: skip
        out.append({"simulation_id": sid, "job_id": job.id, "already_existed": False})
    simulations_db.insert_batch(store, jobs, sims)
    return out
