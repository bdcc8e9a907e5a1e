"""Several jobs per worker round trip (chunks) and results stored in groups (issue 21).

The executor runs a chunk in one worker and reports each job as it ends; a cancel drops a
job's result or stops the worker running it (the rest of the chunk goes back to the queue);
the runner claims jobs in dispatch order (priority first, re-attempts alone) and never
marks a job completed before its group's result files are on disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store
from ionworks.server.execution.executor import (
    JobCanceled,
    NotStarted,
    ProcessExecutor,
    WorkerError,
)
from ionworks.server.execution.jobs import JobRunner, JobType
from tests.server import chunk_tricks


@pytest.fixture
async def one_worker() -> AsyncIterator[ProcessExecutor]:
    pool = ProcessExecutor(1)
    yield pool
    await pool.aclose()


async def _chunk(
    executor: ProcessExecutor, jobs: Sequence[tuple[str, Any]], func: Any = chunk_tricks.echo
) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    await executor.run_chunk(jobs, func, outcomes.__setitem__)
    return outcomes


async def test_a_chunk_runs_in_one_worker_and_reports_every_job(
    one_worker: ProcessExecutor,
) -> None:
    order: list[str] = []

    def deliver(job_id: str, outcome: Any) -> None:
        order.append(job_id)
        assert outcome["payload"] == int(job_id[-1])

    await one_worker.run_chunk([(f"job-{i}", i) for i in range(5)], chunk_tricks.echo, deliver)
    assert order == [f"job-{i}" for i in range(5)]
    # one worker answered all of them, and it still serves single jobs
    single = await one_worker.run("job-9", chunk_tricks.echo, 9)
    assert single["payload"] == 9


async def test_a_failing_job_fails_alone(one_worker: ProcessExecutor) -> None:
    outcomes = await _chunk(
        one_worker, [("a", 1), ("b", "boom"), ("c", 3)], chunk_tricks.fail_on_text
    )
    assert outcomes["a"] == 1 and outcomes["c"] == 3
    assert isinstance(outcomes["b"], WorkerError) and not outcomes["b"].died
    assert "boom" in str(outcomes["b"])


async def test_a_worker_dying_mid_chunk_fails_that_job_and_returns_the_rest(
    one_worker: ProcessExecutor,
) -> None:
    outcomes = await _chunk(
        one_worker, [("a", 1), ("b", "die"), ("c", 3), ("d", 4)], chunk_tricks.die_on_text
    )
    assert outcomes["a"] == 1
    assert isinstance(outcomes["b"], WorkerError) and outcomes["b"].died
    assert isinstance(outcomes["c"], NotStarted) and isinstance(outcomes["d"], NotStarted)
    assert await one_worker.run("e", chunk_tricks.die_on_text, 5) == 5  # a fresh worker


async def test_cancel_drops_a_queued_job_and_stops_a_running_one(
    one_worker: ProcessExecutor,
) -> None:
    outcomes: dict[str, Any] = {}
    jobs = [("a", 0.0), ("b", 30.0), ("c", 0.0), ("d", 0.0)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(one_worker.run_chunk, jobs, chunk_tricks.sleep, outcomes.__setitem__)
        with anyio.fail_after(20):
            while "a" not in outcomes:
                await anyio.sleep(0.01)
        assert one_worker.cancel("c")  # queued in the worker: its result is dropped
        assert one_worker.cancel("b")  # running (a 30 s job): the worker is stopped at once
    assert outcomes["a"] == 0.0
    assert isinstance(outcomes["b"], JobCanceled) and isinstance(outcomes["c"], JobCanceled)
    assert isinstance(outcomes["d"], NotStarted)  # back to the queue, never lost


async def test_a_job_canceled_before_its_chunk_starts_never_runs(
    one_worker: ProcessExecutor,
) -> None:
    assert not one_worker.cancel("b")
    outcomes = await _chunk(one_worker, [("a", 1), ("b", 2)])
    assert outcomes["a"]["payload"] == 1 and isinstance(outcomes["b"], JobCanceled)


# --- the runner: claims in dispatch order, groups stored before completion ------------------


class RecordingExecutor:
    """Runs chunks in this process and records them (no workers)."""

    def __init__(self) -> None:
        self.chunks: list[list[str]] = []
        self.release = anyio.Event()
        self.hold = False

    async def run(self, job_id: str, func: Any, payload: Any) -> Any:
        raise AssertionError("chunkable jobs go through run_chunk")

    async def run_chunk(self, jobs: Sequence[tuple[str, Any]], func: Any, deliver: Any) -> None:
        self.chunks.append([job_id for job_id, _ in jobs])
        if self.hold:
            await self.release.wait()
        for job_id, payload in jobs:
            deliver(job_id, func(payload))

    def cancel(self, job_id: str) -> bool:
        return False

    async def aclose(self) -> None:
        pass


def _job_type(stored: list[str], store_dir: Path) -> JobType:
    async def store_one(store: Store, params: dict[str, Any], result: Any) -> None:
        raise AssertionError("grouped")

    async def store_group(store: Store, results: Sequence[tuple[str, dict[str, Any], Any]]) -> None:
        with store.transaction():
            for job_id, _, result in results:
                assert (store_dir / result).exists()  # files first
                if jobs_db.finish(store, job_id, "completed", None):  # still running
                    stored.append(job_id)

    def build(store: Store, params: dict[str, Any]) -> Any:
        name = f"{params['n']}.out"
        (store_dir / name).write_text("x")
        return name

    return JobType("simulation", lambda payload: payload, build, store_one, store_group)


async def _run_until(runner: JobRunner, store: Store, ids: list[str]) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(runner.run)
        with anyio.fail_after(20):
            while any(jobs_db.status(store, i) not in jobs_db.TERMINAL for i in ids):
                runner.wake()
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()


async def test_multi_job_claims_follow_priority_and_keep_re_attempts_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    try:
        low = [jobs_db.enqueue(store, "o", "simulation", {"n": i}, priority=1) for i in range(6)]
        retried = jobs_db.enqueue(store, "o", "simulation", {"n": 90}, priority=9)
        assert jobs_db.claim(store, retried)
        jobs_db.requeue_running(store)  # interrupted once: a re-attempt
        urgent = [
            jobs_db.enqueue(store, "o", "simulation", {"n": 50 + i}, priority=9) for i in range(3)
        ]
        stored: list[str] = []
        executor = RecordingExecutor()
        runner = JobRunner(store, executor, 1, {"simulation": _job_type(stored, tmp_path)})
        await _run_until(runner, store, [*low, *urgent, retried])
        flat = [job_id for chunk in executor.chunks for job_id in chunk]
        assert flat == [*urgent, retried, *low]  # priority, first attempts before re-attempts
        assert [retried] in executor.chunks  # the re-attempt ran alone
        assert any(len(chunk) > 1 for chunk in executor.chunks)
        assert sorted(stored) == sorted([*low, *urgent, retried])
        assert {jobs_db.status(store, i) for i in stored} == {"completed"}
    finally:
        store.close()


async def test_a_job_canceled_while_its_chunk_waits_is_not_completed(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    try:
        ids = [jobs_db.enqueue(store, "o", "simulation", {"n": i}) for i in range(4)]
        stored: list[str] = []
        executor = RecordingExecutor()
        executor.hold = True
        runner = JobRunner(store, executor, 1, {"simulation": _job_type(stored, tmp_path)})

        async def cancel_then_release() -> None:
            with anyio.fail_after(20):
                while not executor.chunks:
                    await anyio.sleep(0.01)
            runner.cancel(executor.chunks[0][-1])  # claimed (running), not yet done
            executor.release.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_then_release)
            await _run_until(runner, store, ids)
        canceled = executor.chunks[0][-1]
        assert jobs_db.status(store, canceled) == "canceled"
        assert canceled not in stored
        assert sorted(stored) == sorted(i for i in ids if i != canceled)
    finally:
        store.close()


async def test_worker_death_puts_unstarted_chunk_jobs_back_to_pending(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    try:
        job = jobs_db.enqueue(store, "o", "simulation", {})
        assert jobs_db.claim_many(store, [job, "missing"]) == [job]
        assert jobs_db.unclaim(store, job)
        row = jobs_db.get(store, job)
        assert row is not None and row["status"] == "pending" and row["attempts"] == 0
        assert not jobs_db.unclaim(store, job)  # only a running job
    finally:
        store.close()


async def test_warmed_waits_for_every_worker_initializer() -> None:
    """``ionworks serve`` imports PyBaMM itself only after its workers have (the imports
    would compete for the cores): ``warmed`` returns once every started worker ran its
    initializer, and also for a worker whose initializer failed or that was killed."""
    pool = ProcessExecutor(2, initializer="tests.server.chunk_tricks:slow_start")
    try:
        pool.start()
        start = anyio.current_time()
        await pool.warmed()
        assert anyio.current_time() - start >= 0.9
        with anyio.fail_after(1):
            await pool.warmed()  # once known, at once
        assert (await pool.run("job-1", chunk_tricks.echo, 1))["payload"] == 1
    finally:
        await pool.aclose()
    for initializer in ("tests.server.chunk_tricks:broken_start", None):
        pool = ProcessExecutor(1, initializer=initializer)
        try:
            pool.start()
            with anyio.fail_after(30):
                await pool.warmed()
        finally:
            await pool.aclose()
    pool = ProcessExecutor(1, initializer="tests.server.chunk_tricks:slow_start")
    pool.start()
    pool._all[0].kill()  # gone before its initializer ended
    with anyio.fail_after(5):
        await pool.warmed()
    await pool.aclose()


async def test_an_executor_may_ask_for_larger_chunks(tmp_path: Path) -> None:
    """A Dask task costs a scheduler round trip: the Dask executor asks for chunks of up to
    64 jobs (``max_chunk``, ``chunk_seconds``); the process pool gets the default 16."""
    from ionworks.server.execution.executor_dask import DaskExecutor
    from ionworks.server.execution.jobs import MAX_CHUNK

    assert (DaskExecutor.max_chunk, MAX_CHUNK) == (64, 16)
    for max_chunk, expected in ((None, MAX_CHUNK), (40, 40)):
        store = Store(tmp_path / f"data-{max_chunk}")
        try:
            ids = [jobs_db.enqueue(store, "o", "simulation", {"n": i}) for i in range(100)]
            executor = RecordingExecutor()
            if max_chunk is not None:
                executor.max_chunk, executor.chunk_seconds = max_chunk, 10.0  # type: ignore[attr-defined]
            runner = JobRunner(store, executor, 1, {"simulation": _job_type([], tmp_path)})
            runner._seconds["simulation"] = 0.001  # quick jobs: chunks as large as allowed
            await _run_until(runner, store, ids)
            assert max(len(chunk) for chunk in executor.chunks) == expected
        finally:
            store.close()
