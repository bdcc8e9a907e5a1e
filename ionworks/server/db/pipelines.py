"""The ``pipelines`` table: pipelines and simple pipelines (``kind``), each run as one
``pipeline`` job (``job_id``). Every read for a request filters by owner and kind."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ionworks.server.db.store import Store, now_iso

__all__ = [
    "UPDATABLE",
    "create",
    "delete",
    "delete_in_project",
    "get",
    "get_by_id",
    "list_rows",
    "update",
]

#: The fields a client may change.
UPDATABLE = ("name", "description")


def get(store: Store, owner_id: str, kind: str, pipeline_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM pipelines WHERE id = ? AND owner_id = ? AND kind = ?",
        (pipeline_id, owner_id, kind),
    )


def get_by_id(store: Store, pipeline_id: str) -> sqlite3.Row | None:
    """The record of a pipeline job's ``pipeline_id`` (the job runs for the record's owner)."""
    return store.one("SELECT * FROM pipelines WHERE id = ?", (pipeline_id,))


def list_rows(
    store: Store, owner_id: str, kind: str, project_id: str | None = None
) -> list[sqlite3.Row]:
    """The owner's records of one kind, oldest first."""
    where, args = "owner_id = ? AND kind = ?", [owner_id, kind]
    if project_id:
        where += " AND project_id = ?"
        args.append(project_id)
    return store.query(f"SELECT * FROM pipelines WHERE {where} ORDER BY seq", args)


def create(
    store: Store,
    pipeline_id: str,
    owner_id: str,
    kind: str,
    project_id: str,
    *,
    name: str | None,
    description: str | None,
    config: dict[str, Any],
    options: dict[str, Any],
    job_id: str,
    created_at: str,
) -> None:
    """Write a record (call in the transaction that enqueues its job)."""
    store.execute(
        "INSERT INTO pipelines(id, owner_id, kind, project_id, name, description, config, "
        "options, job_id, created_at, updated_at, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (pipeline_id, owner_id, kind, project_id, name, description, json.dumps(config),
         json.dumps(options), job_id, created_at, created_at, store.next_seq()),
    )  # fmt: skip


def update(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Set the :data:`UPDATABLE` fields given in ``changes`` (the caller checked ownership
    and values)."""
    store.execute(
        "UPDATE pipelines SET name = ?, description = ?, updated_at = ? WHERE id = ?",
        (*(changes.get(f, row[f]) for f in UPDATABLE), now_iso(), row["id"]),
    )


def delete(store: Store, pipeline_id: str) -> None:
    """Delete the record (its job is the caller's)."""
    store.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,))


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's records (delete their jobs first: they are found through here)."""
    store.execute(
        "DELETE FROM pipelines WHERE project_id = ? AND owner_id = ?", (project_id, owner_id)
    )
