"""Benchmark 1 (batch, client-bound) and 7 (polling load), on the local server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from benchmarks._common import D_N, KEY, ONE_C, ONE_C_3S, LocalServer, config, doe, report
from ionworks import AsyncIonworks, Ionworks


def _values(n: int, scale: float = 1.0) -> list[float]:
    return [scale * float(v) for v in np.logspace(-14, -13, n)]


async def _seed(
    url: str, n: int, protocol: str, model: str, poll_interval: float = 0.5, scale: float = 1.0
) -> list[str]:
    """Submit one DOE batch of ``n`` simulations and wait until all are computed."""
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        responses = await client.simulation.protocol_batch(
            config(protocol, model, design_parameters_doe=doe(D_N, _values(n, scale)))
        )
        ids = [r.simulation_id for r in responses]
        await client.simulation.wait_for_completion(
            ids, timeout=3600, poll_interval=poll_interval, verbose=False
        )
        return ids


def _cloud_like(client: AsyncIonworks) -> None:
    """Ignore the local server's extensions (bundle, Arrow streams): the cloud's requests."""
    client._server_capabilities = frozenset()


async def _async_fetch_all(
    url: str, ids: list[str], limit: int = 16, extensions: bool = True
) -> int:
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        if not extensions:
            _cloud_like(client)
        await client.simulation.wait_for_completion(
            ids, timeout=600, poll_interval=0.05, verbose=False
        )
        gate = asyncio.Semaphore(limit)

        async def one(sid: str) -> int:
            async with gate:
                return (await client.simulation.get_result(sid)).time_series.height

        return sum(await asyncio.gather(*(one(sid) for sid in ids)))


def _sync_fetch_all(
    url: str, ids: list[str], extensions: bool = True, generator: bool = False
) -> int:
    """The sync facade: the wait, then every result in one concurrent ``get_results`` call
    (or streamed by ``iter_results``), 16 fetches at a time."""
    with Ionworks(api_key=KEY, api_url=url) as client:
        if not extensions:
            _cloud_like(client._async)
        client.simulation.wait_for_completion(ids, timeout=600, poll_interval=0.05, verbose=False)
        if generator:
            return sum(r.time_series.height for r in client.simulation.iter_results(ids))
        return sum(r.time_series.height for r in client.simulation.get_results(ids))


def bench_batch(n: int = 1000) -> None:
    """1. Wait + fetch ``n`` computed results: ours (async, sync) vs the official client."""
    from benchmarks._official import run_official_batch

    with LocalServer(workers=2).run() as server:
        start = time.perf_counter()
        ids = asyncio.run(_seed(server.url, n, ONE_C_3S, "chen2020-spm"))
        seeded = time.perf_counter() - start
        server.settle()  # the server's own PyBaMM import done
        asyncio.run(_async_fetch_all(server.url, ids[:20]))  # warm the OS caches / server
        start = time.perf_counter()
        rows = asyncio.run(_async_fetch_all(server.url, ids))
        ours_async = time.perf_counter() - start
        start = time.perf_counter()
        _sync_fetch_all(server.url, ids)
        ours_sync = time.perf_counter() - start
        start = time.perf_counter()
        _sync_fetch_all(server.url, ids, generator=True)
        ours_sync_generator = time.perf_counter() - start
        official = run_official_batch(server.url, KEY, ids)
        # The same fetches the way the cloud is asked (two downloads and parquet, no bundle
        # or Arrow streams): context for the figures above.
        start = time.perf_counter()
        asyncio.run(_async_fetch_all(server.url, ids, extensions=False))
        parquet_async = time.perf_counter() - start
        start = time.perf_counter()
        _sync_fetch_all(server.url, ids, extensions=False)
        parquet_sync = time.perf_counter() - start
    base = float(official["total_s"])
    extra: dict[str, Any] = {
        "n": n,
        "rows_per_result": rows / n,
        "seed_s": seeded,
        "official": official,
    }
    report(
        "batch_fetch_async_vs_official",
        ours_async,
        base,
        5.0,
        "s",
        kind="speedup",
        parquet_only_s=parquet_async,
        parquet_only_ratio=base / parquet_async,
        **extra,
    )
    report(
        "batch_fetch_sync_vs_official",
        ours_sync,
        base,
        12.0,
        "s",
        kind="speedup",
        n=n,
        generator_s=ours_sync_generator,
        generator_ratio=base / ours_sync_generator,
        parquet_only_s=parquet_sync,
        parquet_only_ratio=base / parquet_sync,
    )


def bench_polling(n: int = 1000, poll_interval: float = 0.2) -> None:
    """7. HTTP requests the waiter makes per poll interval while ``n`` simulations run."""
    with LocalServer(workers=2).run() as server:

        async def main() -> tuple[dict[str, int], int, float]:
            async with AsyncIonworks(api_key=KEY, api_url=server.url) as submitter:
                responses = await submitter.simulation.protocol_batch(
                    config(ONE_C, "chen2020-spm", design_parameters_doe=doe(D_N, _values(n)))
                )
            ids = [r.simulation_id for r in responses]
            counts = {"status": 0, "record": 0, "other": 0, "polls": 0}
            async with AsyncIonworks(api_key=KEY, api_url=server.url) as waiter:
                transport: Any = waiter._transport
                original = transport.request

                async def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
                    if path.endswith("/statuses"):
                        counts["status"] += 1
                    elif method == "GET" and path.startswith("/simulations/"):
                        counts["record"] += 1
                    else:
                        counts["other"] += 1
                    return await original(method, path, *args, **kwargs)

                transport.request = counted
                fetch_outcomes = waiter.simulation._fetch_outcomes

                async def polled(batch: list[str]) -> Any:
                    counts["polls"] += 1
                    return await fetch_outcomes(batch)

                waiter.simulation._fetch_outcomes = polled  # type: ignore[method-assign]
                start = time.perf_counter()
                await waiter.simulation.wait_for_completion(
                    ids, timeout=3600, poll_interval=poll_interval, verbose=False
                )
                elapsed = time.perf_counter() - start
            return counts, len(ids), elapsed

        counts, total, elapsed = asyncio.run(main())
    polls = max(counts["polls"], 1)
    per_k = total / 1000
    report(
        "polling_status_requests_per_interval_per_1000_ids",
        counts["status"] / polls / per_k,
        polls,
        1.0,
        "requests",
        kind="count",
        n=total,
        wait_s=elapsed,
        poll_interval=poll_interval,
    )
    report(
        "polling_all_requests_per_interval_per_1000_ids",
        (counts["status"] + counts["record"] + counts["other"]) / polls / per_k,
        polls,
        1.0,
        "requests",
        kind="count",
        n=total,
        record_gets=counts["record"],
        other=counts["other"],
    )
