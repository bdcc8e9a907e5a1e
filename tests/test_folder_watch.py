"""The folder-watch engine (:mod:`ionworks.folder_watch`) with an injected importer: files are
imported only once stable, each exactly once across restarts, failures are reported once and
left alone until the file changes, transient errors are retried, concurrency is bounded and
cancellation leaves nothing running."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from ionworks import folder_watch
from ionworks.errors import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    ValidationError,
)
from ionworks.folder_watch import PATTERNS, Event, FolderWatcher, ImportLog, default_log_path


class Recorder:
    """An importer that remembers what it read; ``fail`` maps a name to the error to raise."""

    def __init__(self) -> None:
        self.read: list[tuple[str, bytes]] = []
        self.fail: dict[str, Exception] = {}
        self.running = 0
        self.most = 0
        self.delay = 0.0

    async def __call__(self, path: Path, name: str) -> str:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await anyio.sleep(self.delay)
            if name in self.fail:
                raise self.fail[name]
            self.read.append((name, await anyio.Path(path).read_bytes()))
            return f"m-{len(self.read)}"
        finally:
            self.running -= 1

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.read]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    return path


def watcher(folder: Path, importer: Recorder, events: list[Event], **kw: object) -> FolderWatcher:
    log = ImportLog.load(folder.parent / "state" / "log.json", folder)
    return FolderWatcher(folder, importer, log, interval=0.02, report=events.append, **kw)  # type: ignore[arg-type]


async def test_a_file_is_imported_only_once_it_is_stable(folder: Path) -> None:
    rec, events = Recorder(), []
    w = watcher(folder, rec, events)
    target, same_size = folder / "cell1.mpt", folder / "cell2.csv"
    async with anyio.create_task_group() as tg:
        target.write_bytes(b"half ")
        same_size.write_bytes(b"aaaa")
        await w.poll(tg)
        with target.open("ab") as handle:  # the copy goes on: the size changes
            handle.write(b"rest")
        same_size.write_bytes(b"bbbb")  # same size, another modification time
        os.utime(same_size, ns=(10**9, 10**9))
        await w.poll(tg)
        await anyio.sleep(0.02)
        assert rec.read == []
        await w.poll(tg)
    assert sorted(rec.read) == [("cell1.mpt", b"half rest"), ("cell2.csv", b"bbbb")]


async def test_a_growing_file_waits_and_an_empty_one_is_left(folder: Path) -> None:
    rec, events = Recorder(), []
    w = watcher(folder, rec, events)
    (folder / "empty.csv").write_bytes(b"")
    grow = folder / "grow.nda"
    async with anyio.create_task_group() as tg:
        for i in range(4):
            grow.write_bytes(b"x" * (i + 1))
            await w.poll(tg)
    assert rec.read == []
    summary = await w.run(once=True)
    assert rec.read == [("grow.nda", b"xxxx")]
    assert summary.imported == 1 and summary.ok
    assert [e.line() for e in events] == ["imported grow.nda -> measurement m-1"]


async def test_a_restart_imports_nothing_twice(folder: Path) -> None:
    (folder / "a.mpr").write_bytes(b"a")
    (folder / "b.NDAX").write_bytes(b"b")
    (folder / "notes.docx").write_bytes(b"not an export")
    rec, events = Recorder(), []
    await watcher(folder, rec, events).run(once=True)
    assert sorted(rec.names) == ["a.mpr", "b.NDAX"]
    saved = json.loads((folder.parent / "state" / "log.json").read_text())
    assert saved["files"]["a.mpr"]["status"] == "imported"
    assert {e["measurement_id"] for e in saved["files"].values()} == {"m-1", "m-2"}
    again = Recorder()
    summary = await watcher(folder, again, events).run(once=True)
    assert again.read == [] and summary.imported == 0
    (folder / "a.mpr").write_bytes(b"a, longer now")  # a changed file is a new import
    await watcher(folder, again, events).run(once=True)
    assert again.read == [("a.mpr", b"a, longer now")]


async def test_failures_are_reported_once_until_the_file_changes(folder: Path) -> None:
    (folder / "bad.csv").write_bytes(b"garbage")
    (folder / "taken.mpt").write_bytes(b"data")
    rec, events = Recorder(), []
    rec.fail["bad.csv"] = ValidationError("bad.csv: no time column\nsecond line", 422)
    rec.fail["taken.mpt"] = ConflictError(
        {"message": "a measurement named 'taken.mpt' already exists", "existing_id": "m0"}, 409
    )
    summary = await watcher(folder, rec, events).run(once=True)
    assert not summary.ok and (summary.failed, summary.taken) == (1, 1)
    assert sorted(e.line() for e in events) == [
        "failed bad.csv: bad.csv: no time column",
        "skipped taken.mpt: a measurement named 'taken.mpt' already exists",
    ]
    events.clear()
    summary = await watcher(folder, rec, events).run(once=True)
    assert events == [] and summary.ok
    del rec.fail["bad.csv"]
    (folder / "bad.csv").write_bytes(b"fixed export")
    await watcher(folder, rec, events).run(once=True)
    assert rec.read == [("bad.csv", b"fixed export")]


async def test_transient_errors_are_retried_with_backoff(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_watch, "RETRY_FIRST", 0.5)
    (folder / "run.mpr").write_bytes(b"data")
    rec, events = Recorder(), []
    rec.fail["run.mpr"] = APIConnectionError("connection refused")
    w = watcher(folder, rec, events)
    async with anyio.create_task_group() as tg:
        await w.poll(tg)
        await w.poll(tg)
        await anyio.sleep(0.01)
        assert [e.kind for e in events] == ["retry"]
        await w.poll(tg)  # within the backoff: not tried again
        await anyio.sleep(0.01)
        assert [e.kind for e in events] == ["retry"]
        del rec.fail["run.mpr"]
        await anyio.sleep(0.55)
        await w.poll(tg)
    assert [e.kind for e in events] == ["retry", "imported"]
    assert "again in 0.5 s" in events[0].line()
    assert not ImportLog.load(w.log.path, folder).entries["run.mpr"].get("detail")


async def test_an_authentication_error_stops_the_watch(folder: Path) -> None:
    (folder / "run.mpr").write_bytes(b"data")
    rec, events = Recorder(), []
    rec.fail["run.mpr"] = AuthenticationError("invalid API key", 401)
    with pytest.raises(AuthenticationError):
        await watcher(folder, rec, events).run(once=True)


async def test_concurrency_is_bounded(folder: Path) -> None:
    for i in range(6):
        (folder / f"run{i}.csv").write_bytes(b"x")
    rec, events = Recorder(), []
    rec.delay = 0.05
    summary = await watcher(folder, rec, events, concurrency=2).run(once=True)
    assert summary.imported == 6 and rec.most == 2


async def test_cancelling_leaves_nothing_running(folder: Path) -> None:
    (folder / "slow.mpr").write_bytes(b"data")
    started, stopped = anyio.Event(), anyio.Event()

    async def hangs(path: Path, name: str) -> str:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()
        raise AssertionError

    w = FolderWatcher(folder, hangs, ImportLog(folder.parent / "log.json", folder), interval=0.02)
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(w.run)
            await started.wait()
            tg.cancel_scope.cancel()
    assert not scope.cancelled_caught and stopped.is_set()
    assert not (folder.parent / "log.json").exists()  # nothing recorded for the cut import


def test_patterns_cover_the_raw_readers_and_skip_temporary_files(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    from ionworks.server.services.raw_readers import SUPPORTED_FORMATS

    names = [n for key in SUPPORTED_FORMATS for n in key.replace(".NNN", ".041").split("/")]
    names += [".res", ".RES", ".Mpr", ".052"]
    for name in names:
        (tmp_path / f"x{name}").write_bytes(b"1")
    for skip in (".hidden.csv", "~$book.csv", "x.csv.part", "x.tmp", "x.xlsx", "x.41"):
        (tmp_path / skip).write_bytes(b"1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.mpr").write_bytes(b"1")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.mpr").write_bytes(b"1")
    w = FolderWatcher(tmp_path, Recorder(), ImportLog(tmp_path / "l.json", tmp_path))
    assert sorted(w.snapshot()) == sorted(f"x{n}" for n in names)
    w.recursive = True
    assert "sub/deep.mpr" in w.snapshot() and ".hidden/x.mpr" not in w.snapshot()
    assert len(PATTERNS) == len(set(PATTERNS))


def test_a_corrupt_log_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text("{not json")
    log = ImportLog.load(path, tmp_path)
    assert log.entries == {} and not path.exists()
    assert (tmp_path / "log.json.corrupt").read_text() == "{not json"


def test_the_default_log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IONWORKS_STATE_DIR", str(tmp_path / "state"))
    first: Callable[..., Path] = default_log_path
    a = first(tmp_path, "http://x", "ci-1")
    assert a.parent == tmp_path / "state" / "folder-watch"
    assert a != first(tmp_path, "http://x", "ci-2") and a == first(tmp_path, "http://x", "ci-1")
    monkeypatch.delenv("IONWORKS_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert first(tmp_path).parent == tmp_path / "xdg" / "ionworks" / "folder-watch"


async def test_a_single_pass_reports_a_file_still_being_written(folder: Path) -> None:
    (folder / "live.mpt").write_bytes(b"first rows")
    rec, events = Recorder(), []
    w = watcher(folder, rec, events)
    w.interval = 1.0
    async with anyio.create_task_group() as tg:

        async def append() -> None:
            await anyio.sleep(0.3)
            with (folder / "live.mpt").open("ab") as handle:
                handle.write(b" more rows")

        tg.start_soon(append)
        summary = await w.run(once=True)
    assert rec.read == [] and summary.ok and summary.changing == 1
    assert [e.line() for e in events] == ["still changing, not imported live.mpt"]
