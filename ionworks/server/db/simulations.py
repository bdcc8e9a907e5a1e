"""The ``simulations`` table: one row per simulation, its status is its job's (``job_id``).

A batch's simulation rows and their job rows are inserted together (:func:`insert_batch`);
a result is recorded only while the simulation's job still runs (:func:`set_result`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Final, NamedTuple

import attrs

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store, now_iso

__all__ = [
    "REUSABLE",
    "NewSimulation",
    "Run",
    "SimulationFilter",
    "by_id",
    "count_in_study",
    "count_with_template",
    "delete",
    "delete_of_project",
    "exists",
    "get",
    "ids_of_project",
    "insert_batch",
    "leave_studies_of_project",
    "leave_study",
    "page",
    "remove_from_study",
    "set_result",
    "with_job_status",
]

#: ``s`` is in the study (parameters: study id twice): created with it, or assigned to it
#: later (``study_simulations``).
_IN_STUDY: Final = (
    "(s.study_id = ? OR s.id IN (SELECT simulation_id FROM study_simulations WHERE study_id = ?))"
)


class NewSimulation(NamedTuple):
    """A simulation row to insert, in the column order of the insert (JSON columns as text)."""

    id: str
    owner_id: str
    project_id: str
    template_id: str
    job_id: str
    parameterized_model: str
    experiment_parameters: str
    design_parameters: str
    extra_variables: str
    max_backward_jumps: int
    study_id: str | None
    created_at: str
    updated_at: str
    seq: int
    #: What makes two runs identical (:func:`ionworks.server.services.batches.run_key`).
    run_key: str | None = None


class Run(NamedTuple):
    """An existing simulation an identical request gets back."""

    simulation_id: str
    job_id: str


#: The job statuses whose simulation an identical request gets back (a failed or canceled
#: one runs again).
REUSABLE: Final = ("pending", "running", "completed")
#: Run keys looked up per query.
_KEYS_PER_QUERY: Final = 500


@attrs.frozen
class SimulationFilter:
    """Which of an owner's simulations a page holds (None: any)."""

    project_id: str | None = None
    template_id: str | None = None
    study_id: str | None = None
    parameterized_model_id: str | None = None
    job_statuses: tuple[str, ...] | None = None


def insert_batch(
    store: Store, jobs: Sequence[jobs_db.NewJob], simulations: Sequence[NewSimulation]
) -> dict[str, Run]:
    """Insert the job rows and the simulation rows in one transaction on a connection of its
    own (:meth:`Store.bulk_writer`: call it from a worker thread), except those of a
    simulation whose ``run_key`` an existing run of its owner has (:func:`_existing_runs`,
    read in the same transaction); returns those runs by run key."""
    with store.bulk_writer() as db:
        found = _existing_runs(db, simulations)
        if found:
            simulations = [s for s in simulations if s.run_key not in found]
            keep = {s.job_id for s in simulations}
            jobs = [j for j in jobs if j.id in keep]
        jobs_db.insert_many(db, jobs)
        db.executemany(
            "INSERT INTO simulations(id, owner_id, project_id, template_id, job_id, "
            "parameterized_model, experiment_parameters, design_parameters, extra_variables, "
            "max_backward_jumps, study_id, created_at, updated_at, seq, run_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            simulations,
        )
    return found


def _existing_runs(db: sqlite3.Connection, simulations: Sequence[NewSimulation]) -> dict[str, Run]:
    """The newest existing simulation of the same owner for each ``run_key`` among
    ``simulations``, if its job is :data:`REUSABLE`."""
    keys = sorted({s.run_key for s in simulations if s.run_key is not None})
    if not keys:
        return {}
    owner_id = simulations[0].owner_id
    found: dict[str, Run] = {}
    statuses = ",".join(f"'{status}'" for status in REUSABLE)
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        rows = db.execute(
            # by run key, not by scanning all the owner's simulations (the planner's choice)
            "SELECT s.run_key, s.id, s.job_id FROM simulations s INDEXED BY simulations_run_key "
            f"JOIN jobs j ON j.id = s.job_id "
            f"WHERE s.owner_id = ? AND s.run_key IN ({','.join('?' * len(chunk))}) "
            f"AND j.status IN ({statuses}) ORDER BY s.seq",
            [owner_id, *chunk],
        ).fetchall()
        found.update({key: Run(sid, job_id) for key, sid, job_id in rows})  # newest last
    return found


def count_with_template(store: Store, owner_id: str, template_id: str) -> int:
    """How many of the owner's simulations run this template."""
    row = store.one(
        "SELECT COUNT(*) n FROM simulations WHERE template_id = ? AND owner_id = ?",
        (template_id, owner_id),
    )
    return int(row["n"]) if row else 0


def get(store: Store, owner_id: str, sid: str, columns: str = "*") -> sqlite3.Row | None:
    """``columns`` (a constant of the caller's) of the owner's simulation, or None."""
    return store.one(
        f"SELECT {columns} FROM simulations WHERE id = ? AND owner_id = ?", (sid, owner_id)
    )


def by_id(store: Store, sid: str) -> sqlite3.Row | None:
    """The simulation's row whoever owns it (for its job), or None."""
    return store.one("SELECT * FROM simulations WHERE id = ?", (sid,))


def exists(store: Store, sid: str) -> bool:
    return store.one("SELECT id FROM simulations WHERE id = ?", (sid,)) is not None


def set_result(store: Store, sid: str, folder: str, metrics: str) -> bool:
    """Record the result's folder and metrics (JSON text), only while the simulation's job
    still runs (not after a delete or a cancel); False if it did not."""
    return bool(
        store.execute(
            "UPDATE simulations SET storage_folder = ?, metrics = ?, updated_at = ? "
            "WHERE id = ? AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = simulations.job_id "
            "AND jobs.status = 'running')",
            (folder, metrics, now_iso(), sid),
        )
    )


def delete(store: Store, sid: str) -> None:
    store.execute("DELETE FROM simulations WHERE id = ?", (sid,))


def page(
    store: Store, owner_id: str, where: SimulationFilter, limit: int, offset: int
) -> tuple[int, list[sqlite3.Row]]:
    """The number of the owner's simulations that match, and ``limit`` of them from
    ``offset``, newest first."""
    conditions, args = ["s.owner_id = ?"], [owner_id]
    for column, value in (("s.project_id", where.project_id), ("s.template_id", where.template_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            args.append(value)
    if where.study_id is not None:
        conditions.append(_IN_STUDY)
        args.extend([where.study_id, where.study_id])
    if where.parameterized_model_id is not None:
        conditions.append("s.parameterized_model = ?")
        args.append(json.dumps(where.parameterized_model_id))
    if where.job_statuses is not None:
        conditions.append(f"j.status IN ({','.join('?' * len(where.job_statuses))})")
        args.extend(where.job_statuses)
    sql_where = " AND ".join(conditions)
    total = store.one(
        f"SELECT COUNT(*) n FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE {sql_where}",
        args,
    )
    rows = store.query(
        f"SELECT s.* FROM simulations s JOIN jobs j ON j.id = s.job_id WHERE {sql_where} "
        f"ORDER BY s.seq DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    return (int(total["n"]) if total else 0), rows


def with_job_status(
    store: Store, owner_id: str, ids: Sequence[str], columns: str = "s.*"
) -> list[sqlite3.Row]:
    """The owner's simulations among ``ids`` (``columns`` of them; ``s.id, s.project_id``
    for a cheap status poll) with their job's ``status``, ``job_error``, ``error_code`` and
    ``job_updated`` (at most a thousand ids: one query)."""
    marks = ",".join("?" * len(ids)) or "NULL"
    return store.query(
        f"SELECT {columns}, j.status, j.error AS job_error, j.error_code, "
        f"j.updated_at AS job_updated FROM simulations s JOIN jobs j ON j.id = s.job_id "
        f"WHERE +s.owner_id = ? AND s.id IN ({marks})",  # +: look up by id, not by owner
        [owner_id, *ids],
    )


def count_in_study(store: Store, owner_id: str, study_id: str) -> int:
    """How many of the owner's simulations are in the study."""
    row = store.one(
        f"SELECT COUNT(*) n FROM simulations s WHERE s.owner_id = ? AND {_IN_STUDY}",
        (owner_id, study_id, study_id),
    )
    return int(row["n"]) if row else 0


def leave_study(store: Store, study_id: str) -> None:
    """The simulations created with the study no longer name it (it is being deleted)."""
    store.execute("UPDATE simulations SET study_id = NULL WHERE study_id = ?", (study_id,))


def remove_from_study(store: Store, owner_id: str, study_id: str, sid: str) -> int:
    """The owner's simulation no longer names the study it was created with; returns how
    many rows changed (0 or 1)."""
    return store.execute(
        "UPDATE simulations SET study_id = NULL WHERE id = ? AND study_id = ? AND owner_id = ?",
        (sid, study_id, owner_id),
    )


def leave_studies_of_project(store: Store, project_id: str, owner_id: str) -> None:
    """Simulations (of any project) created with one of the project's studies no longer
    name it (the project is being deleted)."""
    store.execute(
        "UPDATE simulations SET study_id = NULL WHERE study_id IN "
        "(SELECT id FROM studies WHERE project_id = ? AND owner_id = ?)",
        (project_id, owner_id),
    )


def ids_of_project(store: Store, project_id: str, owner_id: str) -> list[str]:
    rows = store.query(
        "SELECT id FROM simulations WHERE project_id = ? AND owner_id = ?", (project_id, owner_id)
    )
    return [str(row["id"]) for row in rows]


def delete_of_project(store: Store, project_id: str, owner_id: str) -> None:
    """Delete the project's simulations (their jobs first: :func:`jobs.delete_of_project`)."""
    store.execute(
        "DELETE FROM simulations WHERE project_id = ? AND owner_id = ?", (project_id, owner_id)
    )
