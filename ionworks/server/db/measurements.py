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
    "begin_processing",
    "create",
    "data_changed",
    "delete",
    "delete_in_project",
    "end_processing",
    "exists",
    "folders_in_project",
    "get",
    "list_rows",
    "measurement_frames",
    "named",
    "processing",
    "processing_rows",
    "set_tags",
    "start_running",
    "tag_usage",
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


#: Names are unique within a cell instance, except the project's default one (where
#: ``upload()`` without a cell instance puts ad-hoc data, and names may repeat).
_NAME_TAKEN: Final = (
    "SELECT id FROM cell_measurements WHERE owner_id = ? AND cell_instance_id = ? AND name = ? "
    "AND id != ? AND NOT EXISTS (SELECT 1 FROM cell_instances AS ci "
    "WHERE ci.id = cell_measurements.cell_instance_id AND ci.is_default = 1)"
)


def named(
    store: Store, owner_id: str, cell_instance_id: str, name: str, *, other_than: str = ""
) -> str | None:
    """The id of the cell instance's measurement called ``name``, other than ``other_than``;
    None if there is none or the instance is its project's default one (see ``_NAME_TAKEN``)."""
    row = store.one(
        f"{_NAME_TAKEN} ORDER BY created_at LIMIT 1",
        (owner_id, cell_instance_id, name, other_than),
    )
    return None if row is None else str(row["id"])


def create(
    store: Store,
    instance: sqlite3.Row,
    measurement_id: str,
    meta: dict[str, Any],
    *,
    row_count: int,
    steps_count: int | None,
    measurement_type: str = "time_series",
) -> str | None:
    """Write the record of a measurement of ``instance`` (its owner and project; a
    ``time_series`` one unless ``measurement_type`` says otherwise);
    ``meta`` holds the name and the extra fields. Names are unique within a cell instance
    (not its project's default one): when the instance already has a measurement of this name
    nothing is written and its id is returned (the check and the insert are one statement, so
    two concurrent uploads of one name cannot both succeed); None when it was written."""
    ts = now_iso()
    name = str(meta["name"])
    written = store.execute(
        "INSERT INTO cell_measurements(id, created_at, name, fields, measurement_type, "
        "cell_instance_id, row_count, steps_count, updated_at, owner_id, project_id) "
        f"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS ({_NAME_TAKEN})",
        (
            measurement_id,
            ts,
            name,
            extra_fields(meta),
            measurement_type,
            instance["id"],
            row_count,
            steps_count,
            ts,
            instance["owner_id"],
            instance["project_id"],
            instance["owner_id"],
            instance["id"],
            name,
            measurement_id,
        ),
    )
    if written == 1:
        return None
    return named(store, instance["owner_id"], instance["id"], name) or ""


def update_meta(store: Store, row: sqlite3.Row, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into the record's name and extra fields."""
    fields = {**json.loads(row["fields"]), **changes}
    store.execute(
        "UPDATE cell_measurements SET name = ?, fields = ?, updated_at = ? WHERE id = ?",
        (fields.pop("name", row["name"]), json.dumps(fields, default=str), now_iso(), row["id"]),
    )


def tag_usage(store: Store, owner_id: str, project_id: str) -> list[tuple[str, int]]:
    """Each tag used on the project's measurements (matched case-insensitively, in its first
    spelling) with how many measurements carry it, most used first."""
    rows = store.query(
        "SELECT MIN(t.value) AS tag, COUNT(DISTINCT m.id) AS n "
        "FROM cell_measurements AS m, json_each(m.fields, '$.tags') AS t "
        "WHERE m.owner_id = ? AND m.project_id = ? AND json_type(m.fields, '$.tags') = 'array' "
        "AND t.type = 'text' GROUP BY lower(t.value) ORDER BY n DESC, lower(t.value)",
        (owner_id, project_id),
    )
    return [(str(r["tag"]), int(r["n"])) for r in rows]


def set_tags(store: Store, tags: dict[str, list[str]]) -> None:
    """Replace the tags of each measurement (by id) in one transaction."""
    ts = now_iso()
    with store.transaction() as db:
        for measurement_id, new in tags.items():
            db.execute(
                "UPDATE cell_measurements SET fields = json_set(fields, '$.tags', json(?)), "
                "updated_at = ? WHERE id = ?",
                (json.dumps(new), ts, measurement_id),
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


# --- an extend's processing (api/measurement_extend.py) ----------------------------------------

#: ``processing_status`` while an extend's stitch is queued or running (else ``ready``).
BUSY: Final = ("pending", "running")


def processing(store: Store, measurement_id: str) -> bool:
    """Whether the measurement's data are being processed (an extend's stitch)."""
    row = store.one(
        "SELECT processing_status FROM cell_measurements WHERE id = ?", (measurement_id,)
    )
    return row is not None and row["processing_status"] in BUSY


def processing_rows(store: Store) -> list[sqlite3.Row]:
    """Every measurement whose processing is queued or running (at start: interrupted)."""
    return store.query("SELECT * FROM cell_measurements WHERE processing_status IN (?, ?)", BUSY)


def begin_processing(store: Store, measurement_id: str) -> bool:
    """``pending`` (its last error cleared) unless it is processing already; whether it was
    set."""
    return bool(
        store.execute(
            "UPDATE cell_measurements SET processing_status = 'pending', processing_error = NULL"
            " WHERE id = ? AND processing_status NOT IN (?, ?)",
            (measurement_id, *BUSY),
        )
    )


def start_running(store: Store, measurement_id: str) -> None:
    store.execute(
        "UPDATE cell_measurements SET processing_status = 'running' WHERE id = ? "
        "AND processing_status = 'pending'",
        (measurement_id,),
    )


def end_processing(store: Store, measurement_id: str, error: str | None) -> None:
    """Back to ``ready`` with the data unchanged; ``error``: why the processing failed."""
    store.execute(
        "UPDATE cell_measurements SET processing_status = 'ready', processing_error = ? "
        "WHERE id = ?",
        (error, measurement_id),
    )


def data_changed(
    store: Store, measurement_id: str, row_count: int, steps_count: int | None
) -> None:
    """The measurement's files were replaced: new counts, ``ready``, ``updated_at`` and
    ``data_version`` moved on (so no client cache serves the old data)."""
    store.execute(
        "UPDATE cell_measurements SET row_count = ?, steps_count = ?, updated_at = ?, "
        "data_version = data_version + 1, processing_status = 'ready', processing_error = NULL"
        " WHERE id = ?",
        (row_count, steps_count, now_iso(), measurement_id),
    )
