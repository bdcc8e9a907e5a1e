"""A local key's default project: marked ``is_default``, listed first, and used by the client
whenever no project is configured, however many projects the key has. The cloud still needs
one given."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import ConflictError
from ionworks.server.hosting import EmbeddedServer
from tests.ucp.protocols import SEED_SINGLE

KEY = "default-project-key"
Factory = Callable[..., AbstractAsyncContextManager[Any]]


def inline_config() -> dict[str, Any]:
    """A simulation with an inline protocol: the client must name its project."""
    return {
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {"protocol": SEED_SINGLE, "name": "default project"},
    }


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("default-project")
    with EmbeddedServer(data_dir, api_keys=[KEY], allow_anonymous=False, workers=1) as srv:
        assert srv.url is not None
        yield srv.url


@pytest.fixture(scope="module")
def two_more_projects(server_url: str) -> list[str]:
    """Two projects besides the key's default project, created before anything else runs."""
    with Ionworks(api_key=KEY, api_url=server_url) as client:
        return [client.project.create({"name": f"extra {i}"}).id for i in (1, 2)]


async def _projects(url: str, query: str = "") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/projects{query}", headers={"X-API-Key": KEY}) as resp:
            return resp.status, await resp.json()


async def test_every_project_record_says_whether_it_is_the_default(
    server_url: str, two_more_projects: list[str]
) -> None:
    async with AsyncIonworks(api_key=KEY, api_url=server_url) as client:
        listed = await client.project.list()
        assert [p.is_default for p in listed] == [True, False, False]  # the default first
        default = listed[0]
        assert [p.id for p in listed[1:]] == two_more_projects
        assert (await client.project.get(default.id)).is_default is True
        assert (await client.project.get(two_more_projects[0])).is_default is False
        created = await client.project.create({"name": "short-lived"})
        try:
            assert created.is_default is False
            renamed = await client.project.update(created.id, {"name": "renamed"})
            assert renamed.is_default is False and renamed.name == "renamed"
        finally:
            await client.project.delete(created.id)
        with pytest.raises(ConflictError, match="default project"):
            await client.project.delete(default.id)
    status, body = await _projects(server_url, "?is_default=true")
    assert status == 200 and [p["id"] for p in body["items"]] == [default.id]
    status, body = await _projects(server_url, "?is_default=eq.false")
    assert status == 200 and [p["id"] for p in body["items"]] == two_more_projects
    status, body = await _projects(server_url, "?is_default=maybe")
    assert status == 422 and "is_default" in body["detail"]


async def test_calls_without_a_project_land_in_the_default_project(
    server_url: str, two_more_projects: list[str], new_client: Factory
) -> None:
    _, body = await _projects(server_url, "?is_default=true")
    (default,) = body["items"]
    async with new_client(api_key=KEY, api_url=server_url) as client:
        assert client.project_id is None
        response = await client.simulation.protocol(inline_config())
        record = await client.simulation.get(response.simulation_id)
        assert record["project_id"] == default["id"]
        study = await client.study.create({"name": "in the default project"})
        assert study.project_id == default["id"]
        assert study.id in [s.id for s in await client.study.list()]
        await client.study.delete(study.id)
        # an explicit project still wins
        elsewhere = await client.simulation.protocol(
            {**inline_config(), "project_id": two_more_projects[1]}
        )
        assert (await client.simulation.get(elsewhere.simulation_id))["project_id"] == (
            two_more_projects[1]
        )


async def test_the_default_project_is_asked_for_once(
    server_url: str, two_more_projects: list[str]
) -> None:
    async with AsyncIonworks(api_key=KEY, api_url=server_url) as client:
        asked: list[str] = []
        request = client._transport.request

        async def counting(method: str, path: str, **kwargs: Any) -> Any:
            if path == "/projects":
                asked.append(str(kwargs.get("params")))
            return await request(method, path, **kwargs)

        client._transport.request = counting  # type: ignore[method-assign]
        for _ in range(3):
            await client.study.list()
        assert len(asked) == 1 and "is_default" in asked[0]


LOCAL = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([{"id": "only", "name": "x", "organization_id": "o"}], "only"),
        ([{"id": "a", "name": "a"}, {"id": "b", "name": "b", "is_default": True}], "b"),
        ([{"id": "a", "name": "a"}, {"id": "b", "name": "b"}], None),
    ],
)
async def test_local_servers_without_the_filter(
    items: list[dict[str, Any]], expected: str | None
) -> None:
    """A local server that ignores ``is_default=true`` lists its first projects: the one
    marked default, else the only one, is taken; two unmarked ones are ambiguous."""
    with aioresponses() as mock:
        mock.get(f"{LOCAL}/projects?is_default=true&limit=2", payload={"items": items})
        async with AsyncIonworks(api_key="k", api_url=LOCAL) as client:
            if expected is None:
                with pytest.raises(ValueError, match="project_id is required"):
                    await client._default_project_id()
            else:
                assert await client._default_project_id() == expected


async def test_the_cloud_still_needs_a_project_named(new_client: Factory) -> None:
    cloud = "https://api.ionworks.example"
    with aioresponses() as mock:
        # even a cloud that marked a default project is not asked
        mock.get(
            f"{cloud}/projects?is_default=true&limit=2",
            payload={"items": [{"id": "p", "name": "p", "is_default": True}]},
            repeat=True,
        )
        async with new_client(api_key="k", api_url=cloud) as client:
            with pytest.raises(ValueError, match="project_id is required") as info:
                await client.simulation.protocol(inline_config())
        for way in ("this call", "AsyncIonworks(", "IONWORKS_PROJECT_ID"):
            assert way in str(info.value)
        assert not mock.requests
