"""50 clients × 20 requests at once against one server: no errors, no retries, no lost writes."""

from __future__ import annotations

import time

import anyio
import pytest

from ionworks import AsyncIonworks
from tests.faults.conftest import KEY_A, KEY_B

pytest.importorskip("pybamm")

CLIENTS = 50
PER_CLIENT = 20  # 6 creates + 6 updates + 4 lists + 4 protocol validations
CREATES = 6
PROTOCOL = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}
"""


async def test_50_clients_x_20_requests(fault_url: str) -> None:
    projects: dict[str, str] = {}
    for key in (KEY_A, KEY_B):
        async with AsyncIonworks(api_key=key, api_url=fault_url) as setup:
            projects[key] = (await setup.project.create({"name": "concurrency"})).id
    clients = [
        AsyncIonworks(
            api_key=key, api_url=fault_url, project_id=projects[key], timeout=30, max_retries=0
        )
        for key in (KEY_A, KEY_B) * (CLIENTS // 2)
    ]
    errors: list[BaseException] = []
    expected: dict[str, dict[str, str]] = {KEY_A: {}, KEY_B: {}}  # key → name → description
    go = anyio.Event()
    started = time.monotonic()

    async def guarded(coro_fn: object, *args: object) -> None:
        try:
            await coro_fn(*args)  # type: ignore[operator]
        except Exception as exc:  # collected: the assertion below lists them all
            errors.append(exc)

    async def create_then_update(index: int, client: AsyncIonworks, j: int) -> None:
        name = f"c{index:02d}-{j}"
        study = await client.study.create({"name": name, "description": "v1"})
        updated = await client.study.update(study.id, {"description": f"v2 {name}"})
        assert updated.description == f"v2 {name}"
        expected[client._config.api_key or ""][name] = f"v2 {name}"

    async def listing(client: AsyncIonworks) -> None:
        page = await client.study.list(limit=5)
        assert len(page) <= 5

    async def validate(client: AsyncIonworks) -> None:
        result = await client.protocol.validate(PROTOCOL)
        assert result["valid"] is True, result

    async def one_client(index: int, client: AsyncIonworks) -> None:
        await go.wait()
        async with anyio.create_task_group() as tg:
            for j in range(CREATES):
                tg.start_soon(guarded, create_then_update, index, client, j)
            for _ in range(4):
                tg.start_soon(guarded, listing, client)
                tg.start_soon(guarded, validate, client)

    try:
        async with anyio.create_task_group() as tg:
            for index, client in enumerate(clients):
                tg.start_soon(one_client, index, client)
            await anyio.sleep(0.05)
            go.set()
    finally:
        for client in clients:
            await client.aclose()
    seconds = time.monotonic() - started
    assert not errors, errors[:5]
    sent = [c._transport.request_count for c in clients]
    assert sent == [PER_CLIENT] * CLIENTS  # no retries were needed either
    # count rows after: every write is there exactly once, with its last update
    for key, want in expected.items():
        async with AsyncIonworks(api_key=key, api_url=fault_url, project_id=projects[key]) as c:
            studies = await c.study.list(limit=1000)
        got = {s.name: s.description for s in studies}
        assert len(studies) == len(got) == CLIENTS // 2 * CREATES
        assert got == want
    print(f"\nconcurrency: {CLIENTS} clients x {PER_CLIENT} requests in {seconds:.1f} s")
    assert seconds < 60
