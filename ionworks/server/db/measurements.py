"""Where a stored measurement's files are: ``blobs/measurements/<id>/`` holds its
``time_series.parquet`` and, if it has one, ``steps.parquet``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ionworks.server.db.store import Store

__all__ = ["FOLDER", "STEPS", "TIME_SERIES", "measurement_frames"]

#: A measurement's folder under the store's blob directory.
FOLDER: Final = "measurements/{}"
TIME_SERIES: Final = "time_series.parquet"
STEPS: Final = "steps.parquet"


def measurement_frames(
    store: Store, owner_id: str, measurement_id: str
) -> tuple[Path, Path | None]:
    """Paths of a measurement's stored ``time_series`` and ``steps`` parquet files (``db:<id>``
    references of pipelines); ``LookupError`` for unknown ids or another owner's."""
    row = store.one(
        "SELECT * FROM cell_measurements WHERE id = ? AND owner_id = ?", (measurement_id, owner_id)
    )
    if row is None:
        raise LookupError(f"measurement {measurement_id} not found")
    folder = FOLDER.format(row["id"])
    steps = store.blob_path(folder, STEPS) if row["steps_count"] is not None else None
    return store.blob_path(folder, TIME_SERIES), steps
