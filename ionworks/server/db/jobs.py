"""The ``jobs`` table: the durable queue (pending → running → completed | failed | canceled).

The only module that writes ``jobs``: the runner (:mod:`ionworks.server.execution.jobs`)
claims and finishes jobs here, the routes insert and delete them here, and a worker process
stores its fit checkpoints through :func:`checkpoint_writer` (a connection of its own: SQLite
in WAL mode takes writers from several processes). Every state change is guarded by the
status it leaves, so a cancel, a claim and a finish never overwrite each other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple

from ionworks.server.db.store import Store, json_column, new_id, now_iso

__all__ = [
    "CANCELED",
    "ERROR_CODES",
    "JOB_FAILED",
    "MAX_ERROR_CHARS",
    "SERVER_ERROR",
    "TERMINAL",
    "WORKER_DIED",
    "NewJob",
    "cancel",
    "checkpoint_writer",
    "claim",
    "claim_many",
    "delete",
    "delete_of_project",
    "enqueue",
    "finish",
    "get",
    "insert_many",
    "job_dict",
    "list_for_owner",
    "new_job",
    "pending",
    "readable_error",
    "requeue_running",
    "running_of_project",
    "set_result",
    "status",
    "unclaim",
    "with_ids",
]

#: Statuses a job never leaves.
TERMINAL: Final = ("completed", "failed", "canceled")

#: The ``error_code`` of a failed or canceled job (docs/spec/wire.md §5), one of
#: :data:`ERROR_CODES`; ``error`` is then one readable line (:func:`readable_error`).
#: The job's function raised in its worker; ``error`` is the exception's message.
JOB_FAILED: Final = "job_failed"
#: The worker process running the job exited (crashed, was killed) or misbehaved.
WORKER_DIED: Final = "worker_died"
#: The server itself failed while preparing, running or storing the job (a bug: see the log).
SERVER_ERROR: Final = "server_error"
#: A client canceled the job.
CANCELED: Final = "canceled"
ERROR_CODES: Final = (JOB_FAILED, WORKER_DIED, SERVER_ERROR, CANCELED)
#: A job's ``error`` is cut to this many characters.
MAX_ERROR_CHARS: Final = 2000

_INSERT: Final = (
    "INSERT INTO jobs(id, owner_id, job_type, status, priority, params, created_at, "
    "updated_at, seq) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
)
#: The project's jobs (parameters: project id, owner id, project id, owner id): those of its
#: simulations and of its pipelines.
_OF_PROJECT: Final = (
    "(id IN (SELECT job_id FROM simulations WHERE project_id = ? AND owner_id = ?) OR "
    "id IN (SELECT job_id FROM pipelines WHERE project_id = ? AND owner_id = ?))"
)
#: The state changes, each guarded by the status it leaves (parameters: their values, then
#: the time twice and the job's id; see :func:`_stamped`).
_CLAIM: Final = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?, "
    "started_at = ? WHERE id = ? AND status = 'pending'"
)
_UNCLAIM: Final = (
    "UPDATE jobs SET status = 'pending', attempts = MAX(attempts - 1, 0), started_at = NULL, "
    "updated_at = ? WHERE id = ? AND status = 'running'"
)
_FINISH: Final = (
    "UPDATE jobs SET status = ?, error = ?, error_code = ?, updated_at = ?, finished_at = ? "
    "WHERE id = ? AND status = 'running'"
)
_CANCEL: Final = (
    "UPDATE jobs SET status = 'canceled', error = 'the job was canceled', "
    f"error_code = '{CANCELED}', updated_at = ?, finished_at = ? "
    "WHERE id = ? AND status IN ('pending', 'running')"
)
_TRACEBACK: Final = "Traceback (most recent call last)"
#: Rows per ``IN (...)`` query (SQLite bounds the number of parameters).
_CHUNK: Final = 500


class NewJob(NamedTuple):
    """A pending job to insert (:func:`new_job`), in the column order of the insert."""

    id: str
    owner_id: str
    job_type: str
    priority: int
    params: str
    created_at: str
    updated_at: str
    seq: int


def new_job(
    owner_id: str, job_type: str, params: dict[str, Any], seq: int, *, priority: int = 5
) -> NewJob:
    """A new pending job with a fresh id (not yet stored)."""
    ts = now_iso()
    return NewJob(new_id(), owner_id, job_type, priority, json.dumps(params), ts, ts, seq)


def insert_many(db: sqlite3.Connection, jobs: Iterable[NewJob]) -> None:
    """Insert pending jobs on ``db`` (the store's connection or a :meth:`Store.bulk_writer`
    one, in the caller's transaction)."""
    db.executemany(_INSERT, jobs)


def enqueue(
    store: Store, owner_id: str, job_type: str, params: dict[str, Any], *, priority: int = 5
) -> str:
    """Store one pending job; returns its id."""
    job = new_job(owner_id, job_type, params, store.next_seq(), priority=priority)
    store.execute(_INSERT, job)
    return job.id


def get(store: Store, job_id: str, owner_id: str | None = None) -> sqlite3.Row | None:
    """The job's row (only if ``owner_id`` owns it, when given)."""
    if owner_id is None:
        return store.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return store.one("SELECT * FROM jobs WHERE id = ? AND owner_id = ?", (job_id, owner_id))


def status(store: Store, job_id: str) -> str | None:
    """The job's status, or None if it is gone."""
    row = store.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else str(row["status"])


def with_ids(store: Store, ids: Sequence[str]) -> dict[str, sqlite3.Row]:
    """The rows of the jobs with these ids that exist, by id."""
    out: dict[str, sqlite3.Row] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for job in store.query(f"SELECT * FROM jobs WHERE id IN ({marks})", chunk):
            out[job["id"]] = job
    return out


def list_for_owner(store: Store, owner_id: str, limit: int, offset: int) -> list[sqlite3.Row]:
    """A page of the owner's jobs, newest first."""
    return store.query(
        "SELECT * FROM jobs WHERE owner_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
        (owner_id, limit, offset),
    )


def pending(store: Store, limit: int) -> list[sqlite3.Row]:
    """Up to ``limit`` pending jobs in dispatch order: priority, then first attempts before
    re-attempts (jobs re-queued after a restart wait behind work submitted since), then age
    (the ``jobs_dispatch`` index in this order)."""
    return store.query(
        "SELECT * FROM jobs WHERE status = 'pending' "
        "ORDER BY priority DESC, attempts > 0, seq LIMIT ?",
        (limit,),
    )


def _stamped(store: Store, sql: str, *values: Any, job_id: str) -> bool:
    """Run ``sql``, an UPDATE of one job whose last parameters are the time twice and the
    job's id; whether it changed the job."""
    ts = now_iso()
    return bool(store.execute(sql, (*values, ts, ts, job_id)))


def claim(store: Store, job_id: str) -> bool:
    """Mark a pending job running (one more attempt); False if it is no longer pending."""
    return _stamped(store, _CLAIM, job_id=job_id)


def claim_many(store: Store, job_ids: Sequence[str]) -> list[str]:
    """Mark pending jobs running in one transaction; the ids that were still pending (in the
    given order: the caller passes them in dispatch order)."""
    ts = now_iso()
    with store.transaction() as db:
        return [job_id for job_id in job_ids if db.execute(_CLAIM, (ts, ts, job_id)).rowcount]


def unclaim(store: Store, job_id: str) -> bool:
    """Put a running job that never began (its worker went away first) back to pending, as
    if it had not been claimed; False if it was not running (canceled meanwhile)."""
    return bool(store.execute(_UNCLAIM, (now_iso(), job_id)))


def finish(
    store: Store, job_id: str, final: str, error: str | None, error_code: str | None = None
) -> bool:
    """End a running job with status ``final``; False if it was not running (canceled or
    deleted meanwhile). A job that did not complete gets an :data:`ERROR_CODES` code
    (``error_code``, :data:`JOB_FAILED` if none is given) and its ``error`` made readable
    (:func:`readable_error`); a completed job gets neither."""
    if final == "completed":
        error = error_code = None
    else:
        error_code = error_code or JOB_FAILED
        if error_code not in ERROR_CODES:
            raise ValueError(f"unknown job error code {error_code!r}; one of {ERROR_CODES}")
        error = readable_error(error)
    return _stamped(store, _FINISH, final, error, error_code, job_id=job_id)


def readable_error(text: str | None) -> str:
    """One line for a job's ``error``: ``text`` without any Python traceback in it (of a bare
    traceback only its last line, the exception), its lines joined by spaces, at most
    :data:`MAX_ERROR_CHARS` characters."""
    head, marker, tail = (text or "").partition(_TRACEBACK)
    lines = [part.strip() for part in (head if head.strip() or not marker else tail).splitlines()]
    lines = [part for part in lines if part]
    line = " ".join(lines if head.strip() or not marker else lines[-1:]) or "unknown error"
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def cancel(store: Store, job_id: str) -> bool:
    """Cancel a pending or running job; False if it had already ended (or is gone)."""
    return _stamped(store, _CANCEL, job_id=job_id)


def requeue_running(store: Store) -> int:
    """Put every running job back to pending (at start: they were interrupted); returns how
    many."""
    return store.execute(
        "UPDATE jobs SET status = 'pending', updated_at = ? WHERE status = 'running'",
        (now_iso(),),
    )


def set_result(store: Store, job_id: str, result: Any) -> None:
    """Store the job's final ``result`` (JSON; values it cannot encode as text)."""
    store.execute(
        "UPDATE jobs SET result = ? WHERE id = ?", (json.dumps(result, default=str), job_id)
    )


def delete(store: Store, job_id: str) -> None:
    store.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def running_of_project(store: Store, project_id: str, owner_id: str) -> list[str]:
    """The ids of the running jobs of the project's simulations and pipelines."""
    args = (project_id, owner_id) * 2
    rows = store.query(f"SELECT id FROM jobs WHERE status = 'running' AND {_OF_PROJECT}", args)
    return [str(row["id"]) for row in rows]


def delete_of_project(store: Store, project_id: str, owner_id: str) -> None:
    """Delete the jobs of the project's simulations and pipelines (before those rows)."""
    store.execute(f"DELETE FROM jobs WHERE {_OF_PROJECT}", (project_id, owner_id) * 2)


def checkpoint_writer(db_path: str, job_id: str) -> Callable[[dict[str, Any]], None]:
    """A function that stores a checkpoint as the running job's ``result`` (best effort), on
    a connection of its own to the database at ``db_path`` (for worker processes)."""

    def write(checkpoint: dict[str, Any]) -> None:
        try:
            text = json.dumps({"status": "running", **checkpoint}, allow_nan=False, default=str)
        except ValueError:
            return
        try:
            with sqlite3.connect(db_path, timeout=1.0) as db:
                db.execute(
                    "UPDATE jobs SET result = ? WHERE id = ? AND status = 'running'",
                    (text, job_id),
                )
            db.close()
        except sqlite3.Error:
            pass  # progress is advisory; never fail the fit for it

    return write


def job_dict(row: sqlite3.Row) -> dict[str, Any]:
    """The wire record of a job."""
    state = row["status"]
    return {
        "job_id": row["id"],
        "id": row["id"],
        "status": state,
        "job_type": row["job_type"],
        "priority": row["priority"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "is_terminal": state in TERMINAL,
        "is_failed": state in ("failed", "canceled"),
        "error": row["error"],
        "error_code": row["error_code"],
        "result": json_column(row["result"]),
        "params": json_column(row["params"], {}),
    }
