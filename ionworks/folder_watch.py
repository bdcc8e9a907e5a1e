"""Watch a local folder for cycler exports and turn each into a measurement.

Everything happens on the client, so it works against the local server and the cloud alike
and no server ever reads a path a user chose. :class:`FolderWatcher` polls the folder (no
inotify): a file whose name matches the patterns (by default the vendor exports the raw
readers know, :data:`PATTERNS`) is imported once its size and modification time are the
same on two polls in a row, so a file still being copied is never read. The import itself is
an injected callable (:data:`Importer`; :func:`client_importer` uploads the file as raw data
and creates a measurement from it), at most ``concurrency`` at once.

What was done with each file is kept in an :class:`ImportLog` (a small JSON file written
atomically, keyed by the file's path relative to the folder, size and modification time), so
a restart imports nothing twice: an imported file, a file whose name is already taken (409)
and a file that could not be read are each reported once (one line) and left alone until
they change. A server that cannot be reached (or answers 5xx/429) is retried later, with
backoff. :meth:`FolderWatcher.run` with ``once=True`` makes one pass and returns; otherwise
it runs until cancelled (Ctrl-C), and leaves no task behind.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ionworks._concurrency import task_group
from ionworks.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ConflictError,
    IonworksError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    from ionworks import AsyncIonworks

__all__ = [
    "PATTERNS",
    "Event",
    "FolderWatcher",
    "ImportLog",
    "Importer",
    "Seen",
    "Summary",
    "client_importer",
    "default_log_path",
]

#: The vendor exports the server's raw readers know: BioLogic ``.mpr``/``.mpt``, Neware
#: ``.nda``/``.ndax``, Arbin and Neware CSV, Maccor ``.txt`` and ``.NNN``, Arbin ``.res``
#: (which the server explains how to export instead). Matched case-insensitively.
PATTERNS: Final = (
    "*.mpr",
    "*.mpt",
    "*.nda",
    "*.ndax",
    "*.csv",
    "*.txt",
    "*.res",
    "*.[0-9][0-9][0-9]",
)
#: Names that are never imported: hidden files, Office lock files, partial downloads.
_TEMPORARY: Final = (".*", "~$*", "*.tmp", "*.part", "*.partial", "*.crdownload")
#: Seconds before a file that met a transient error (no connection, 5xx, 429) is retried;
#: doubled on each further failure up to the maximum.
RETRY_FIRST: Final = 5.0
RETRY_MAX: Final = 300.0
_LINE: Final = 300  # longest detail shown in a report line
_LOG_VERSION: Final = 1

#: ``importer(path, name)`` imports one file under the measurement name ``name``; returns the
#: new measurement's id. Its errors are sorted by :func:`_classify`.
Importer = Callable[[Path, str], Awaitable[str]]


@attrs.frozen
class Seen:
    """A file's size and modification time on one poll: the identity of its content."""

    size: int
    mtime_ns: int


@attrs.frozen
class Event:
    """One thing that happened to a file: ``imported``, ``taken`` (its name is already used),
    ``failed`` (recorded: not retried until the file changes), ``retry`` (a transient error)
    or ``changing`` (still being written when a single pass ended)."""

    kind: str
    name: str
    detail: str = ""
    measurement_id: str | None = None

    def line(self) -> str:
        """One line for a person."""
        if self.kind == "imported":
            return f"imported {self.name} -> measurement {self.measurement_id}"
        text = {
            "taken": "skipped",
            "failed": "failed",
            "retry": "will retry",
            "changing": "still changing, not imported",
        }[self.kind]
        return f"{text} {self.name}" + (f": {self.detail}" if self.detail else "")


@attrs.define
class Summary:
    """What a run did: counts of each :class:`Event` kind."""

    imported: int = 0
    taken: int = 0
    failed: int = 0
    retry: int = 0
    changing: int = 0

    @property
    def ok(self) -> bool:
        """No file failed (a transient error counts: the file was not imported)."""
        return self.failed == 0 and self.retry == 0

    def add(self, event: Event) -> None:
        setattr(self, event.kind, getattr(self, event.kind) + 1)


def _one_line(exc: BaseException) -> str:
    """The first line of an error's message, cut to :data:`_LINE` characters."""
    text = exc.message if isinstance(exc, IonworksError) else str(exc)
    if not isinstance(text, str):
        text = json.dumps(text, default=str)
    first = next((s.strip() for s in text.splitlines() if s.strip()), type(exc).__name__)
    return first if len(first) <= _LINE else first[: _LINE - 1] + "…"


def _classify(exc: Exception) -> str:
    """``taken``, ``retry`` or ``failed`` for an importer's error; authentication and
    permission errors are re-raised (no file can be imported then)."""
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        raise exc
    if isinstance(exc, ConflictError):
        return "taken"
    if isinstance(exc, APIConnectionError | ServerError | RateLimitError | TimeoutError):
        return "retry"
    return "failed"


class ImportLog:
    """What was done with each file of a folder, by relative path: its :class:`Seen` and the
    outcome (``imported``, ``taken`` or ``failed``); a file is settled while it is unchanged.
    Kept in a JSON file replaced atomically on every change; a missing or unreadable file
    starts an empty log (an unreadable one is kept aside as ``<name>.corrupt``)."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.path = path
        self.folder = folder
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = anyio.Lock()

    @classmethod
    def load(cls, path: Path, folder: Path) -> ImportLog:
        log = cls(path, folder)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = data["files"] if isinstance(data, dict) else None
            if not isinstance(files, dict):
                raise ValueError("no 'files' object")
            log.entries = {str(k): v for k, v in files.items() if isinstance(v, dict)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError):
            os.replace(path, path.with_name(path.name + ".corrupt"))
        return log

    def settled(self, name: str, seen: Seen) -> bool:
        entry = self.entries.get(name)
        return entry is not None and Seen(entry.get("size", -1), entry.get("mtime_ns", -1)) == seen

    async def record(self, name: str, seen: Seen, event: Event) -> None:
        """Remember ``event`` for the file as it was (``seen``) and write the log."""
        entry = {**attrs.asdict(seen), "status": event.kind, "detail": event.detail}
        if event.measurement_id is not None:
            entry["measurement_id"] = event.measurement_id
        self.entries[name] = entry
        async with self._lock:  # writes land in order: the last one holds every entry
            text = json.dumps(
                {"version": _LOG_VERSION, "folder": str(self.folder), "files": self.entries},
                indent=1,
                sort_keys=True,
            )
            await anyio.to_thread.run_sync(_write_atomically, self.path, text)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_log_path(folder: Path, *target: str) -> Path:
    """Where the import log of ``folder`` (imported into ``target``, e.g. a cell instance id)
    is kept: under ``folder-watch/`` in ``$IONWORKS_STATE_DIR``, else in
    ``$XDG_STATE_HOME/ionworks`` (``~/.local/state/ionworks``), named by a hash of both."""
    base = os.environ.get("IONWORKS_STATE_DIR")
    if not base:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = str(Path(xdg) / "ionworks")
    key = "\0".join([str(folder.resolve()), *target])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return Path(base).expanduser() / "folder-watch" / f"{folder.resolve().name}-{digest}.json"


def _matches(name: str, patterns: Iterable[str]) -> bool:
    lower = name.lower()
    if any(fnmatch.fnmatchcase(lower, p) for p in _TEMPORARY):
        return False
    return any(fnmatch.fnmatchcase(lower, p.lower()) for p in patterns)


@attrs.define
class FolderWatcher:
    """Polls ``folder`` every ``interval`` seconds and imports each new or changed file that
    matches ``patterns`` once it is stable (see the module docstring); ``report`` hears of
    every :class:`Event`."""

    folder: Path
    importer: Importer
    log: ImportLog
    patterns: tuple[str, ...] = PATTERNS
    interval: float = 2.0
    concurrency: int = 2
    recursive: bool = False
    report: Callable[[Event], None] = lambda event: None
    summary: Summary = attrs.Factory(Summary)
    _last: dict[str, Seen] = attrs.Factory(dict)
    _busy: set[str] = attrs.Factory(set)
    _retry: dict[str, tuple[Seen, float, float]] = attrs.Factory(dict)  # seen, at, delay
    _limiter: anyio.CapacityLimiter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._limiter = anyio.CapacityLimiter(max(1, self.concurrency))

    def snapshot(self) -> dict[str, Seen]:
        """The matching files now (relative POSIX path → :class:`Seen`); blocking."""
        found: dict[str, Seen] = {}
        walk = self.folder.rglob("*") if self.recursive else self.folder.iterdir()
        for path in walk:
            rel = path.relative_to(self.folder)
            if any(part.startswith(".") for part in rel.parts[:-1]):
                continue  # inside a hidden folder (ours, a sync client's)
            if not _matches(path.name, self.patterns):
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # gone since listed
            if path.is_file():
                found[rel.as_posix()] = Seen(st.st_size, st.st_mtime_ns)
        return found

    def _ready(self, now: dict[str, Seen]) -> list[tuple[str, Seen]]:
        """Files unchanged since the last poll, not empty, not settled, not being imported,
        not waiting for a retry."""
        clock = anyio.current_time()
        ready = []
        for name, seen in sorted(now.items()):
            if seen.size == 0 or self._last.get(name) != seen or name in self._busy:
                continue
            if self.log.settled(name, seen):
                continue
            waiting = self._retry.get(name)
            if waiting is not None and waiting[0] == seen and waiting[1] > clock:
                continue
            ready.append((name, seen))
        return ready

    async def poll(self, tg: anyio.abc.TaskGroup) -> dict[str, Seen]:
        """One poll: start importing the files that are ready; the snapshot taken."""
        now = await anyio.to_thread.run_sync(self.snapshot)
        for name, seen in self._ready(now):
            self._busy.add(name)
            tg.start_soon(self._import, name, seen)
        self._last = now
        return now

    async def _import(self, name: str, seen: Seen) -> None:
        try:
            async with self._limiter:
                event = await self._attempt(name, seen)
            if event is None:
                return
            if event.kind in ("imported", "taken", "failed"):
                self._retry.pop(name, None)
                await self.log.record(name, seen, event)
            self.summary.add(event)
            self.report(event)
        finally:
            self._busy.discard(name)

    async def _attempt(self, name: str, seen: Seen) -> Event | None:
        path = self.folder / name
        try:
            measurement_id = await self.importer(path, name)
        except FileNotFoundError:
            return None  # removed while waiting: nothing to report
        except Exception as exc:
            kind = _classify(exc)
            if kind == "retry":
                _, _, delay = self._retry.get(name, (seen, 0.0, RETRY_FIRST / 2))
                delay = min(delay * 2, RETRY_MAX)
                self._retry[name] = (seen, anyio.current_time() + delay, delay)
                return Event("retry", name, f"{_one_line(exc)} (again in {delay:g} s)")
            return Event(kind, name, _one_line(exc))
        return Event("imported", name, measurement_id=measurement_id)

    async def run(self, *, once: bool = False) -> Summary:
        """Watch until cancelled; with ``once``: take two snapshots ``interval`` apart,
        import what was stable, report what was still changing and return."""
        async with task_group() as tg:
            await self.poll(tg)
            while True:
                await anyio.sleep(self.interval)
                before = self._last
                now = await self.poll(tg)
                if once:
                    break
        for name, seen in sorted(now.items()):  # once: what the pass left alone
            if seen.size and before.get(name) != seen and not self.log.settled(name, seen):
                event = Event("changing", name)
                self.summary.add(event)
                self.report(event)
        return self.summary


def client_importer(client: AsyncIonworks, cell_instance_id: str, project_id: str) -> Importer:
    """An :data:`Importer` that uploads the file as raw data of ``project_id`` and creates a
    measurement of ``cell_instance_id`` from it (waiting until its steps are derived). A name
    already used in the cell instance is a :class:`~ionworks.errors.ConflictError` before
    anything is uploaded; the raw data of a measurement the server refused is deleted."""

    async def run(path: Path, name: str) -> str:
        if await client.cell_measurement.list(cell_instance_id, limit=1, name_exact=name):
            raise ConflictError(
                f"a measurement named {name!r} already exists in cell instance {cell_instance_id}",
                status_code=409,
            )
        raw = await client.raw_data.upload(project_id, path, name=name)
        try:
            made = await client.cell_measurement.create_from_raw_data(
                cell_instance_id, raw.id, name, wait_for_processing=True
            )
        except APIStatusError:  # refused: no measurement was made of it
            with contextlib.suppress(IonworksError):
                await client.raw_data.delete(raw.id)
            raise
        return str(made.id)

    return run
