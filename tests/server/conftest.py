"""A real local server (SQLite + worker processes + PyBaMM) shared by the server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("pybamm")

from ionworks import AsyncIonworks
from ionworks.errors import NotFoundError
from ionworks.server.hosting import EmbeddedServer

KEY_A = "test-key-a"
KEY_B = "test-key-b"


@contextmanager
def local_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, *keys: str
) -> Iterator[EmbeddedServer]:
    """A real server on a fresh data directory: these keys only, two workers."""
    data_dir: Path = tmp_path_factory.mktemp(name)
    with EmbeddedServer(data_dir, api_keys=list(keys), allow_anonymous=False, workers=2) as srv:
        yield srv


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with local_server(tmp_path_factory, "server-data", KEY_A, KEY_B) as srv:
        yield srv


@pytest.fixture
def server_url(server: EmbeddedServer) -> str:
    assert server.url is not None
    return server.url


@pytest.fixture
async def api(server_url: str) -> AsyncIterator[AsyncIonworks]:
    """An async client of key A (its default project is resolved from the server)."""
    async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as client:
        yield client


async def all_not_found(*calls: Callable[[], Awaitable[object]]) -> None:
    """Each call raises NotFoundError (e.g. another owner's records)."""
    for call in calls:
        with pytest.raises(NotFoundError):
            await call()


async def job_reaches(api: AsyncIonworks, job_id: str, status: str, within: float) -> None:
    """Poll the job every 50 ms until it has ``status``; fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while (await api.job.get(job_id)).status != status:
            await anyio.sleep(0.05)


# --- project members: key A owns, key B is the member (on the client of this run) ---------


@pytest.fixture
async def clients(
    new_client: Callable[..., AbstractAsyncContextManager[Any]], server_url: str
) -> AsyncIterator[tuple[Any, Any]]:
    """Keys A (the owner) and B (the member), on the client of this run (async or sync)."""
    async with (
        new_client(api_key=KEY_A, api_url=server_url) as owner,
        new_client(api_key=KEY_B, api_url=server_url) as member,
    ):
        yield owner, member


@pytest.fixture
def owner_api(clients: tuple[Any, Any]) -> Any:
    return clients[0]


@pytest.fixture
def member_api(clients: tuple[Any, Any]) -> Any:
    return clients[1]


async def user_id(client: Any) -> str:
    """A key's owner id: the organization_id of its default project."""
    (default,) = [p for p in await client.project.list() if p.is_default]
    return str(default.organization_id)


@pytest.fixture
async def shared(owner_api: Any, member_api: Any) -> AsyncIterator[tuple[str, str, str]]:
    """A project of key A (not yet shared), A's second project, and key B's owner id."""
    project = await owner_api.project.create({"name": "team", "description": "shared"})
    other = await owner_api.project.create({"name": "private"})
    yield project.id, other.id, await user_id(member_api)
    for pid in (project.id, other.id):
        await owner_api.project.delete(pid)
