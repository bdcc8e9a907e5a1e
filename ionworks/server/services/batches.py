"""Simulation batches: every point of a batch request, counted against the server's limit
before anything is expanded, and the rows written in one transaction (both run in a worker
thread, off the event loop).

A point identical to an existing run of the owner (same project, template, parameterized
model, experiment and design parameters, output variables, backward-jump bound and study:
:func:`run_key`) that is pending, running or completed is not run again: the batch answers
that simulation with ``already_existed: true`` (wire.md §4.2). Identical points within one
batch are one simulation.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ionworks import doe as doe_module
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import simulations as simulations_db
from ionworks.server.db.store import Store, new_id, now_iso
from ionworks.server.db.templates import digest_of

__all__ = ["MAX_DOE_VALUES", "BatchError", "combinations", "insert_batch", "numbers", "run_key"]


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


def _plain_numbers(values: dict[str, Any]) -> dict[str, Any]:
    """Numbers as floats (``1`` and ``1.0`` are the same parameter value); text as it is."""
    return {
        key: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for key, v in values.items()
    }


def run_key(
    where: tuple[str, str, str | None],
    fields: tuple[str, str, int],
    params: dict[str, Any],
    design: dict[str, Any],
) -> str:
    """What makes two runs of one owner identical: ``where`` (project, template, study), the
    ``fields`` (model JSON, output variables JSON, backward-jump bound) and the point."""
    model, extra, jumps = fields
    return digest_of(
        [
            *where,
            json.loads(model),
            json.loads(extra),
            jumps,
            _plain_numbers(params),
            _plain_numbers(design),
        ]
    )


def insert_batch(
    store: Store,
    owner_id: str,
    template_id: str,
    project_id: str,
    study_id: str | None,
    fields: tuple[str, str, int],
    combos: list[tuple[dict[str, Any], dict[str, Any]]],
) -> list[dict[str, Any]]:
    """One simulation row and one job row per new point, in one transaction on a connection
    of its own (runs in a worker thread); a point with an existing run answers that one."""
    model, extra, jumps = fields
    keys = [run_key((project_id, template_id, study_id), fields, p, d) for p, d in combos]
    first = {key: i for i, key in reversed(list(enumerate(keys)))}  # identical points: one run
    seq = store.reserve_seq(2 * len(first))
    ts = now_iso()
    jobs, sims, new = [], [], {}
    for n, (key, i) in enumerate(sorted(first.items(), key=lambda item: item[1])):
        params, design = combos[i]
        sid = new_id()
        job = jobs_db.new_job(owner_id, "simulation", {"simulation_id": sid}, seq + 2 * n)
        jobs.append(job)
        sims.append(
            simulations_db.NewSimulation(
                sid, owner_id, project_id, template_id, job.id, model, json.dumps(params),
                json.dumps(design), extra, jumps, study_id, ts, ts, seq + 2 * n + 1, key,
            )
        )  # fmt: skip
        new[key] = simulations_db.Run(sid, job.id)
    found = simulations_db.insert_batch(store, jobs, sims)
    out = []
    for key in keys:
        run = found.get(key, new[key])
        out.append(
            {
                "simulation_id": run.simulation_id,
                "job_id": run.job_id,
                "already_existed": key in found,
            }
        )
    return out
