"""The ``cell_specifications`` and ``cell_instances`` tables: the parents of measurements
(wire.md §10.4, §10.5). A record's extra client fields are kept as JSON in ``fields``; every
read filters by owner. Names are unique per project (specifications) and per specification
(instances), checked in code when a record is written (:class:`NameTaken`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ionworks.server.db.store import Store, new_id, now_iso

__all__ = [
    "NameTaken",
    "count_instances",
    "count_measurements",
    "create_instance",
    "create_specification",
    "default_instance",
    "delete_in_project",
    "delete_instance",
    "delete_specification",
    "extra_fields",
    "get_instance",
    "get_specification",
    "instance_named",
    "list_instances",
    "list_specifications",
    "spec_named",
    "update_instance",
    "update_specification",
]

#: Keys of a request body that are columns the server sets, never stored among the fields.
RESERVED = frozenset(
    {
        "id",
        "owner_id",
        "project_id",
        "cell_specification_id",
        "is_default",
        "created_at",
        "updated_at",
        "fields",
        "steps_count",
    }
)


class NameTaken(Exception):
    """A specification name already used in its project, or an instance name already used
    under its specification (names are unique there, as in the cloud); ``existing_id`` names
    the record that has it. Checked in code, not by a unique index: data directories of older
    versions may hold duplicates, which stay readable."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in RESERVED}


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


def spec_named(
    store: Store, owner_id: str, project_id: str, name: str, *, other_than: str | None = None
) -> sqlite3.Row | None:
    """The project's (oldest) specification called ``name``, other than ``other_than``."""
    return store.one(
        "SELECT * FROM cell_specifications WHERE owner_id = ? AND project_id = ? AND name = ? "
        "AND id IS NOT ? ORDER BY created_at LIMIT 1",
        (owner_id, project_id, name, other_than),
    )


def instance_named(
    store: Store, owner_id: str, spec_id: str, name: str, *, other_than: str | None = None
) -> sqlite3.Row | None:
    """The specification's (oldest) instance called ``name``, other than ``other_than``."""
    return store.one(
        "SELECT * FROM cell_instances WHERE owner_id = ? AND cell_specification_id = ? "
        "AND name = ? AND id IS NOT ? ORDER BY created_at LIMIT 1",
        (owner_id, spec_id, name, other_than),
    )


def create_specification(
    store: Store,
    owner_id: str,
    project_id: str,
    name: str,
    fields: dict[str, Any],
    *,
    is_default: bool = False,
    unique: bool = False,
) -> str:
    """A new specification; with ``unique``, :class:`NameTaken` if the project has one of
    that name (checked and written in one transaction, so not inside another)."""
    sid, at = new_id(), now_iso()
    insert = (
        "INSERT INTO cell_specifications(id, created_at, updated_at, name, is_default, owner_id,"
        " project_id, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    args = (sid, at, at, name, int(is_default), owner_id, project_id, extra_fields(_stored(fields)))
    if not unique:
        store.execute(insert, args)
        return sid
    with store.transaction():
        taken = spec_named(store, owner_id, project_id, name)
        if taken is not None:
            raise NameTaken(taken["id"])
        store.execute(insert, args)
    return sid


def create_instance(
    store: Store,
    spec: sqlite3.Row,
    name: str,
    fields: dict[str, Any],
    *,
    is_default: bool = False,
    unique: bool = False,
) -> str:
    """A new instance of ``spec`` (in the specification's project, for its owner); with
    ``unique``, :class:`NameTaken` if the specification has one of that name."""
    iid, at = new_id(), now_iso()
    insert = (
        "INSERT INTO cell_instances(id, created_at, updated_at, name, cell_specification_id, "
        "is_default, owner_id, project_id, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    args = (
        iid,
        at,
        at,
        name,
        spec["id"],
        int(is_default),
        spec["owner_id"],
        spec["project_id"],
        extra_fields(_stored(fields)),
    )
    if not unique:
        store.execute(insert, args)
        return iid
    with store.transaction():
        taken = instance_named(store, spec["owner_id"], spec["id"], name)
        if taken is not None:
            raise NameTaken(taken["id"])
        store.execute(insert, args)
    return iid


def _merged(row: sqlite3.Row, changes: dict[str, Any]) -> str:
    fields = json.loads(row["fields"])
    fields.update(_stored(changes))
    return extra_fields(fields)


def update_specification(store: Store, spec: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the specification (a new ``name`` included; :class:`NameTaken`
    if another specification of its project has it)."""
    name = changes.get("name", spec["name"])
    with store.transaction():
        if name != spec["name"]:
            taken = spec_named(
                store, spec["owner_id"], spec["project_id"], name, other_than=spec["id"]
            )
            if taken is not None:
                raise NameTaken(taken["id"])
        store.execute(
            "UPDATE cell_specifications SET name = ?, fields = ?, updated_at = ? "
            "WHERE id = ? AND owner_id = ?",
            (name, _merged(spec, changes), now_iso(), spec["id"], spec["owner_id"]),
        )


def update_instance(store: Store, instance: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the instance (a new ``name`` included; :class:`NameTaken` if
    another instance of its specification has it)."""
    name = changes.get("name", instance["name"])
    with store.transaction():
        if name != instance["name"]:
            taken = instance_named(
                store,
                instance["owner_id"],
                instance["cell_specification_id"],
                name,
                other_than=instance["id"],
            )
            if taken is not None:
                raise NameTaken(taken["id"])
        store.execute(
            "UPDATE cell_instances SET name = ?, fields = ?, updated_at = ? "
            "WHERE id = ? AND owner_id = ?",
            (name, _merged(instance, changes), now_iso(), instance["id"], instance["owner_id"]),
        )


def count_instances(store: Store, owner_id: str, spec_id: str) -> int:
    row = store.one(
        "SELECT COUNT(*) AS n FROM cell_instances WHERE owner_id = ? AND cell_specification_id = ?",
        (owner_id, spec_id),
    )
    return int(row["n"]) if row is not None else 0


def count_measurements(store: Store, owner_id: str, instance_id: str) -> int:
    row = store.one(
        "SELECT COUNT(*) AS n FROM cell_measurements WHERE owner_id = ? AND cell_instance_id = ?",
        (owner_id, instance_id),
    )
    return int(row["n"]) if row is not None else 0


def delete_specification(store: Store, owner_id: str, spec_id: str) -> None:
    """Delete a specification (the caller has checked it has no instances)."""
    store.execute(
        "DELETE FROM cell_specifications WHERE id = ? AND owner_id = ?", (spec_id, owner_id)
    )


def delete_instance(store: Store, owner_id: str, instance_id: str) -> None:
    """Delete an instance (the caller has checked it has no measurements)."""
    store.execute(
        "DELETE FROM cell_instances WHERE id = ? AND owner_id = ?", (instance_id, owner_id)
    )


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
