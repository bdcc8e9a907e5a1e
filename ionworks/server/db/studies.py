"""The ``studies`` table and study membership (``study_simulations``,
``study_measurements``: rows vanish with the study, the simulation or the measurement,
ON DELETE CASCADE). Every read of a study filters by owner and project."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "add_member",
    "create",
    "delete",
    "delete_in_project",
    "get",
    "list_in_project",
    "measurement_count",
    "measurements",
    "project_of",
    "remove_member",
    "update",
]


def get(store: Store, owner_id: str, project_id: str, study_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM studies WHERE id = ? AND project_id = ? AND owner_id = ?",
        (study_id, project_id, owner_id),
    )


def project_of(store: Store, owner_id: str, study_id: str) -> str | None:
    """The project of the owner's study with this id, or None if the owner has none."""
    row = store.one(
        "SELECT project_id FROM studies WHERE id = ? AND owner_id = ?", (study_id, owner_id)
    )
    return None if row is None else str(row["project_id"])


def list_in_project(store: Store, owner_id: str, project_id: str) -> list[sqlite3.Row]:
    """The project's studies, newest first."""
    return store.query(
        "SELECT * FROM studies WHERE project_id = ? AND owner_id = ? "
        "ORDER BY created_at DESC, rowid DESC",
        (project_id, owner_id),
    )


def create(
    store: Store,
    owner_id: str,
    project_id: str,
    name: str,
    description: str | None,
    extra: dict[str, Any],
) -> sqlite3.Row:
    """A new study; ``extra``: the client's other fields (stored as JSON)."""
    sid, ts = new_id(), now_iso()
    store.execute(
        "INSERT INTO studies(id, owner_id, project_id, name, description, fields, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (sid, owner_id, project_id, name, description, json.dumps(extra), ts, ts),
    )
    row = get(store, owner_id, project_id, sid)
    assert row is not None
    return row


def update(
    store: Store, study_id: str, name: str, description: str | None, extra: dict[str, Any]
) -> None:
    store.execute(
        "UPDATE studies SET name = ?, description = ?, fields = ?, updated_at = ? WHERE id = ?",
        (name, description, json.dumps(extra), now_iso(), study_id),
    )


def delete(store: Store, study_id: str) -> None:
    """Delete the study and its memberships (simulations created in it keep a ``study_id``:
    the caller clears it)."""
    store.execute("DELETE FROM studies WHERE id = ?", (study_id,))


#: The membership tables' statements by kind of member: add (idempotent), remove.
_MEMBERS: Final = {
    "simulation": (
        "INSERT OR IGNORE INTO study_simulations(study_id, simulation_id, created_at) "
        "VALUES (?, ?, ?)",
        "DELETE FROM study_simulations WHERE study_id = ? AND simulation_id = ?",
    ),
    "measurement": (
        "INSERT OR IGNORE INTO study_measurements(study_id, measurement_id, created_at) "
        "VALUES (?, ?, ?)",
        "DELETE FROM study_measurements WHERE study_id = ? AND measurement_id = ?",
    ),
}


def add_member(store: Store, kind: str, study_id: str, member_id: str) -> str:
    """Add an (owned) ``simulation`` or ``measurement`` to the study, idempotently; returns
    the time of the call."""
    ts = now_iso()
    store.execute(_MEMBERS[kind][0], (study_id, member_id, ts))
    return ts


def remove_member(store: Store, kind: str, study_id: str, member_id: str) -> int:
    """Remove a ``simulation`` (assigned to the study) or ``measurement``; returns how many
    rows went (0 or 1)."""
    return store.execute(_MEMBERS[kind][1], (study_id, member_id))


def measurements(store: Store, study_id: str) -> list[sqlite3.Row]:
    """The study's measurement records, the most recently added first."""
    return store.query(
        "SELECT m.* FROM cell_measurements m JOIN study_measurements sm ON sm.measurement_id = m.id"
        " WHERE sm.study_id = ? ORDER BY sm.created_at DESC",
        (study_id,),
    )


def measurement_count(store: Store, study_id: str) -> int:
    row = store.one("SELECT COUNT(*) n FROM study_measurements WHERE study_id = ?", (study_id,))
    return int(row["n"]) if row else 0


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's studies (their memberships go with them)."""
    store.execute(
        "DELETE FROM studies WHERE project_id = ? AND owner_id = ?", (project_id, owner_id)
    )
