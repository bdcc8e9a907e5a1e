"""The ``raw_data`` table (raw cycler files of a project, stored as uploaded) and
``raw_data_measurements`` (which measurements were made from, or are linked to, which raw file).

A record's file is ``blobs/raw_data/<id>/file``: the client's file name is only a column, never
part of a path. Links go with either side (``ON DELETE CASCADE``); deleting a raw record keeps
the measurements made from it (they hold their own copy of the data). Every read filters by
owner.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

from ionworks.server.db.store import Store, now_iso

__all__ = [
    "BLOB",
    "FOLDER",
    "create",
    "delete",
    "exists",
    "folders_in_project",
    "get",
    "link",
    "linked_raw",
    "list_rows",
    "measurements_of",
    "remove_orphan_files",
    "unlink",
    "update",
]

#: A record's folder under the store's blob directory, and its file's name there.
FOLDER: Final = "raw_data/{}"
BLOB: Final = "file"
#: Columns a record's update may set.
UPDATABLE: Final = ("name", "source", "metadata")


def get(store: Store, owner_id: str, raw_data_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM raw_data WHERE id = ? AND owner_id = ?", (raw_data_id, owner_id)
    )


def exists(store: Store, raw_data_id: str) -> bool:
    """Whether a record with this id was written (whoever owns it)."""
    return store.one("SELECT id FROM raw_data WHERE id = ?", (raw_data_id,)) is not None


def create(
    store: Store, owner_id: str, raw_data_id: str, project_id: str, meta: dict[str, Any]
) -> None:
    """Write the record (``meta``: name, filename, source, content_type, size_bytes, metadata;
    checked by the caller)."""
    ts = now_iso()
    store.execute(
        "INSERT INTO raw_data(id, owner_id, project_id, name, filename, source, content_type, "
        "size_bytes, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            raw_data_id,
            owner_id,
            project_id,
            meta["name"],
            meta["filename"],
            meta.get("source"),
            meta["content_type"],
            int(meta["size_bytes"]),
            json.dumps(meta.get("metadata") or {}),
            ts,
            ts,
        ),
    )


def list_rows(
    store: Store, owner_id: str, project_id: str, limit: int, offset: int
) -> tuple[list[sqlite3.Row], int]:
    """A page of the project's records, newest first, and how many there are."""
    where = "owner_id = ? AND project_id = ?"
    rows = store.query(
        f"SELECT * FROM raw_data WHERE {where} ORDER BY created_at DESC, rowid DESC "
        "LIMIT ? OFFSET ?",
        (owner_id, project_id, limit, offset),
    )
    total = store.one(f"SELECT COUNT(*) n FROM raw_data WHERE {where}", (owner_id, project_id))
    return rows, int(total["n"]) if total is not None else 0


def update(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Set the :data:`UPDATABLE` columns given in ``changes`` (checked by the caller)."""
    values = {name: changes.get(name, row[name]) for name in UPDATABLE}
    if "metadata" in changes:
        values["metadata"] = json.dumps(changes["metadata"])
    store.execute(
        "UPDATE raw_data SET name = ?, source = ?, metadata = ?, updated_at = ? WHERE id = ?",
        (values["name"], values["source"] or None, values["metadata"], now_iso(), row["id"]),
    )


def delete(store: Store, raw_data_id: str) -> None:
    """Delete the record (its links go with it) and its file."""
    store.execute("DELETE FROM raw_data WHERE id = ?", (raw_data_id,))
    store.delete_blobs(FOLDER.format(raw_data_id))


def remove_orphan_files(store: Store) -> None:
    """Remove the file folders of records that no longer exist (a deleted project's records
    go with it in SQLite; their files go here, when the server starts)."""
    folder = store.blob_dir / FOLDER.format("")
    if not folder.is_dir():
        return
    known = {str(row["id"]) for row in store.query("SELECT id FROM raw_data")}
    for path in folder.iterdir():
        if path.name not in known:
            store.delete_blobs(FOLDER.format(path.name))


def folders_in_project(store: Store, owner_id: str, project_id: str) -> list[str]:
    """The file folders of the project's records (the rows go with the project)."""
    rows = store.query(
        "SELECT id FROM raw_data WHERE project_id = ? AND owner_id = ?", (project_id, owner_id)
    )
    return [FOLDER.format(row["id"]) for row in rows]


# --- links ------------------------------------------------------------------------------------


def link(store: Store, measurement_id: str, raw_data_ids: list[str]) -> None:
    """Link the records to the measurement (already linked ones are left alone)."""
    ts = now_iso()
    with store.transaction() as db:
        for raw_id in raw_data_ids:
            db.execute(
                "INSERT OR IGNORE INTO raw_data_measurements(raw_data_id, measurement_id, "
                "created_at) VALUES (?, ?, ?)",
                (raw_id, measurement_id, ts),
            )


def unlink(store: Store, measurement_id: str, raw_data_id: str) -> bool:
    """Remove one link; False if there was none."""
    return bool(
        store.execute(
            "DELETE FROM raw_data_measurements WHERE measurement_id = ? AND raw_data_id = ?",
            (measurement_id, raw_data_id),
        )
    )


def linked_raw(
    store: Store, measurement_id: str, limit: int, offset: int
) -> tuple[list[sqlite3.Row], int]:
    """A page of the records linked to the measurement (oldest link first), and their count."""
    rows = store.query(
        "SELECT r.* FROM raw_data_measurements l JOIN raw_data r ON r.id = l.raw_data_id "
        "WHERE l.measurement_id = ? ORDER BY l.created_at, l.rowid LIMIT ? OFFSET ?",
        (measurement_id, limit, offset),
    )
    return rows, _links(store, "measurement_id", measurement_id)


def measurements_of(
    store: Store, raw_data_id: str, limit: int, offset: int
) -> tuple[list[str], int]:
    """A page of the ids of the measurements linked to the record (oldest link first), and
    their count."""
    rows = store.query(
        "SELECT measurement_id FROM raw_data_measurements WHERE raw_data_id = ? "
        "ORDER BY created_at, rowid LIMIT ? OFFSET ?",
        (raw_data_id, limit, offset),
    )
    return [str(r["measurement_id"]) for r in rows], _links(store, "raw_data_id", raw_data_id)


def _links(store: Store, column: str, value: str) -> int:
    """How many links have ``value`` in ``column`` (one of the table's two id columns)."""
    if column not in ("measurement_id", "raw_data_id"):
        raise ValueError(f"not a column of raw_data_measurements: {column!r}")
    row = store.one(f"SELECT COUNT(*) n FROM raw_data_measurements WHERE {column} = ?", (value,))
    return int(row["n"]) if row is not None else 0
