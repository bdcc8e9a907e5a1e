"""The ``projects`` table: a key's projects (one of them its default project) and the
deletion of a project with everything in it that lives in the tables of this package."""

from __future__ import annotations

import sqlite3
from typing import Any

from ionworks.server.db import (
    cells,
    measurements,
    members,
    models,
    parameterized_models,
    pipelines,
    studies,
    uploads,
)
from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "UPDATABLE",
    "create",
    "default_project",
    "delete_rows",
    "get",
    "list_for_owner",
    "project_dict",
    "update",
]

#: The fields a client may change.
UPDATABLE = ("name", "description")


def project_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "organization_id": row["owner_id"],
        "is_default": bool(row["is_default"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def get(store: Store, owner_id: str, project_id: str) -> dict[str, Any] | None:
    """The owner's project, or None (unknown id or another owner's)."""
    row = store.one("SELECT * FROM projects WHERE id = ? AND owner_id = ?", (project_id, owner_id))
    return None if row is None else project_dict(row)


def default_project(store: Store, owner_id: str) -> dict[str, Any]:
    """The owner's default project, created on first use."""
    row = store.one("SELECT * FROM projects WHERE owner_id = ? AND is_default = 1", (owner_id,))
    if row is None:
        pid, ts = new_id(), now_iso()
        store.execute(
            "INSERT INTO projects(id, owner_id, name, description, is_default, created_at, "
            "updated_at) VALUES (?, ?, 'Default project', 'Created automatically', 1, ?, ?)",
            (pid, owner_id, ts, ts),
        )
        row = store.one("SELECT * FROM projects WHERE id = ?", (pid,))
    assert row is not None
    return project_dict(row)


def list_for_owner(
    store: Store, owner_id: str, *, is_default: bool | None = None
) -> list[dict[str, Any]]:
    """The owner's projects, the default project first (created if missing), then the
    others oldest first; ``is_default``: only the default project (True) or only the others
    (False)."""
    default_project(store, owner_id)
    where, args = "owner_id = ?", list[Any]([owner_id])
    if is_default is not None:
        where += " AND is_default = ?"
        args.append(int(is_default))
    rows = store.query(
        f"SELECT * FROM projects WHERE {where} ORDER BY is_default DESC, created_at, rowid", args
    )
    return [project_dict(r) for r in rows]


def create(store: Store, owner_id: str, name: str, description: str | None) -> str:
    """A new (not default) project; the owner's default project is created first if missing,
    so it stays the first one."""
    default_project(store, owner_id)
    pid, ts = new_id(), now_iso()
    store.execute(
        "INSERT INTO projects(id, owner_id, name, description, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (pid, owner_id, name, description, ts, ts),
    )
    return pid


def update(store: Store, project: dict[str, Any], changes: dict[str, Any]) -> None:
    """Set the :data:`UPDATABLE` fields given in ``changes`` (the caller checked ownership
    and values); nothing is written if there are none."""
    if any(field in changes for field in UPDATABLE):
        name, description = (changes.get(f, project[f]) for f in UPDATABLE)
        store.execute(
            "UPDATE projects SET name = ?, description = ?, updated_at = ? WHERE id = ?",
            (name, description, now_iso(), project["id"]),
        )


def delete_rows(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project and its rows in this package's tables, children first: pipelines,
    studies (their memberships go with them: ON DELETE CASCADE), measurements, unconfirmed
    uploads of its cell instances, cell instances, cell specifications, memberships, then the
    project.
    Call inside a transaction; the rows of jobs, simulations and templates are the caller's
    (delete them first: jobs of the project's pipelines are found through ``pipelines``)."""
    pipelines.delete_in_project(store, owner_id, project_id)
    studies.delete_in_project(store, owner_id, project_id)
    measurements.delete_in_project(store, owner_id, project_id)
    uploads.delete_in_project(store, owner_id, project_id)
    cells.delete_in_project(store, owner_id, project_id)
    parameterized_models.delete_in_project(store, owner_id, project_id)
    models.delete_in_project(store, owner_id, project_id)
    members.delete_in_project(store, project_id)
    store.execute("DELETE FROM projects WHERE id = ? AND owner_id = ?", (project_id, owner_id))
