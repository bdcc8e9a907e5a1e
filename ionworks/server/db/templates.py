"""The ``templates`` table: validated protocol (UCP) texts, found again by their digest.

A template belongs to its owner, not to one project: deleting a project keeps its templates
(:func:`detach_project`).
"""

from __future__ import annotations

import sqlite3

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = ["detach_project", "find_by_digest", "get", "insert", "protocol"]


def find_by_digest(store: Store, owner_id: str, digest: str) -> str | None:
    """The id of the owner's template with this content digest, if there is one."""
    row = store.one(
        "SELECT id FROM templates WHERE owner_id = ? AND digest = ?", (owner_id, digest)
    )
    return None if row is None else str(row["id"])


def insert(
    store: Store, owner_id: str, project_id: str | None, name: str, protocol: str, digest: str
) -> str:
    """Store a new template; returns its id."""
    tid = new_id()
    store.execute(
        "INSERT INTO templates(id, owner_id, project_id, name, protocol, digest, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tid, owner_id, project_id, name, protocol, digest, now_iso()),
    )
    return tid


def get(store: Store, owner_id: str, template_id: str) -> sqlite3.Row | None:
    """The owner's template, or None."""
    return store.one(
        "SELECT * FROM templates WHERE id = ? AND owner_id = ?", (template_id, owner_id)
    )


def protocol(store: Store, template_id: str) -> str | None:
    """The protocol text of a template (any owner's: for a job already checked), or None."""
    row = store.one("SELECT protocol FROM templates WHERE id = ?", (template_id,))
    return None if row is None else str(row["protocol"])


def detach_project(store: Store, project_id: str, owner_id: str) -> None:
    """Tie the project's templates to no project (they are kept when it is deleted)."""
    store.execute(
        "UPDATE templates SET project_id = NULL WHERE project_id = ? AND owner_id = ?",
        (project_id, owner_id),
    )
