"""The ``measurement_watches`` table: which measurements a user watches (the official client's
``cell_measurement.watch``). A watch is the user's own (``user_id``: the watching key's owner,
also inside a project shared with it), one per user and measurement; it is deleted with its
measurement (ON DELETE CASCADE) and once the measurement's test ends (an ``end_time`` is set:
the schema's ``measurement_watches_end`` trigger). A finished measurement takes no watch."""

from __future__ import annotations

from ionworks.server.db.store import Store, now_iso

__all__ = ["add", "remove", "watched"]

#: A measurement whose test is still running (no ``end_time`` yet).
_LIVE = "json_extract(m.fields, '$.end_time') IS NULL"


def add(store: Store, user_id: str, measurement_id: str) -> bool:
    """Watch the measurement (a no-op when already watched or finished); whether a watch was
    written. The finished check and the insert are one statement."""
    written = store.execute(
        "INSERT OR IGNORE INTO measurement_watches(measurement_id, user_id, project_id, "
        f"created_at) SELECT m.id, ?, m.project_id, ? FROM cell_measurements AS m "
        f"WHERE m.id = ? AND {_LIVE}",
        (user_id, now_iso(), measurement_id),
    )
    return written == 1


def remove(store: Store, user_id: str, measurement_id: str) -> None:
    """Stop watching the measurement (a no-op when not watched)."""
    store.execute(
        "DELETE FROM measurement_watches WHERE user_id = ? AND measurement_id = ?",
        (user_id, measurement_id),
    )


def watched(store: Store, user_id: str, project_id: str) -> list[str]:
    """The ids of the project's measurements the user watches, oldest watch first."""
    rows = store.query(
        "SELECT w.measurement_id FROM measurement_watches AS w "
        "JOIN cell_measurements AS m ON m.id = w.measurement_id "
        f"WHERE w.user_id = ? AND w.project_id = ? AND {_LIVE} "
        "ORDER BY w.created_at, w.measurement_id",
        (user_id, project_id),
    )
    return [str(r["measurement_id"]) for r in rows]
