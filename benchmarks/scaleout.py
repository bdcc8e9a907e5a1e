"""The same sweep on the process pool and on 2 Dask workers: a ``LocalCluster`` (in a process
of its own) and a separate ``dask scheduler`` + ``dask worker``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from benchmarks._common import D_N, ONE_C, LocalServer, _free_port
from benchmarks.batch import _seed


def _sweeps(server: LocalServer, n: int, rounds: int) -> list[float]:
    """Seconds of ``rounds`` ``n``-point sweeps (new points each round) on a warm server."""
    asyncio.run(_seed(server.url, 2, ONE_C, "chen2020-spm"))  # workers warm
    server.settle()  # and the server (its own PyBaMM import)
    out = []
    for round_ in range(rounds):
        start = time.perf_counter()
        scale = 1 + round_ / 100  # new points: not the runs of the round before
        asyncio.run(_seed(server.url, n, ONE_C, "chen2020-spme", 0.05, scale))  # 1 % polls
        out.append(time.perf_counter() - start)
    return out


@contextlib.contextmanager
def _separate_cluster(workers: int = 2) -> Iterator[str]:
    """A ``dask scheduler`` and a ``dask worker --nworkers N --nthreads 1`` as processes of
    their own (as on a real cluster); yields the scheduler's address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"], **quiet
    )
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "distributed.cli.dask_worker", address,
            "--nworkers", str(workers), "--nthreads", "1", "--dashboard-address", ":0",
        ],
        **quiet,
    )  # fmt: skip
    try:
        import distributed

        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


_LOCAL_CLUSTER = """
import sys
from distributed import LocalCluster
with LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,
                  dashboard_address=":0") as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the benchmark closes it
"""


@contextlib.contextmanager
def _local_cluster(workers: int = 2) -> Iterator[str]:
    """A ``LocalCluster`` (2 worker processes × 1 thread, its scheduler in the process that
    made it) in a process of its own, so the benchmark's client does not share a GIL with
    the scheduler; yields the scheduler's address."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCAL_CLUSTER.format(workers=workers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_dask(n: int = 1000) -> None:
    """``n``-point SPMe sweep (1C, D_n) with ``--executor dask`` on 2 workers × 1 thread vs
    the 2-process pool: a ``LocalCluster``, then a separate scheduler and worker."""
    from benchmarks._common import report

    load_before = os.getloadavg()[0]
    rounds = 3  # a sweep's time varies by ±20 % from one to the next here: medians of 3
    with LocalServer(workers=2).run() as server:
        pool_before = _sweeps(server, n, rounds)
    with _local_cluster(2) as address:
        with LocalServer(workers=4, executor="dask", scheduler=address).run() as server:
            dask = statistics.median(_sweeps(server, n, rounds))
    with _separate_cluster(2) as address:
        with LocalServer(workers=4, executor="dask", scheduler=address).run() as server:
            separate = statistics.median(_sweeps(server, n, rounds))
    # the pool measured before and after both Dask runs: the machine's load changes meanwhile
    with LocalServer(workers=2).run() as server:
        pool_after = _sweeps(server, n, rounds)
    pool = statistics.median(pool_before + pool_after)
    for name, ours in (
        ("sweep_dask_localcluster_vs_process_pool", dask),
        ("sweep_dask_separate_scheduler_vs_process_pool", separate),
    ):
        report(
            name,
            ours,
            pool,
            1.2,
            "s",
            n=n,
            param=D_N,
            per_sim_ms={"pool": 1e3 * pool / n, "dask": 1e3 * ours / n},
            pool_before_s=pool_before,
            pool_after_s=pool_after,
            load_before=load_before,
            load_after=os.getloadavg()[0],
        )
