"""The ``parameterized_models`` table: a key's parameterized models (a model + parameter values),
in a project and optionally under one of its cell specifications. A name is unique within a
cell specification (a unique index; :class:`DuplicateName` carries the existing id). Every
read filters by owner."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import attrs

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "UPDATABLE",
    "DuplicateName",
    "NewParameterizedModel",
    "count_in_project",
    "create",
    "delete",
    "delete_in_project",
    "delete_of_model",
    "encoded",
    "get",
    "list_rows",
    "new_values",
    "update",
]

#: The fields a client may change (parameter values are fixed once created).
UPDATABLE = ("name", "description", "simulation_settings")


class DuplicateName(Exception):
    """A parameterized model of this name already exists under the cell specification."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


@attrs.frozen(kw_only=True)
class NewParameterizedModel:
    """The columns of a new record (JSON values already encoded by the caller's checks)."""

    project_id: str
    cell_spec_id: str | None
    name: str
    description: str | None
    model_id: str
    parameters: Any
    simulation_settings: Any


def get(store: Store, owner_id: str, pm_id: str) -> sqlite3.Row | None:
    """The owner's record, or None (unknown id or another owner's)."""
    return store.one(
        "SELECT * FROM parameterized_models WHERE id = ? AND owner_id = ?", (pm_id, owner_id)
    )


def _by_name(store: Store, owner_id: str, cell_spec_id: str, name: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT id FROM parameterized_models WHERE owner_id = ? AND cell_spec_id = ? AND name = ?",
        (owner_id, cell_spec_id, name),
    )


def list_rows(
    store: Store,
    owner_id: str,
    *,
    project_id: str | None = None,
    cell_spec_id: str | None = None,
) -> list[sqlite3.Row]:
    """The owner's records, newest first, of one project and/or cell specification."""
    where, args = ["owner_id = ?"], [owner_id]
    for column, value in (("project_id", project_id), ("cell_spec_id", cell_spec_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return store.query(
        f"SELECT * FROM parameterized_models WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, rowid DESC",
        args,
    )


def count_in_project(store: Store, owner_id: str, project_id: str) -> int:
    row = store.one(
        "SELECT COUNT(*) FROM parameterized_models WHERE owner_id = ? AND project_id = ?",
        (owner_id, project_id),
    )
    return int(row[0]) if row is not None else 0


def encoded(value: Any) -> str | None:
    """A nullable JSON column's value."""
    return None if value is None else json.dumps(value, allow_nan=False)


def new_values(row: sqlite3.Row, changes: dict[str, Any], fields: tuple[str, ...]) -> list[Any]:
    """The columns ``fields`` of ``row`` after ``changes`` (``simulation_settings`` encoded)."""
    return [
        row[field]
        if field not in changes
        else encoded(changes[field])
        if field == "simulation_settings"
        else changes[field]
        for field in fields
    ]


def create(store: Store, owner_id: str, new: NewParameterizedModel) -> str:
    """Insert a record; :class:`DuplicateName` if the cell specification has one of this name."""
    pm_id, ts = new_id(), now_iso()
    with store.transaction():
        if new.cell_spec_id is not None:
            existing = _by_name(store, owner_id, new.cell_spec_id, new.name)
            if existing is not None:
                raise DuplicateName(existing["id"])
        store.execute(
            "INSERT INTO parameterized_models(id, owner_id, project_id, cell_spec_id, name, "
            "description, model_id, parameters, simulation_settings, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                pm_id, owner_id, new.project_id, new.cell_spec_id, new.name, new.description,
                new.model_id, json.dumps(new.parameters, allow_nan=False),
                encoded(new.simulation_settings), ts, ts,
            ),
        )  # fmt: skip
    return pm_id


def update(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Set the :data:`UPDATABLE` fields given in ``changes`` (checked by the caller);
    :class:`DuplicateName` if a new name is taken under the record's cell specification."""
    if not any(field in changes for field in UPDATABLE):
        return
    name, description, settings = new_values(row, changes, UPDATABLE)
    with store.transaction():
        if row["cell_spec_id"] is not None and name != row["name"]:
            existing = _by_name(store, row["owner_id"], row["cell_spec_id"], name)
            if existing is not None:
                raise DuplicateName(existing["id"])
        store.execute(
            "UPDATE parameterized_models SET name = ?, description = ?, simulation_settings = ?, "
            "updated_at = ? WHERE id = ? AND owner_id = ?",
            (name, description, settings, now_iso(), row["id"], row["owner_id"]),
        )


def delete(store: Store, owner_id: str, pm_id: str) -> bool:
    """Delete the owner's record; whether there was one."""
    return (
        store.execute(
            "DELETE FROM parameterized_models WHERE id = ? AND owner_id = ?", (pm_id, owner_id)
        )
        > 0
    )


def delete_of_model(store: Store, owner_id: str, model_id: str) -> None:
    """Delete the owner's records built on ``model_id`` (a model's delete cascades to them)."""
    store.execute(
        "DELETE FROM parameterized_models WHERE model_id = ? AND owner_id = ?", (model_id, owner_id)
    )


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's records (part of a project's delete)."""
    store.execute(
        "DELETE FROM parameterized_models WHERE project_id = ? AND owner_id = ?",
        (project_id, owner_id),
    )
