"""Shared fixtures: a clean environment, an async client with fast retries, aioresponses."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aioresponses.core as _aioresponses_core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks import AsyncIonworks
from ionworks._retry import RetryPolicy

API = "http://api.test"


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without aiohttp 3.14's required
    ``stream_writer`` (pnuckowski/aioresponses#289); supply a finished writer."""

    def __init__(self, *args: Any, stream_writer: Any = None, **kwargs: Any) -> None:
        if stream_writer is None:
            stream_writer = SimpleNamespace(output_size=0)
        super().__init__(*args, stream_writer=stream_writer, **kwargs)


if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
    _aioresponses_core.ClientResponse = _CompatResponse  # type: ignore[misc]

ENV_VARS = (
    "IONWORKS_API_KEY",
    "IONWORKS_API_URL",
    "IONWORKS_API_TOKEN",
    "IONWORKS_PROJECT_ID",
    "PROJECT_ID",
    "IONWORKS_ORGANIZATION_ID",
    "IONWORKS_DATAFRAME_BACKEND",
    "IONWORKS_INTERNAL_CLIENT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


FAST_RETRIES = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.002)


@pytest.fixture
async def client() -> AsyncIterator[AsyncIonworks]:
    """An async client pointed at the mocked API, project ``p1``, fast retries."""
    async with AsyncIonworks(api_key="key-1", api_url=API, project_id="p1") as c:
        c._transport.retry_policy = FAST_RETRIES
        c._transport.retry_keyed_writes = True  # as against a server that honours the keys
        yield c


@pytest.fixture
def mock_api() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m
