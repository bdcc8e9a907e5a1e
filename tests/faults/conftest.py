"""Fixtures of the fault and hostile-input tests: a fresh local server per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

pytest.importorskip("pybamm")

from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import local_server

KEY_A = "faults-key-a"
KEY_B = "faults-key-b"

#: A 2C discharge of a quick model: a few-second simulation for batches and isolation checks.
QUICK_PROTOCOL = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 2, ends: ["Voltage < 3.0"]}
"""
QUICK_MODEL = {"quick_model": {"capacity": 5, "chemistry": "NMC", "resistance_pct": 100}}


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of its own (two keys, no anonymous access) so row counts are exact."""
    with local_server(tmp_path_factory, "faults-data", KEY_A, KEY_B) as srv:
        yield srv


@pytest.fixture
def fault_url(fault_server: EmbeddedServer) -> str:
    assert fault_server.url is not None
    return fault_server.url


@pytest.fixture
async def http(fault_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP session of key A on the module's server."""
    async with aiohttp.ClientSession(
        base_url=fault_url, headers={"X-API-Key": KEY_A}, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        yield session
