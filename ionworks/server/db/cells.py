"""The ``cell_specifications`` and ``cell_instances`` tables: the minimal parents of
measurements (wire.md §10.4). A record's extra client fields are kept as JSON in ``fields``;
every read filters by owner."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "create_instance",
    "create_specification",
    "default_instance",
    "delete_in_project",
    "extra_fields",
    "get_instance",
    "get_specification",
    "list_instances",
    "list_specifications",
]


def extra_fields(fields: dict[str, Any]) -> str:
    """The ``fields`` column: a record's extra keys (not its name) as JSON."""
    return json.dumps({k: v for k, v in fields.items() if k != "name"}, default=str)


def get_specification(store: Store, owner_id: str, spec_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM cell_specifications WHERE id = ? AND owner_id = ?", (spec_id, owner_id)
    )


def get_instance(store: Store, owner_id: str, instance_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM cell_instances WHERE id = ? AND owner_id = ?", (instance_id, owner_id)
    )


def create_specification(
    store: Store,
    owner_id: str,
    project_id: str,
    name: str,
    fields: dict[str, Any],
    *,
    is_default: bool = False,
) -> str:
    sid = new_id()
    store.execute(
        "INSERT INTO cell_specifications(id, created_at, name, is_default, owner_id, project_id,"
        " fields) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (sid, now_iso(), name, int(is_default), owner_id, project_id, extra_fields(fields)),
    )
    return sid


def create_instance(
    store: Store, spec: sqlite3.Row, name: str, fields: dict[str, Any], *, is_default: bool = False
) -> str:
    """A new instance of ``spec`` (in the specification's project, for its owner)."""
    iid = new_id()
    store.execute(
        "INSERT INTO cell_instances(id, created_at, name, cell_specification_id, is_default, "
        "owner_id, project_id, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            iid,
            now_iso(),
            name,
            spec["id"],
            int(is_default),
            spec["owner_id"],
            spec["project_id"],
            extra_fields(fields),
        ),
    )
    return iid


_DEFAULT = "SELECT * FROM cell_instances WHERE owner_id = ? AND project_id = ? AND is_default = 1"


def default_instance(store: Store, owner_id: str, project_id: str) -> sqlite3.Row:
    """The project's default cell instance (created with a default specification on first use)."""
    row = store.one(_DEFAULT, (owner_id, project_id))
    if row is None:
        name = "Default cell"
        with store.transaction():
            sid = create_specification(store, owner_id, project_id, name, {}, is_default=True)
            spec = get_specification(store, owner_id, sid)
            assert spec is not None
            create_instance(store, spec, name, {"name": name}, is_default=True)
        row = store.one(_DEFAULT, (owner_id, project_id))
    assert row is not None
    return row


def list_specifications(
    store: Store, owner_id: str, *, project_id: str | None = None
) -> list[sqlite3.Row]:
    """The owner's specifications, newest first (of one project, if given)."""
    return _list(store, "cell_specifications", owner_id, project_id=project_id)


def list_instances(
    store: Store,
    owner_id: str,
    *,
    spec_id: str | None = None,
    project_id: str | None = None,
    only_default: bool = False,
) -> list[sqlite3.Row]:
    """The owner's instances, newest first, of one specification and/or project."""
    return _list(
        store,
        "cell_instances",
        owner_id,
        project_id=project_id,
        cell_specification_id=spec_id,
        is_default=1 if only_default else None,
    )


def _list(store: Store, table: str, owner_id: str, **equal: str | int | None) -> list[sqlite3.Row]:
    """Rows of ``table`` (one of this module's two) of the owner, newest first, whose columns
    equal the given values (``None``: no filter)."""
    assert table in ("cell_specifications", "cell_instances")
    where: list[str] = ["owner_id = ?"]
    args: list[str | int] = [owner_id]
    for column, value in equal.items():
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return store.query(
        f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY created_at DESC", args
    )


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's instances, then its specifications (delete the instances'
    unconfirmed uploads first: :func:`ionworks.server.db.uploads.delete_in_project`)."""
    ids = (project_id, owner_id)
    store.execute("DELETE FROM cell_instances WHERE project_id = ? AND owner_id = ?", ids)
    store.execute("DELETE FROM cell_specifications WHERE project_id = ? AND owner_id = ?", ids)
