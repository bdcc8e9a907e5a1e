"""The ``measurement_uploads`` table and the files of unconfirmed uploads.

One row per upload URL (a measurement has one per file); ``received`` is the URL's state:
:data:`WAITING` → :data:`RECEIVING` (a PUT streams the body to a partial file) →
:data:`RECEIVED` (the body is in ``blobs/uploads/{token}``) → :data:`CONFIRMING` (claimed by
one confirm-upload, atomically for all of the measurement's URLs). Rows and files go when the
upload is confirmed, refused or expired (:func:`sweep`).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from ionworks.server.db import measurements
from ionworks.server.db.store import Store

__all__ = [
    "CONFIRMING",
    "RECEIVED",
    "RECEIVING",
    "WAITING",
    "AlreadyClaimed",
    "claim",
    "complete_path",
    "converted_path",
    "create",
    "delete_in_project",
    "discard",
    "finish_receiving",
    "open_uploads",
    "partial_path",
    "project_of",
    "remove_files",
    "start_receiving",
    "stop_receiving",
    "sweep",
    "tokens_in_project",
    "upload_files",
]

WAITING: Final = 0  # nothing received yet
RECEIVED: Final = 1  # the whole body is in blobs/uploads/{token}
RECEIVING: Final = 2  # a PUT is streaming the body
CONFIRMING: Final = 3  # claimed by a confirm-upload


class AlreadyClaimed(Exception):
    """The upload cannot be claimed: it is or was confirmed, or a body is being received."""


# --- files ----------------------------------------------------------------------------------


def _uploads_dir(store: Store) -> Path:
    return store.blob_dir / "uploads"


def partial_path(store: Store, token: str) -> Path:
    """Where a PUT streams to (a ``.*.tmp`` partial write: removed at start if interrupted)."""
    return _uploads_dir(store) / f".{token}.tmp"


def complete_path(store: Store, token: str) -> Path:
    """A fully received upload (renamed from its partial file after fsync)."""
    return _uploads_dir(store) / token


def converted_path(store: Store, token: str) -> Path:
    """The parquet copy of an uploaded CSV file, made by confirm-upload."""
    return _uploads_dir(store) / f".{token}.parquet.tmp"


def upload_files(store: Store, token: str) -> tuple[Path, ...]:
    """Every file an upload URL may have on disk (for deleting them)."""
    return partial_path(store, token), complete_path(store, token), converted_path(store, token)


def remove_files(store: Store, tokens: Iterable[str]) -> None:
    for token in tokens:
        for path in upload_files(store, token):
            path.unlink(missing_ok=True)


# --- rows -----------------------------------------------------------------------------------


def create(
    store: Store,
    owner_id: str,
    cell_instance_id: str,
    measurement_id: str,
    filenames: Sequence[str],
    meta: str,
) -> list[str]:
    """One upload URL per file of a new measurement, in one transaction; returns the tokens
    (unguessable: a token is the authorization of its URL)."""
    tokens, created = [], time.time()
    with store.transaction():
        for filename in filenames:
            token = secrets.token_urlsafe(32)
            store.execute(
                "INSERT INTO measurement_uploads(token, measurement_id, owner_id, cell_instance_id,"
                " filename, meta, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, measurement_id, owner_id, cell_instance_id, filename, meta, created),
            )
            tokens.append(token)
    return tokens


def open_uploads(store: Store, owner_id: str) -> tuple[int, float | None]:
    """How many measurements of the owner await confirmation, and when the oldest was
    initiated (``time.time()`` seconds; None if there is none)."""
    row = store.one(
        "SELECT COUNT(DISTINCT measurement_id) n, MIN(created) oldest FROM measurement_uploads "
        "WHERE owner_id = ?",
        (owner_id,),
    )
    if row is None:
        return 0, None
    return int(row["n"]), row["oldest"]


def project_of(store: Store, owner_id: str, measurement_id: str) -> str | None:
    """The project of the owner's measurement being uploaded (its cell instance's), or of the
    measurement once confirmed; None if the owner has neither."""
    row = store.one(
        "SELECT i.project_id FROM measurement_uploads u JOIN cell_instances i "
        "ON i.id = u.cell_instance_id AND i.owner_id = u.owner_id "
        "WHERE u.measurement_id = ? AND u.owner_id = ? LIMIT 1",
        (measurement_id, owner_id),
    )
    if row is None:
        row = measurements.get(store, owner_id, measurement_id)
    return None if row is None else str(row["project_id"])


def start_receiving(store: Store, token: str, ttl: float) -> bool:
    """Take a waiting, unexpired upload URL for one PUT; False if there is none."""
    return bool(
        store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE token = ? AND received = ? "
            "AND created > ?",
            (RECEIVING, token, WAITING, time.time() - ttl),
        )
    )


def _move(store: Store, token: str, old: int, new: int) -> bool:
    sql = "UPDATE measurement_uploads SET received = ? WHERE token = ? AND received = ?"
    return bool(store.execute(sql, (new, token, old)))


def stop_receiving(store: Store, token: str) -> None:
    """A PUT failed: the URL can be used again."""
    _move(store, token, RECEIVING, WAITING)


def finish_receiving(store: Store, token: str) -> bool:
    """A PUT's body is complete; False if the upload was discarded meanwhile."""
    return _move(store, token, RECEIVING, RECEIVED)


def claim(store: Store, owner_id: str, measurement_id: str) -> list[sqlite3.Row]:
    """Atomically take the owner's upload URLs of the measurement for one confirm-upload.

    ``LookupError`` if there are none (unknown, expired or spent); :class:`AlreadyClaimed` if
    the measurement was confirmed, another confirm holds them, or a body is still being
    received (nothing changes then)."""
    mid = measurement_id
    with store.transaction():
        uploads = store.query(
            "SELECT * FROM measurement_uploads WHERE measurement_id = ? AND owner_id = ?",
            (mid, owner_id),
        )
        if not uploads:
            if measurements.get(store, owner_id, mid) is not None:
                raise AlreadyClaimed(f"measurement {mid} was already confirmed")
            raise LookupError(
                "no pending upload (unknown, expired or already used); call initiate-upload first"
            )
        states = {u["filename"]: u["received"] for u in uploads}
        if CONFIRMING in states.values():
            raise AlreadyClaimed(f"measurement {mid} is already being confirmed by another request")
        busy = sorted(f for f, state in states.items() if state == RECEIVING)
        if busy:
            raise AlreadyClaimed(
                f"{', '.join(busy)} of measurement {mid} is still being uploaded; confirm once "
                "the PUT has finished"
            )
        claimed = store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE measurement_id = ? "
            "AND owner_id = ? AND received IN (?, ?)",
            (CONFIRMING, mid, owner_id, WAITING, RECEIVED),
        )
        if claimed != len(uploads):  # cannot happen inside the transaction; never guess
            raise AlreadyClaimed(f"measurement {mid} is already being confirmed by another request")
    return uploads


def discard(store: Store, tokens: Sequence[str]) -> None:
    """Forget these upload URLs: their rows, then their files."""
    with store.transaction():
        for token in tokens:
            store.execute("DELETE FROM measurement_uploads WHERE token = ?", (token,))
    remove_files(store, tokens)


def sweep(store: Store, ttl: float, *, at_start: bool = False) -> None:
    """Remove uploads older than ``ttl`` seconds (rows and files; not while a PUT or a confirm
    is working on one). ``at_start`` (no request in flight): an interrupted PUT's URL can be
    used again, an interrupted confirm's upload is spent (its URLs, files and any partly moved
    measurement files are removed, unless its record was written), and files in
    ``blobs/uploads/`` of unknown tokens are removed."""
    if at_start:
        for row in store.query(
            "SELECT token FROM measurement_uploads WHERE received = ?", (RECEIVING,)
        ):
            remove_files(store, [row["token"]])
        store.execute(
            "UPDATE measurement_uploads SET received = ? WHERE received = ?", (WAITING, RECEIVING)
        )
        claimed = store.query(
            "SELECT DISTINCT measurement_id FROM measurement_uploads WHERE received = ?",
            (CONFIRMING,),
        )
        for row in claimed:
            mid = row["measurement_id"]
            tokens = store.query(
                "SELECT token FROM measurement_uploads WHERE measurement_id = ?", (mid,)
            )
            discard(store, [t["token"] for t in tokens])
            if not measurements.exists(store, mid):
                store.delete_blobs(measurements.FOLDER.format(mid))
    expired = store.query(
        "SELECT token FROM measurement_uploads WHERE created <= ? AND received IN (?, ?)",
        (time.time() - ttl, WAITING, RECEIVED),
    )
    if expired:
        discard(store, [row["token"] for row in expired])
    folder = _uploads_dir(store)
    if at_start and folder.is_dir():
        known = {row["token"] for row in store.query("SELECT token FROM measurement_uploads")}
        for path in folder.iterdir():
            if not path.name.startswith(".") and path.name not in known:
                path.unlink(missing_ok=True)


_IN_PROJECT: Final = (
    "cell_instance_id IN (SELECT id FROM cell_instances WHERE project_id = ? AND owner_id = ?)"
)


def tokens_in_project(store: Store, owner_id: str, project_id: str) -> list[str]:
    """The tokens of the unconfirmed uploads of the project's cell instances."""
    rows = store.query(
        f"SELECT token FROM measurement_uploads WHERE {_IN_PROJECT}", (project_id, owner_id)
    )
    return [str(row["token"]) for row in rows]


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the rows of :func:`tokens_in_project` (not their files)."""
    store.execute(f"DELETE FROM measurement_uploads WHERE {_IN_PROJECT}", (project_id, owner_id))
