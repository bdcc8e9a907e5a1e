"""``python -m benchmarks._sweep_client URL N POLL [SCALE]``: submit an N-point SPMe D_n sweep, stream
every result with ``as_completed`` (fetching each as it arrives, 16 at a time), print one
JSON line: ``submit_s``, ``total_s``, ``peak_rss_mb`` (this process only)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import numpy as np

from benchmarks._common import D_N, KEY, ONE_C, config, doe, peak_rss_mb
from ionworks import AsyncIonworks


async def sweep(url: str, values: list[float], poll_interval: float) -> dict[str, float]:
    """Submit the D_n sweep, fetch every result as it completes; seconds taken."""
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        await client.project.list()
        # the result libraries load with the first result (a lazy import); load them before
        # the clock starts, as the floor's are
        import polars  # noqa: F401
        import pyarrow.ipc  # noqa: F401

        start = time.perf_counter()
        responses = await client.simulation.protocol_batch(
            config(ONE_C, "chen2020-spme", design_parameters_doe=doe(D_N, values))
        )
        submitted = time.perf_counter()
        ids = [r.simulation_id for r in responses]
        del responses
        gate = asyncio.Semaphore(16)
        rows = 0

        async def fetch(sid: str) -> None:
            nonlocal rows
            async with gate:
                rows += (await client.simulation.get_result(sid)).time_series.height

        tasks = set()
        async for record in client.simulation.as_completed(ids, poll_interval=poll_interval):
            task = asyncio.ensure_future(fetch(record["id"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
        total = time.perf_counter() - start
    assert rows > 0
    return {"submit_s": submitted - start, "total_s": total}


def main(argv: list[str]) -> int:
    url, n, poll = argv[1], int(argv[2]), float(argv[3])
    scale = float(argv[4]) if len(argv) > 4 else 1.0  # other points than an earlier sweep's
    out = asyncio.run(sweep(url, [scale * float(v) for v in np.logspace(-14, -13, n)], poll))
    # VmHWM, not ru_maxrss: Linux carries the parent's peak over execve into ru_maxrss (a
    # benchmark process of 470 MB made this client look as large)
    out["peak_rss_mb"] = peak_rss_mb(os.getpid())
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
