"""The Dask executor runs several jobs per task (a chunk) with the pool's semantics: each
job's outcome on its own, a canceled job's result dropped, an all-canceled chunk stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from ionworks.server.execution.executor import JobCanceled, WorkerError
from tests.server import chunk_tricks

distributed = pytest.importorskip("distributed")

from ionworks.server.execution.executor_dask import DaskExecutor  # noqa: E402


@pytest.fixture
async def dask_executor() -> AsyncIterator[DaskExecutor]:
    async with distributed.LocalCluster(
        n_workers=1,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",  # any free port: 8787 may be taken
        asynchronous=True,
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address, initializer=None)
        try:
            yield executor
        finally:
            await executor.aclose()


async def test_a_chunk_is_one_task_with_an_outcome_per_job(dask_executor: DaskExecutor) -> None:
    outcomes: dict[str, Any] = {}
    jobs = [("a", 1), ("b", "boom"), ("c", 3)]
    await dask_executor.run_chunk(jobs, chunk_tricks.fail_on_text, outcomes.__setitem__)
    assert list(outcomes) == ["a", "b", "c"]
    assert outcomes["a"] == 1 and outcomes["c"] == 3
    assert isinstance(outcomes["b"], WorkerError) and "boom" in str(outcomes["b"])


async def test_canceling_some_jobs_drops_their_results_all_stops_the_task(
    dask_executor: DaskExecutor,
) -> None:
    outcomes: dict[str, Any] = {}
    assert not dask_executor.cancel("x")  # before its chunk is submitted: never runs
    async with anyio.create_task_group() as tg:
        jobs = [("x", 0.0), ("a", 0.5), ("b", 0.0)]
        tg.start_soon(dask_executor.run_chunk, jobs, chunk_tricks.sleep, outcomes.__setitem__)
        await anyio.sleep(0.2)
        assert dask_executor.cancel("b")
    assert isinstance(outcomes["x"], JobCanceled) and isinstance(outcomes["b"], JobCanceled)
    assert outcomes["a"] == 0.5

    stopped: dict[str, Any] = {}
    with anyio.fail_after(20):  # a chunk of 60 s jobs ends at once when all are canceled
        async with anyio.create_task_group() as tg:
            jobs = [("c", 60.0), ("d", 60.0)]
            tg.start_soon(dask_executor.run_chunk, jobs, chunk_tricks.sleep, stopped.__setitem__)
            await anyio.sleep(0.5)
            dask_executor.cancel("c")
            dask_executor.cancel("d")
    assert all(isinstance(stopped[k], JobCanceled) for k in ("c", "d"))
