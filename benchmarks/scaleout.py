"""The same sweep on the process pool and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import asyncio
import time

from benchmarks._common import D_N, ONE_C, LocalServer
from benchmarks.batch import _seed


def _sweep(server: LocalServer, n: int) -> float:
    asyncio.run(_seed(server.url, 2, ONE_C, "chen2020-spm"))  # workers warm
    start = time.perf_counter()
    asyncio.run(_seed(server.url, n, ONE_C, "chen2020-spme"))
    return time.perf_counter() - start


def bench_dask(n: int = 1000) -> None:
    """``n``-point SPMe sweep (1C, D_n): Dask LocalCluster (2 workers × 1 thread) vs the pool."""
    import distributed

    from benchmarks._common import report

    with LocalServer(workers=2).run() as server:
        pool = _sweep(server, n)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with LocalServer(
            workers=4, executor="dask", scheduler=cluster.scheduler_address
        ).run() as server:
            dask = _sweep(server, n)
    # The issue asks for both figures, not a ratio target; 1.25 is our own aim.
    report(
        "sweep_dask_localcluster_vs_process_pool",
        dask,
        pool,
        1.25,
        "s",
        n=n,
        param=D_N,
        pool_s=pool,
        dask_s=dask,
        per_sim_ms={"pool": 1e3 * pool / n, "dask": 1e3 * dask / n},
    )
