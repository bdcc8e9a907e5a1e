"""Results stored in groups are durable before any job of the group reports completed.

Fast: ``store_results`` writes (and fsyncs) every file of the group before the one
transaction that records them and completes the jobs; a failed write completes none.
Slow: a server killed (SIGKILL) again and again while a sweep's groups are stored never
shows a completed job without its result files, and finishes the sweep after a restart.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ionworks import Ionworks
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db import packs
from ionworks.server.db import store as store_module
from ionworks.server.db.store import Store
from ionworks.server.services import simulation_jobs
from tests.server.test_restart import _free_port, _serve, _wait_healthy


def _result(n: int) -> dict[str, Any]:
    return {"time_series": b"ts%d" % n, "steps": b"st%d" % n, "metrics": {"n": n}}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = Store(tmp_path)
    yield s
    s.close()


def _running_jobs(store: Store, count: int) -> list[str]:
    ids = [jobs_db.enqueue(store, "o", "simulation", {}) for _ in range(count)]
    assert jobs_db.claim_many(store, ids) == ids
    return ids


async def test_files_are_on_disk_before_the_group_commits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _running_jobs(store, 3)
    seen: list[tuple[str, bool]] = []
    folders = [f"simulations/sim-{n}" for n in range(3)]

    def set_result(store_: Store, sid: str, folder: str, metrics: str) -> bool:
        # every pack of the whole group is on disk before the first record is written ...
        seen.append((sid, all(store.blob_path(f, "").is_file() for f in folders)))
        # ... and what others read (committed state) shows no job completed yet
        assert _count_completed(store.data_dir) == 0
        return True

    monkeypatch.setattr(simulation_jobs.simulations_db, "exists", lambda s, sid: True)
    monkeypatch.setattr(simulation_jobs.simulations_db, "set_result", set_result)
    group = [(job_id, {"simulation_id": f"sim-{n}"}, _result(n)) for n, job_id in enumerate(ids)]
    await simulation_jobs.store_results(store, group)
    assert seen == [(f"sim-{n}", True) for n in range(3)]
    assert [jobs_db.status(store, i) for i in ids] == ["completed"] * 3
    assert _entry(store, "simulations/sim-2", "steps.parquet") == b"st2"


async def test_a_failed_sync_completes_no_job_of_the_group(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _running_jobs(store, 3)

    def failing_sync(path: Path) -> None:
        raise OSError(5, "syncfs failed: Input/output error")

    monkeypatch.setattr(store_module, "_syncfs", lambda: failing_sync)
    monkeypatch.setattr(simulation_jobs.simulations_db, "exists", lambda s, sid: True)
    group = [(job_id, {"simulation_id": f"sim-{n}"}, _result(n)) for n, job_id in enumerate(ids)]
    with pytest.raises(OSError, match="Input/output"):
        await simulation_jobs.store_results(store, group)
    assert [jobs_db.status(store, i) for i in ids] == ["running"] * 3  # re-run after a restart
    assert not store.blob_path("simulations/sim-0", "").exists()  # never named
    assert not list(store.blob_dir.rglob("*.tmp"))  # nor left half-written


def _entry(store: Store, pack: str, name: str) -> bytes | None:
    return packs.read(store.blob_path(pack, ""), [name]).get(name)


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_write_packs_names_complete_files_only(
    store: Store, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    if not syncfs:
        monkeypatch.setattr(store_module, "_syncfs", lambda: None)
    (store.blob_dir / "simulations" / "s3").mkdir(parents=True)  # an older layout's leftover
    (store.blob_dir / "simulations" / "s3" / ".a.parquet.1234.tmp").write_bytes(b"partial")
    groups = {f"simulations/s{n}": {"a.parquet": b"a" * n, "b.arrows": b"b"} for n in range(5)}
    store.write_packs(groups)
    for n in range(5):
        assert _entry(store, f"simulations/s{n}", "a.parquet") == b"a" * n
        assert _entry(store, f"simulations/s{n}", "b.arrows") == b"b"
        assert _entry(store, f"simulations/s{n}", "c") is None
    assert not list(store.blob_dir.rglob("*.tmp"))
    store.delete_blobs("simulations/s1")
    assert not store.blob_path("simulations/s1", "").exists()


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"IWPACK1\n",
        b"NOTAPACK\0\0\0\0",
        b"IWPACK1\n\xff\xff\xff\xff",
        b"IWPACK1\n\x03\0\0\0{{{",
        b'IWPACK1\n\x10\0\0\0{"a": [0, 99]}  ',
        b'IWPACK1\n\x0e\0\0\0{"a": "x"}   ',
    ],
)
def test_a_damaged_pack_is_reported_not_misread(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / "pack"
    path.write_bytes(damage)
    with pytest.raises(packs.PackError):
        packs.read(path, ["a"])


def _completed_without_result(data_dir: Path) -> list[str]:
    """Completed simulation jobs whose result is not fully on disk (read-only look)."""
    db = sqlite3.connect(f"file:{data_dir / 'ionworks.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT s.id, s.storage_folder FROM simulations s JOIN jobs j ON j.id = s.job_id "
            "WHERE j.status = 'completed'"
        ).fetchall()
    finally:
        db.close()
    bad = []
    for sid, folder in rows:
        names = ("time_series.parquet", "steps.parquet")
        try:
            tables = packs.read(data_dir / "blobs" / folder, names)
            for name in names:
                pq.read_table(pa.BufferReader(tables[name]))
        except (OSError, TypeError, ValueError, KeyError):
            bad.append(sid)
    return bad


def _count_completed(data_dir: Path) -> int:
    db = sqlite3.connect(f"file:{data_dir / 'ionworks.sqlite3'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'completed'").fetchone()[0])
    finally:
        db.close()


@pytest.mark.slow
def test_killing_the_server_mid_group_never_leaves_a_completed_job_without_result(
    tmp_path: Path,
) -> None:
    key, port = "group-kill-key", _free_port()
    url = f"http://127.0.0.1:{port}"
    doe = {
        "sampling": "grid",
        "rows": [
            {
                "type": "discrete",
                "name": "Negative particle diffusivity [m2.s-1]",
                "values": [1e-14 * (1 + i / 100) for i in range(300)],
            }
        ],
    }
    body = {
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {
            "protocol": "global: {initial_soc: 1}\nsteps:\n  - Rest: {duration: 60}\n",
            "name": "kill",
        },
        "design_parameters_doe": doe,
    }
    proc = _serve(tmp_path, port, key)
    try:
        _wait_healthy(url, proc)
        with Ionworks(api_key=key, api_url=url) as client:
            ids = [r.simulation_id for r in client.simulation.protocol_batch(body)]
        for threshold in (10, 60, 120):  # kill while groups are being stored, three times
            deadline = time.monotonic() + 120
            while _count_completed(tmp_path) < threshold:
                assert time.monotonic() < deadline, "the sweep did not progress"
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            assert _completed_without_result(tmp_path) == []
            proc = _serve(tmp_path, port, key)
            _wait_healthy(url, proc)
        with Ionworks(api_key=key, api_url=url) as client:
            records = client.simulation.wait_for_completion(ids, timeout=300, verbose=False)
            assert {r["status"] for r in records} == {"completed"}
            assert all(len(client.simulation.get_result(i).time_series) > 1 for i in ids[::37])
        assert _completed_without_result(tmp_path) == []
    finally:
        proc.kill()
        proc.wait(10)
