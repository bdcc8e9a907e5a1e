"""Cancelling a batch submit (``protocol_batch``) mid-flight leaves no running task and no open
connection, and the server holds either the whole batch or none of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest

from ionworks import AsyncIonworks
from ionworks.server.hosting import EmbeddedServer
from tests.faults.conftest import QUICK_MODEL as MODEL
from tests.faults.conftest import QUICK_PROTOCOL as PROTOCOL

pytest.importorskip("pybamm")

KEY = "cancel-key"
BATCH = 1000


def _config() -> dict[str, object]:
    return {
        "parameterized_model": MODEL,
        "protocol_experiment": {"protocol": PROTOCOL, "name": "cancel"},
        "conditions": [
            {"design_parameters": {"Ambient temperature [K]": 290.0 + i * 0.01}}
            for i in range(BATCH)
        ],
    }


async def test_cancelled_batch_submit_leaves_no_task_or_connection(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, api_keys=[KEY], allow_anonymous=False, workers=1)
    url = server.start()
    try:
        async with AsyncIonworks(api_key=KEY, api_url=url) as client:
            await client.health_check()
            before = set(asyncio.all_tasks())
            cancelled = 0
            for delay in (0.0, 0.002, 0.01, 0.03, 0.06, 0.1, 0.2):
                with anyio.move_on_after(delay) as scope:
                    await client.simulation.protocol_batch(_config())
                cancelled += scope.cancelled_caught
                await asyncio.sleep(0)
                assert set(asyncio.all_tasks()) == before, delay  # no task left running
                session = client._transport._session
                assert session is not None and session.connector is not None
                assert not session.connector._acquired, delay  # no connection left in use
            assert cancelled >= 3  # most submits really were cut off mid-flight
            assert await client.health_check()  # the client still works
            # all or nothing per request: the server holds whole batches only
            page = await client.simulation.list(limit=1)
            assert page.total % BATCH == 0  # type: ignore[union-attr]
    finally:
        server.stop()
