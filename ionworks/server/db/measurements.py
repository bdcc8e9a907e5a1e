"""The ``cell_measurements`` table and where a stored measurement's files are:
``blobs/measurements/<id>/`` holds its ``time_series.parquet`` and, if it has one,
``steps.parquet``. Every read filters by owner."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Final

from ionworks.server.db.cells import extra_fields
from ionworks.server.db.store import Store, now_iso

__all__ = [
    "FOLDER",
    "STEPS",
    "TIME_SERIES",
    "create",
    "delete",
    "delete_in_project",
    "exists",
    "folders_in_project",
    "get",
    "list_rows",
    "measurement_frames",
    "update_meta",
]

#: A measurement's folder under the store's blob directory.
FOLDER: Final = "measurements/{}"
TIME_SERIES: Final = "time_series.parquet"
STEPS: Final = "steps.parquet"


def get(store: Store, owner_id: str, measurement_id: str) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM cell_measurements WHERE id = ? AND owner_id = ?", (measurement_id, owner_id)
    )


def exists(store: Store, measurement_id: str) -> bool:
    """Whether a record with this id was written (whoever owns it)."""
    row = store.one("SELECT id FROM cell_measurements WHERE id = ?", (measurement_id,))
    return row is not None


def list_rows(
    store: Store,
    owner_id: str,
    *,
    cell_instance_id: str | None = None,
    project_id: str | None = None,
    measurement_type: str | None = None,
) -> list[sqlite3.Row]:
    """The owner's measurements, newest first, of one cell instance and/or project."""
    where, args = ["owner_id = ?"], [owner_id]
    for column, value in (
        ("cell_instance_id", cell_instance_id),
        ("project_id", project_id),
        ("measurement_type", measurement_type),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    return store.query(
        f"SELECT * FROM cell_measurements WHERE {' AND '.join(where)} ORDER BY created_at DESC",
        args,
    )


def create(
    store: Store,
    instance: sqlite3.Row,
    measurement_id: str,
    meta: dict[str, Any],
    *,
    row_count: int,
    steps_count: int | None,
) -> None:
    """Write the record of a time series measurement of ``instance`` (its owner and project);
    ``meta`` holds the name and the extra fields."""
    ts = now_iso()
    store.execute(
        "INSERT INTO cell_measurements(id, created_at, name, fields, measurement_type, "
        "cell_instance_id, row_count, steps_count, updated_at, owner_id, project_id) "
        "VALUES (?, ?, ?, ?, 'time_series', ?, ?, ?, ?, ?, ?)",
        (
            measurement_id,
            ts,
            str(meta["name"]),
            extra_fields(meta),
            instance["id"],
            row_count,
            steps_count,
            ts,
            instance["owner_id"],
            instance["project_id"],
        ),
    )


def update_meta(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the record's name and extra fields."""
    fields = {**json.loads(row["fields"]), **changes}
    store.execute(
        "UPDATE cell_measurements SET name = ?, fields = ?, updated_at = ? WHERE id = ?",
        (fields.pop("name", row["name"]), json.dumps(fields, default=str), now_iso(), row["id"]),
    )


def delete(store: Store, measurement_id: str) -> None:
    """Delete the record (its study memberships go with it: ON DELETE CASCADE) and its files."""
    store.execute("DELETE FROM cell_measurements WHERE id = ?", (measurement_id,))
    store.delete_blobs(FOLDER.format(measurement_id))


def folders_in_project(store: Store, owner_id: str, project_id: str) -> list[str]:
    """The file folders of the project's measurements."""
    rows = store.query(
        "SELECT id FROM cell_measurements WHERE project_id = ? AND owner_id = ?",
        (project_id, owner_id),
    )
    return [FOLDER.format(row["id"]) for row in rows]


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the project's measurement records (not their files: see
    :func:`folders_in_project`)."""
    store.execute(
        "DELETE FROM cell_measurements WHERE project_id = ? AND owner_id = ?",
        (project_id, owner_id),
    )


def measurement_frames(
    store: Store, owner_id: str, measurement_id: str
) -> tuple[Path, Path | None]:
    """Paths of a measurement's stored ``time_series`` and ``steps`` parquet files (``db:<id>``
    references of pipelines); ``LookupError`` for unknown ids or another owner's."""
    row = get(store, owner_id, measurement_id)
    if row is None:
        raise LookupError(f"measurement {measurement_id} not found")
    folder = FOLDER.format(row["id"])
    steps = store.blob_path(folder, STEPS) if row["steps_count"] is not None else None
    return store.blob_path(folder, TIME_SERIES), steps
