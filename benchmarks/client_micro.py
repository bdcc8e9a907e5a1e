"""Benchmarks 2–4: transport overhead, sync facade overhead, result decode (no server engine)."""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._common import report
from ionworks import AsyncIonworks, Ionworks
from ionworks.resources._results import build_result


def parquet_bytes(rows: int) -> bytes:
    t = np.linspace(0, 3600, rows)
    table = pa.table(
        {
            "Time [s]": t,
            "Voltage [V]": 4.2 - t / 3600,
            "Current [A]": np.full(rows, 5.0),
            "Discharge capacity [A.h]": t / 720,
            "Charge capacity [A.h]": np.zeros(rows),
            "Step count": np.zeros(rows, dtype=np.int32),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


class Server:
    """The bare aiohttp server (:mod:`benchmarks._bare_server`) in its own process: the same
    endpoint for both sides, not competing for the client's GIL."""

    def __init__(self) -> None:
        self.url = ""

    def __enter__(self) -> Server:
        command = [sys.executable, "-m", "benchmarks._bare_server"]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the bare benchmark server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()  # the server stops when its stdin closes
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


async def timed(n: int, func: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(20):
        await func()
    start = time.perf_counter()
    for _ in range(n):
        await func()
    return (time.perf_counter() - start) / n


def bench_transport_overhead(n: int = 2000) -> None:
    """2. Per-request overhead of our transport vs a bare aiohttp loop (target ≤ 1.3×)."""
    with Server() as srv:

        async def main() -> tuple[float, float]:
            async with aiohttp.ClientSession() as session:

                async def bare() -> Any:
                    async with session.get(f"{srv.url}/jobs/j1") as resp:
                        return json.loads(await resp.read())

                baseline = await timed(n, bare)
            async with AsyncIonworks(api_url=srv.url, api_key="k") as client:
                ours = await timed(n, lambda: client.job.get("j1"))
            return ours, baseline

        ours, baseline = asyncio.run(main())
    report("transport_per_request", ours * 1e6, baseline * 1e6, 1.3, "us")


def bench_sync_overhead(n: int = 2000, rounds: int = 5) -> None:
    """3. Sync facade call overhead over the async call (target ≤ 150 µs per call): the two
    measured in alternating rounds of ``n / rounds`` calls, medians reported (machine noise
    hits both sides alike)."""
    per_round = max(1, n // rounds)
    with Server() as srv:

        async def async_side() -> float:
            async with AsyncIonworks(api_url=srv.url, api_key="k") as client:
                return await timed(per_round, lambda: client.job.get("j1"))

        def sync_side(client: Ionworks) -> float:
            for _ in range(20):
                client.job.get("j1")
            start = time.perf_counter()
            for _ in range(per_round):
                client.job.get("j1")
            return (time.perf_counter() - start) / per_round

        async_runs, sync_runs = [], []
        with Ionworks(api_url=srv.url, api_key="k") as sync_client:
            for _ in range(rounds):
                async_runs.append(asyncio.run(async_side()))
                sync_runs.append(sync_side(sync_client))
    ours, baseline = statistics.median(sync_runs), statistics.median(async_runs)
    report(
        "sync_facade_overhead",
        ours * 1e6,
        baseline * 1e6,
        150.0,
        "us",
        kind="overhead",
        rounds_us=[round(1e6 * (s - a), 1) for s, a in zip(sync_runs, async_runs, strict=True)],
    )


def bench_decode(rows: int = 100_000, repeats: int = 31) -> None:
    """4. get_result decode of a 100k-row result vs raw pyarrow.parquet → polars (≤ 1.2×)."""
    data = parquet_bytes(rows)
    steps = parquet_bytes(3)

    def ours() -> None:
        build_result(data, steps, {}, "polars")

    def baseline() -> None:
        pl.from_arrow(pq.read_table(pa.BufferReader(data)))
        pl.from_arrow(pq.read_table(pa.BufferReader(steps)))

    def timed_once(func: Callable[[], None]) -> float:
        start = time.perf_counter()
        func()
        return time.perf_counter() - start

    ours(), baseline()
    samples: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(repeats):  # alternating, so machine noise hits both alike
        samples["ours"].append(timed_once(ours))
        samples["baseline"].append(timed_once(baseline))
    medians = {k: statistics.median(v) for k, v in samples.items()}
    report("get_result_decode_100k", medians["ours"] * 1e3, medians["baseline"] * 1e3, 1.2, "ms")
