"""Durable server state: SQLite (WAL) for records, parquet files for results.

One connection, used from the server's event-loop thread only. Every write is a transaction;
parquet files are written to a temporary name, fsynced and renamed, so a crash never leaves a
half-written row or file.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ionworks.server.db import packs as packs_module
from ionworks.server.db.schema import SCHEMA, upgrade

__all__ = ["ARROW_SUFFIX", "DataDirInUse", "Store", "json_column", "new_id", "now_iso"]


IDEMPOTENCY_TTL = 24 * 3600.0
#: Seconds between two removals of expired idempotency records.
PRUNE_EVERY = 60.0


class DataDirInUse(RuntimeError):
    """Another server process owns this data directory."""


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """One server per data directory: an exclusive ``flock`` held while the store is open
    (two servers would re-queue and run each other's jobs)."""
    handle = open(data_dir / "server.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataDirInUse(
            f"the data directory {data_dir} is in use by another ionworks server ({holder})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


#: Suffix of the Arrow IPC stream copy stored next to a small result table's parquet file.
ARROW_SUFFIX = ".arrows"


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def json_column(value: str | None, default: Any = None) -> Any:
    """A JSON column's value, or ``default`` if it is NULL."""
    return default if value is None else json.loads(value)


def _memo(key: str) -> bytes:
    """How a configured key is remembered in memory (its SHA-256, never the key itself)."""
    return hashlib.sha256(key.encode()).digest()


class Store:
    """Records and result files under one data directory."""

    def __init__(self, data_dir: str | os.PathLike[str], *, exclusive: bool = True) -> None:
        """Open the store. A server opens it ``exclusive`` (one server per data directory);
        tools that only inspect a live server's data pass ``exclusive=False``."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_data_dir(self.data_dir) if exclusive else None
        self.blob_dir = self.data_dir / "blobs"
        self.blob_dir.mkdir(exist_ok=True)
        self._db = sqlite3.connect(
            self.data_dir / "ionworks.sqlite3",
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
        )
        self._db.row_factory = sqlite3.Row
        self._owners: dict[bytes, str] = {}  # sha256(key) of configured keys -> owner
        self._pruned_at = 0.0  # when expired idempotency records were last removed
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        upgrade(self._db)
        self._migrate_clear_keys()
        self._seq = int(
            self._db.execute(
                "SELECT MAX(m) FROM (SELECT MAX(seq) m FROM jobs UNION SELECT MAX(seq) FROM simulations)"
            ).fetchone()[0]
            or 0
        )

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # releases the data-directory lock

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def reserve_seq(self, count: int) -> int:
        """Reserve ``count`` sequence numbers; returns the first."""
        first = self._seq + 1
        self._seq += count
        return first

    @contextmanager
    def bulk_writer(self) -> Iterator[sqlite3.Connection]:
        """A transaction on a connection of its own, for large writes in a worker thread (the
        main connection belongs to the event loop's thread); committed on success."""
        db = sqlite3.connect(self.data_dir / "ionworks.sqlite3", isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, args).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, args).fetchone()
        return row

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, args).rowcount

    # --- keys and projects -------------------------------------------------------------------

    def owner_for_key(self, key: str) -> str | None:
        """The owner of ``key`` if this server was started with it (:meth:`add_key`), else
        None: a key is valid only while the running server is configured with it."""
        return self._owners.get(_memo(key))

    def add_key(self, key: str) -> str:
        """Accept ``key`` while the store is open; returns its owner (the same one every time
        the key is configured again). Only a salted scrypt hash of it is stored."""
        digest = self._key_hash(key)
        row = self.one("SELECT owner_id FROM key_owners WHERE key_hash = ?", (digest,))
        if row is None:
            owner = f"org-{secrets.token_hex(6)}"
            self.execute(
                "INSERT INTO key_owners(key_hash, owner_id, created_at) VALUES (?, ?, ?)",
                (digest, owner, now_iso()),
            )
        else:
            owner = str(row["owner_id"])
        self.default_project(owner)
        self._owners[_memo(key)] = owner
        return owner

    def _key_hash(self, key: str) -> str:
        salt = bytes.fromhex(self._setting("key_salt", lambda: secrets.token_hex(16)))
        return hashlib.scrypt(key.encode(), salt=salt, n=2**14, r=8, p=1).hex()

    def _setting(self, name: str, default: Callable[[], str]) -> str:
        row = self.one("SELECT value FROM settings WHERE name = ?", (name,))
        if row is None:
            self.execute(
                "INSERT OR IGNORE INTO settings(name, value) VALUES (?, ?)", (name, default())
            )
            row = self.one("SELECT value FROM settings WHERE name = ?", (name,))
        assert row is not None
        return str(row["value"])

    def _migrate_clear_keys(self) -> None:
        """Data directories of 0.1 kept keys in clear text (``api_keys``): hash them, drop it."""
        if self.one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'"):
            for row in self.query("SELECT key, owner_id, created_at FROM api_keys"):
                self.execute(
                    "INSERT OR IGNORE INTO key_owners(key_hash, owner_id, created_at) "
                    "VALUES (?, ?, ?)",
                    (self._key_hash(str(row["key"])), row["owner_id"], row["created_at"]),
                )
            self.execute("DROP TABLE api_keys")

    def default_project(self, owner_id: str) -> dict[str, Any]:
        """The owner's default project (:func:`ionworks.server.db.projects.default_project`)."""
        from ionworks.server.db.projects import default_project

        return default_project(self, owner_id)

    # --- idempotency -----------------------------------------------------------------------------

    def idempotent_response(self, owner_id: str, key: str) -> tuple[str, str, int, bytes] | None:
        row = self.one(
            "SELECT method, path, status, body, created FROM idempotency "
            "WHERE owner_id = ? AND key = ?",
            (owner_id, key),
        )
        if row is None or time.time() - row["created"] > IDEMPOTENCY_TTL:
            return None
        return row["method"], row["path"], int(row["status"]), bytes(row["body"])

    def remember_response(
        self, owner_id: str, key: str, method: str, path: str, status: int, body: bytes
    ) -> None:
        self.execute(
            "INSERT OR REPLACE INTO idempotency(owner_id, key, method, path, status, body, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (owner_id, key, method, path, status, body, time.time()),
        )
        # Expired rows are ignored when read; removing them scans the table (past every
        # stored body), so at most once per PRUNE_EVERY seconds, not on every POST.
        now = time.time()
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            self.execute("DELETE FROM idempotency WHERE created < ?", (now - IDEMPOTENCY_TTL,))

    # --- result files ----------------------------------------------------------------------------

    def blob_path(self, folder: str, name: str) -> Path:
        return self.blob_dir / folder / name

    def write_blobs(self, folder: str, files: dict[str, bytes]) -> None:
        """Write files atomically into ``blobs/<folder>/`` (temp file + fsync + rename)."""
        directory = self.blob_dir / folder
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            tmp = directory / f".{name}.{secrets.token_hex(4)}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, directory / name)
        _fsync_dir(directory)

    def write_packs(self, packs: dict[str, dict[str, bytes]]) -> None:
        """Write several packs at once (``{path: {name: content}}``, each path a file under
        the blob directory, see :mod:`ionworks.server.db.packs`), durably: every pack to a
        temporary name, one ``syncfs`` of the data directory's filesystem (Linux; elsewhere
        an fsync per file), the renames, then an fsync of each directory they are in. Much
        cheaper than a folder of files per result with an fsync per file."""
        sync = _syncfs()
        moves: list[tuple[Path, Path]] = []
        made: set[Path] = set()
        try:
            for path, blobs in packs.items():
                final = self.blob_dir / path
                if final.parent not in made:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    made.add(final.parent)
                tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
                moves.append((tmp, final))
                with open(tmp, "wb") as fh:
                    fh.writelines(packs_module.chunks(blobs))
                    if sync is None:
                        fh.flush()
                        os.fsync(fh.fileno())
            if sync is not None:
                sync(self.blob_dir)  # the contents are on disk before any file gets its name
        except BaseException:
            for tmp, _ in moves:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, final in moves:
            if final.is_dir():  # a folder of the older layout, from an interrupted run
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        for directory in {final.parent for _, final in moves}:  # and the names too
            _fsync_dir(directory)

    def delete_blobs(self, folder: str) -> None:
        """Remove a folder of files or a pack (see :meth:`write_packs`)."""
        path = self.blob_dir / folder
        if path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def clean_temp_files(self) -> None:
        """Remove partial writes: ``.*.tmp`` files are only ever written to and then renamed,
        so one left at start is a write a stop interrupted. Complete files are kept, among
        them fully received but unconfirmed uploads (``blobs/uploads/{token}``; those of
        expired or unknown tokens are removed by :func:`ionworks.server.db.uploads.sweep`)."""
        for tmp in self.blob_dir.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs() -> Callable[[Path], None] | None:
    """``syncfs(2)`` of the filesystem holding a path (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):  # pragma: no cover - an unusual libc
        return None

    def sync(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if call(fd) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"syncfs failed: {os.strerror(errno)}")
        finally:
            os.close(fd)

    return sync
