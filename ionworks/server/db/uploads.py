"""The ``measurement_uploads`` table and the files of unconfirmed uploads.

One row per upload URL (a measurement has one per file); ``received`` is the URL's state:
:data:`WAITING` → :data:`RECEIVING` (a PUT streams the body to a partial file) →
:data:`RECEIVED` (the body is in ``blobs/uploads/{token}``) → :data:`CONFIRMING` (claimed by
one confirm-upload, atomically for all of the measurement's URLs). Rows and files go when the
upload is confirmed, refused or expired (:func:`sweep`).

A raw-data upload (``POST /raw_data/initiate-upload``) is a row of the same table: its
``measurement_id`` is the raw-data record's id, its ``project_id`` is set (a raw file belongs
to a project, not to a cell instance; ``cell_instance_id`` is empty) and it is claimed with
``raw=True``; the two kinds never claim each other's URLs.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from ionworks.server.db import measurements, raw_data
from ionworks.server.db.store import Store

__all__ = [
    "CONFIRMING",
    "EXTEND_FILE",
    "EXTEND_META",
    "RECEIVED",
    "RECEIVING",
    "WAITING",
    "AlreadyClaimed",
    "claim",
    "claim_extend",
    "complete_path",
    "converted_path",
    "create",
    "create_extend",
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
#: An extend's single upload URL (``initiate-extend``): a row of an existing measurement
#: whose ``meta`` is exactly this (an upload's own meta always has a name, so never this).
EXTEND_FILE: Final = "time_series_extend.parquet"
EXTEND_META: Final = '{"extend": true}'


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
    *,
    project_id: str | None = None,
) -> list[str]:
    """One upload URL per file of a new measurement (or with ``project_id``, of a raw-data
    record), in one transaction; returns the tokens (unguessable: a token is the authorization
    of its URL)."""
    tokens, created = [], time.time()
    with store.transaction():
        for filename in filenames:
            token = secrets.token_urlsafe(32)
            store.execute(
                "INSERT INTO measurement_uploads(token, measurement_id, owner_id, cell_instance_id,"
                " filename, meta, created, project_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token,
                    measurement_id,
                    owner_id,
                    cell_instance_id,
                    filename,
                    meta,
                    created,
                    project_id,
                ),
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


def project_of(
    store: Store, owner_id: str, measurement_id: str, *, raw: bool = False
) -> str | None:
    """The project of the owner's measurement being uploaded (its cell instance's), or of the
    measurement once confirmed (``raw``: of the raw-data record being uploaded, or once
    confirmed); None if the owner has neither."""
    row = store.one(
        "SELECT COALESCE(u.project_id, i.project_id) AS project_id FROM measurement_uploads u "
        "LEFT JOIN cell_instances i ON i.id = u.cell_instance_id AND i.owner_id = u.owner_id "
        f"WHERE u.measurement_id = ? AND u.owner_id = ? AND u.project_id IS {'NOT ' if raw else ''}"
        "NULL AND COALESCE(u.project_id, i.project_id) IS NOT NULL LIMIT 1",
        (measurement_id, owner_id),
    )
    if row is None:
        row = (raw_data.get if raw else measurements.get)(store, owner_id, measurement_id)
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


def claim(
    store: Store, owner_id: str, measurement_id: str, *, raw: bool = False
) -> list[sqlite3.Row]:
    """Atomically take the owner's upload URLs of the measurement (``raw``: of the raw-data
    record) for one confirm-upload.

    ``LookupError`` if there are none (unknown, expired or spent); :class:`AlreadyClaimed` if
    the measurement was confirmed, another confirm holds them, or a body is still being
    received (nothing changes then)."""
    mid = measurement_id
    kind = "IS NOT NULL" if raw else "IS NULL"
    with store.transaction():
        if not raw and measurements.get(store, owner_id, mid) is not None:
            # never the URLs of an extend (rows of an existing measurement: claim_extend)
            raise AlreadyClaimed(f"measurement {mid} was already confirmed")
        uploads = store.query(
            "SELECT * FROM measurement_uploads WHERE measurement_id = ? AND owner_id = ? "
            f"AND project_id {kind} AND meta != ?",
            (mid, owner_id, EXTEND_META),
        )
        if not uploads:
            done = raw_data.get if raw else measurements.get
            if done(store, owner_id, mid) is not None:
                what = "raw data" if raw else "measurement"
                raise AlreadyClaimed(f"{what} {mid} was already confirmed")
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
            "AND owner_id = ? AND received IN (?, ?) AND meta != ?",
            (CONFIRMING, mid, owner_id, WAITING, RECEIVED, EXTEND_META),
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
        raw_data.remove_orphan_files(store)  # and those of a raw upload's interrupted confirm
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
    "owner_id = ? AND (project_id = ? OR "
    "cell_instance_id IN (SELECT id FROM cell_instances WHERE project_id = ? AND owner_id = ?))"
)


def tokens_in_project(store: Store, owner_id: str, project_id: str) -> list[str]:
    """The tokens of the unconfirmed uploads of the project's cell instances and raw data."""
    rows = store.query(
        f"SELECT token FROM measurement_uploads WHERE {_IN_PROJECT}",
        (owner_id, project_id, project_id, owner_id),
    )
    return [str(row["token"]) for row in rows]


def delete_in_project(store: Store, owner_id: str, project_id: str) -> None:
    """Delete the rows of :func:`tokens_in_project` (not their files)."""
    store.execute(
        f"DELETE FROM measurement_uploads WHERE {_IN_PROJECT}",
        (owner_id, project_id, project_id, owner_id),
    )


# --- extends (api/measurement_extend.py): one URL per extend, of an existing measurement -------


def create_extend(store: Store, owner_id: str, row: sqlite3.Row) -> str:
    """The upload URL's token of a new extend of the measurement ``row``;
    :class:`AlreadyClaimed` if it has an extend in flight (an unexpired URL, or a stitch)."""
    mid = row["id"]
    with store.transaction():
        if store.one(
            "SELECT token FROM measurement_uploads WHERE measurement_id = ? AND meta = ?",
            (mid, EXTEND_META),
        ) is not None or measurements.processing(store, mid):
            raise AlreadyClaimed(
                f"measurement {mid} already has an extend in flight; wait for it to finish "
                "(processing_status ready) before extending again"
            )
        token = secrets.token_urlsafe(32)
        store.execute(
            "INSERT INTO measurement_uploads(token, measurement_id, owner_id, cell_instance_id,"
            " filename, meta, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token, mid, owner_id, row["cell_instance_id"], EXTEND_FILE, EXTEND_META, time.time()),
        )
    return token


def claim_extend(store: Store, owner_id: str, measurement_id: str) -> str:
    """Atomically take the measurement's extend URL and mark the measurement ``pending``;
    returns the token. ``LookupError``: no extend URL (unknown, expired or spent);
    :class:`AlreadyClaimed`: a PUT is under way, or the extend is already confirmed;
    ``ValueError``: nothing was uploaded yet (nothing changes then)."""
    mid = measurement_id
    with store.transaction():
        row = store.one(
            "SELECT token, received FROM measurement_uploads WHERE measurement_id = ? "
            "AND owner_id = ? AND meta = ?",
            (mid, owner_id, EXTEND_META),
        )
        if row is None:
            raise LookupError(
                "no pending extend (unknown, expired or already used); call initiate-extend first"
            )
        state = row["received"]
        if state == RECEIVING:
            raise AlreadyClaimed(f"the extend of measurement {mid} is still being uploaded")
        if state == CONFIRMING or not measurements.begin_processing(store, mid):
            raise AlreadyClaimed(f"the extend of measurement {mid} is already being applied")
        if state != RECEIVED:
            raise ValueError(
                f"{EXTEND_FILE} was not uploaded; PUT it to its upload URL before confirming"
            )
        _move(store, row["token"], RECEIVED, CONFIRMING)
    return str(row["token"])
