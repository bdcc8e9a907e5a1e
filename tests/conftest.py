"""Shared fixtures: a clean environment, an async client with fast retries, aioresponses."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from types import SimpleNamespace
from typing import Any

import aioresponses.core as _aioresponses_core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks import AsyncIonworks, Ionworks
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


@pytest.fixture(autouse=True, scope="session")
def local_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A client with no API configured uses the shared local daemon of ``IONWORKS_DATA_DIR``:
    never the user's own, and none is left running after the session."""
    path = tmp_path_factory.mktemp("zero-config-data")
    previous = os.environ.get("IONWORKS_DATA_DIR")
    os.environ["IONWORKS_DATA_DIR"] = str(path)
    yield
    from ionworks.server import daemon

    daemon.stop(path, timeout=10)
    if previous is None:
        del os.environ["IONWORKS_DATA_DIR"]
    else:
        os.environ["IONWORKS_DATA_DIR"] = previous


@pytest.fixture(autouse=True, scope="session")
def local_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The measurement cache (:mod:`ionworks.cache`) of the tests: never the user's own, and
    off unless a test turns it on (tests/test_cache.py), so that mocked APIs see only the
    requests they mock."""
    from ionworks import cache

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IONWORKS_CACHE_DIR", str(tmp_path_factory.mktemp("measurement-cache")))
        patch.setitem(cache._settings, "enabled", False)
        yield


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


# --------------------------------------------------------------------------- both clients


class SyncAsAsync:
    """The blocking client behind the async client's interface, so that one test body drives
    ``AsyncIonworks`` and ``Ionworks`` alike: where the async twin has a coroutine method, the
    sync method is called when the result is awaited (it blocks the test's loop; the sync
    client runs its own loop in its portal thread); where it has an async generator, the sync
    generator is consumed as an async iterator. Resources are wrapped once each, so identities
    (``measurement is cell_measurement``) are the sync client's own."""

    def __init__(self, target: Any, wrapped: dict[int, SyncAsAsync] | None = None) -> None:
        self._target = target
        self._wrapped: dict[int, SyncAsAsync] = {} if wrapped is None else wrapped

    def __repr__(self) -> str:
        return f"<SyncAsAsync {self._target!r}>"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        twin = getattr(self._target._async, name)
        if inspect.isasyncgenfunction(twin):

            @functools.wraps(value)
            async def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                for item in value(*args, **kwargs):
                    yield item

            return iterate
        if inspect.iscoroutinefunction(twin):

            @functools.wraps(value)
            async def call(*args: Any, **kwargs: Any) -> Any:
                return value(*args, **kwargs)

            return call
        if hasattr(value, "_async") and hasattr(value, "_portal"):  # a sync resource
            if id(value) not in self._wrapped:
                self._wrapped[id(value)] = SyncAsAsync(value, self._wrapped)
            return self._wrapped[id(value)]
        return value


def async_of(client: Any) -> AsyncIonworks:
    """The ``AsyncIonworks`` that does the work, behind either kind of client."""
    return client if isinstance(client, AsyncIonworks) else client._target._async


@pytest.fixture(params=["async", "sync"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Which client a test that uses ``any_client``/``new_client`` runs on (both, in turn)."""
    return str(request.param)


@pytest.fixture
def new_client(client_kind: str) -> Callable[..., AbstractAsyncContextManager[Any]]:
    """``async with new_client(**kwargs) as c``: an ``AsyncIonworks(**kwargs)``, or an
    ``Ionworks(**kwargs)`` behind :class:`SyncAsAsync`; closed on exit."""

    @contextlib.asynccontextmanager
    async def make(**kwargs: Any) -> AsyncIterator[Any]:
        if client_kind == "async":
            async with AsyncIonworks(**kwargs) as client:
                yield client
        else:
            sync = Ionworks(**kwargs)
            try:
                yield SyncAsAsync(sync)
            finally:
                sync.close()

    return make


@pytest.fixture
async def any_client(
    new_client: Callable[..., AbstractAsyncContextManager[Any]],
) -> AsyncIterator[Any]:
    """The ``client`` fixture's settings, on ``AsyncIonworks`` and then on ``Ionworks``."""
    async with new_client(api_key="key-1", api_url=API, project_id="p1") as c:
        async_of(c)._transport.retry_policy = FAST_RETRIES
        async_of(c)._transport.retry_keyed_writes = True
        yield c
