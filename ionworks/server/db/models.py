"""The ``models`` and ``model_documents`` tables: a key's models, in a project.

A model is a built-in PyBaMM model config (``{"type": "SPMe", "options": {...}}``) or an
uploaded custom model (``is_custom``), whose serialised PyBaMM document is kept, zlib
compressed, in ``model_documents``. Deleting a model deletes its parameterized models too.
Every read filters by owner.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Any

import attrs

from ionworks.server.db import parameterized_models
from ionworks.server.db.parameterized_models import encoded, new_values
from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "UPDATABLE",
    "NewModel",
    "add_custom_variable",
    "count_in_project",
    "create",
    "delete",
    "delete_in_project",
    "document",
    "get",
    "list_rows",
    "pack",
    "unpack",
    "update",
]

#: The fields a client may change.
UPDATABLE = ("name", "description", "pybamm_version", "simulation_settings")


@attrs.frozen(kw_only=True)
class NewModel:
    """The columns of a new model (values checked by the caller)."""

    project_id: str
    name: str
    description: str | None
    config: dict[str, Any]
    simulation_settings: Any = None
    pybamm_version: str | None = None
    chemistry: str | None = None
    document: bytes | None = None  # a custom model's checked document, :func:`pack`ed


def get(store: Store, owner_id: str, model_id: str) -> sqlite3.Row | None:
    """The owner's model, or None (unknown id or another owner's)."""
    return store.one("SELECT * FROM models WHERE id = ? AND owner_id = ?", (model_id, owner_id))


def list_rows(store: Store, owner_id: str, project_id: str | None = None) -> list[sqlite3.Row]:
    """The owner's models, newest first (of one project if given)."""
    where, args = "owner_id = ?", [owner_id]
    if project_id is not None:
        where += " AND project_id = ?"
        args.append(project_id)
    return store.query(
        f"SELECT * FROM models WHERE {where} ORDER BY created_at DESC, rowid DESC", args
    )


def count_in_project(store: Store, owner_id: str, project_id: str) -> int:
    row = store.one(
        "SELECT COUNT(*) FROM models WHERE owner_id = ? AND project_id = ?", (owner_id, project_id)
    )
    return int(row[0]) if row is not None else 0


def pack(document: bytes) -> bytes:
    """A custom model's document as stored (compressed: call off the event loop)."""
    return zlib.compress(document, 6)


def create(store: Store, owner_id: str, new: NewModel) -> str:
    """Insert a model (and a custom model's :func:`pack`ed document)."""
    model_id, ts = new_id(), now_iso()
    packed = new.document
    with store.transaction():
        store.execute(
            "INSERT INTO models(id, owner_id, project_id, name, description, config, "
            "simulation_settings, pybamm_version, chemistry, is_custom, custom_variables, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
            (
                model_id, owner_id, new.project_id, new.name, new.description,
                json.dumps(new.config, allow_nan=False), encoded(new.simulation_settings),
                new.pybamm_version, new.chemistry, int(packed is not None), ts, ts,
            ),
        )  # fmt: skip
        if packed is not None:
            store.execute(
                "INSERT INTO model_documents(model_id, owner_id, document) VALUES (?, ?, ?)",
                (model_id, owner_id, packed),
            )
    return model_id


def document(store: Store, owner_id: str, model_id: str) -> bytes | None:
    """A custom model's document as stored (:func:`unpack` it off the event loop), or None."""
    row = store.one(
        "SELECT document FROM model_documents WHERE model_id = ? AND owner_id = ?",
        (model_id, owner_id),
    )
    return None if row is None else bytes(row["document"])


def unpack(packed: bytes) -> bytes:
    """The serialised PyBaMM JSON of a stored document."""
    return zlib.decompress(packed)


def update(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Set the :data:`UPDATABLE` fields given in ``changes`` (checked by the caller)."""
    if not any(field in changes for field in UPDATABLE):
        return
    store.execute(
        "UPDATE models SET name = ?, description = ?, pybamm_version = ?, "
        "simulation_settings = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
        (*new_values(row, changes, UPDATABLE), now_iso(), row["id"], row["owner_id"]),
    )


def add_custom_variable(store: Store, row: sqlite3.Row, variable: dict[str, str]) -> None:
    """Append ``{name, expression}`` to the model's custom variables (one of that name is
    replaced)."""
    current = [v for v in json.loads(row["custom_variables"]) if v["name"] != variable["name"]]
    store.execute(
        "UPDATE models SET custom_variables = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
        (json.dumps([*current, variable]), now_iso(), row["id"], row["owner_id"]),
    )


def delete(store: Store, owner_id: str, model_id: str) -> bool:
    """Delete the owner's model, its document and its parameterized models; whether there
    was one."""
    with store.transaction():
        parameterized_models.delete_of_model(store, owner_id, model_id)
        store.execute(
            "DELETE FROM model_documents WHERE model_id = ? AND owner_id = ?", (model_id, owner_id)
        )
        deleted = store.execute(
            "DELETE FROM models WHERE id = ? AND owner_id = ?", (model_id, owner_id)
        )
    return deleted > 0


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's models, their documents and the parameterized models built on
    them, in any project (part of a project's delete; delete the project's parameterized models
    too: :func:`parameterized_models.delete_in_project`)."""
    ids = (project_id, owner_id)
    for row in store.query("SELECT id FROM models WHERE project_id = ? AND owner_id = ?", ids):
        parameterized_models.delete_of_model(store, owner_id, row["id"])
    store.execute(
        "DELETE FROM model_documents WHERE model_id IN "
        "(SELECT id FROM models WHERE project_id = ? AND owner_id = ?)",
        ids,
    )
    store.execute("DELETE FROM models WHERE project_id = ? AND owner_id = ?", ids)
