"""A simulation batch through injected network faults: exactly N on the server, N results back.

The client talks to a real local server through :class:`tests.faults.proxy.FaultProxy` (5xx
bursts, resets mid-request and mid-response, responses slower than the client timeout,
truncated JSON, 429 with Retry-After). Writes carry Idempotency-Keys that the server honours,
so retries after possibly-delivered requests never duplicate a simulation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks._retry import RetryPolicy
from ionworks._waiting import gather_limited
from ionworks.server.hosting import EmbeddedServer
from tests.faults.conftest import QUICK_MODEL as MODEL
from tests.faults.conftest import QUICK_PROTOCOL as PROTOCOL
from tests.faults.proxy import FAULT_KINDS, FaultPlan, FaultProxy

pytest.importorskip("pybamm")

KEY = "faults-batch-key"
CHUNK = 5  # simulations per batch POST: N/5 keyed POSTs go through the faults


def _config(start: int, count: int) -> dict[str, Any]:
    return {
        "parameterized_model": MODEL,
        "protocol_experiment": {"protocol": PROTOCOL, "name": "faults"},
        "conditions": [
            {"experiment_parameters": {}, "design_parameters": {"Ambient temperature [K]": t}}
            for t in (290.0 + 0.1 * i for i in range(start, start + count))
        ],
    }


async def _run_batch(tmp_path: Path, n: int, seed: int) -> dict[str, Any]:
    server = EmbeddedServer(tmp_path, api_keys=[KEY], allow_anonymous=False, workers=2)
    url = server.start()
    started = time.monotonic()
    try:
        async with FaultProxy(url, FaultPlan(seed, rate=0.15, slow_seconds=1.5)) as proxy:
            assert proxy.url is not None
            async with AsyncIonworks(
                api_key=KEY, api_url=proxy.url, timeout=1.0, max_retries=12
            ) as client:
                transport = client._transport
                assert transport.retry_keyed_writes  # loopback: keyed POSTs are retried
                transport.retry_policy = RetryPolicy(
                    max_retries=12, initial_delay=0.02, max_delay=0.3
                )

                async def submit(start: int) -> list[str]:
                    cfg = _config(start, min(CHUNK, n - start))
                    return [r.simulation_id for r in await client.simulation.protocol_batch(cfg)]

                chunks = await gather_limited(submit, list(range(0, n, CHUNK)), limit=8)
                ids = [sid for chunk in chunks for sid in chunk]
                records = await client.simulation.wait_for_completion(
                    ids, timeout=max(120.0, n * 2.0), poll_interval=0.2, verbose=False
                )
                results = await gather_limited(client.simulation.get_result, ids, limit=8)
                client_requests = transport.request_count
            figures = proxy.figures()
        # Count on the server directly (no proxy in between).
        async with AsyncIonworks(api_key=KEY, api_url=url) as direct:
            page = await direct.simulation.list(offset=0)  # every page, with the total
            on_server = [s["id"] for s in page.items]  # type: ignore[union-attr]
            total = page.total  # type: ignore[union-attr]
    finally:
        server.stop()
    retrieved = [sid for sid, r in zip(ids, results, strict=True) if len(r.time_series) > 5]
    return {
        "n": n,
        "seed": seed,
        **figures,
        "client_attempts": client_requests,
        "sims_returned": len(ids),
        "sims_on_server": total,
        "records": len(records),
        "results": len(retrieved),
        "lost": len(set(ids) - set(on_server)) + (n - len(set(retrieved))),
        "duplicated": total - len(set(ids)) + (len(ids) - len(set(ids))),
        "seconds": round(time.monotonic() - started, 1),
        "_ids": ids,
        "_on_server": on_server,
    }


def _report(capsys: pytest.CaptureFixture[str], figures: dict[str, Any]) -> None:
    shown = {k: v for k, v in figures.items() if not k.startswith("_")}
    with capsys.disabled():
        print(f"\nfault figures: {json.dumps(shown)}")


def _check(figures: dict[str, Any], n: int) -> None:
    assert figures["sims_returned"] == n
    assert figures["sims_on_server"] == n, "duplicated or missing simulations on the server"
    assert sorted(figures["_on_server"]) == sorted(figures["_ids"])
    assert figures["records"] == n and figures["results"] == n
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    for kind in FAULT_KINDS:  # every kind was injected at least once
        assert figures[kind] > 0, f"no {kind} fault was injected: {figures}"


@pytest.mark.parametrize("n", [20, pytest.param(200, marks=pytest.mark.slow)])
async def test_batch_through_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], n: int
) -> None:
    figures = await _run_batch(tmp_path, n, seed=n)
    _report(capsys, figures)
    _check(figures, n)


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_keyed_post_through_each_fault_creates_one_record(tmp_path: Path, kind: str) -> None:
    """The first response of a study create meets ``kind``; the retry (same Idempotency-Key)
    gets the stored response, so exactly one study exists."""
    server = EmbeddedServer(tmp_path, api_keys=[KEY], allow_anonymous=False, workers=1)
    url = server.start()
    try:
        async with AsyncIonworks(api_key=KEY, api_url=url) as direct:
            project_id = (await direct.project.list())[0].id
        plan = FaultPlan(0, rate=0.0, burst=(1, 1), slow_seconds=0.6)
        async with FaultProxy(url, plan) as proxy:
            assert proxy.url is not None
            async with AsyncIonworks(
                api_key=KEY, api_url=proxy.url, project_id=project_id, timeout=0.4
            ) as client:
                client._transport.retry_policy = RetryPolicy(
                    max_retries=3, initial_delay=0.01, max_delay=0.05
                )
                plan.defer(kind)
                study = await client.study.create({"name": f"through {kind}"})
            assert proxy.counts[kind] == 1
        async with AsyncIonworks(api_key=KEY, api_url=url, project_id=project_id) as direct:
            studies = await direct.study.list()
        assert [s.id for s in studies] == [study.id]
    finally:
        server.stop()
