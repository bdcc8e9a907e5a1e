"""Integration: every study method of the doc through the async and the sync client against the
real server, plus membership semantics and owner isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import NotFoundError, ValidationError
from tests.server.conftest import KEY_A, KEY_B
from tests.server.test_measurements import frame
from tests.server.test_server_api import config


@pytest.fixture
async def api_b(server_url: str) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as client:
        yield client


async def test_study_methods_async(api: AsyncIonworks, api_b: AsyncIonworks) -> None:
    study = await api.study.create({"name": "Async Discharge Sweep", "description": "d"})
    assert study.name == "Async Discharge Sweep" and study.description == "d"
    assert (await api.study.get(study.id)).id == study.id
    other = await api.study.create({"name": "Async other"})
    names = [s.name for s in await api.study.list(name="async disch")]
    assert names == ["Async Discharge Sweep"]
    assert [s.id for s in await api.study.list(name_exact="Async other")] == [other.id]
    assert (await api.study.list(name_exact="Async")).total == 0
    ordered = await api.study.list(name="Async", order_by="name", order="asc")
    assert [s.name for s in ordered] == ["Async Discharge Sweep", "Async other"]
    desc = await api.study.list(name="Async", order_by="name", order="desc")
    assert [s.name for s in desc] == ["Async other", "Async Discharge Sweep"]
    window = await api.study.list(name="Async", limit=1, offset=1, order_by="name")
    assert len(window) == 1 and window.total == 2 and window[0].name == "Async other"
    with pytest.raises(ValidationError, match="order_by must be one of"):
        await api.study.list(order_by="nope")
    renamed = await api.study.update(study.id, {"name": "Async Discharge Sweep v2"})
    assert renamed.name == "Async Discharge Sweep v2" and renamed.description == "d"

    sim = await api.simulation.protocol(config())
    assert await api.study.assign_simulation(study.id, sim.simulation_id)
    await api.study.assign_simulation(study.id, sim.simulation_id)  # idempotent
    assert (await api.study.get(study.id)).extra["simulation_count"] == 1
    listed = await api.simulation.list(study_id=study.id)
    assert [s["id"] for s in listed] == [sim.simulation_id]
    await api.study.remove_simulation(study.id, sim.simulation_id)
    assert len(await api.simulation.list(study_id=study.id)) == 0
    with pytest.raises(NotFoundError, match="is not in study"):
        await api.study.remove_simulation(study.id, sim.simulation_id)
    with pytest.raises(NotFoundError, match="simulation nope not found"):
        await api.study.assign_simulation(study.id, "nope")

    m = await api.cell_measurement.upload(frame(40), name="study member")
    mapping = await api.study.assign_measurement(study.id, m.id)
    assert mapping["measurement_id"] == m.id
    page = await api.study.list_measurements(study.id)
    assert [x["id"] for x in page["items"]] == [m.id] and page["total"] == 1
    await api.study.remove_measurement(study.id, m.id)
    assert (await api.study.list_measurements(study.id))["total"] == 0

    # another owner: 404 for the project, the study and the members
    project_id = study.project_id
    assert project_id
    with pytest.raises(NotFoundError):
        await api_b.study.get(study.id, project_id=project_id)
    with pytest.raises(NotFoundError):
        await api_b.study.list(project_id=project_id)
    own_b = await api_b.study.create({"name": "B's study"})
    with pytest.raises(NotFoundError):
        await api_b.study.assign_measurement(own_b.id, m.id)
    with pytest.raises(NotFoundError):
        await api_b.study.assign_simulation(own_b.id, sim.simulation_id)
    assert study.id not in [s.id for s in await api_b.study.list()]

    # deleting a study keeps its members; deleting a measurement leaves its studies
    await api.study.assign_simulation(study.id, sim.simulation_id)
    await api.study.assign_measurement(study.id, m.id)
    await api.study.assign_measurement(other.id, m.id)
    await api.study.delete(study.id)
    with pytest.raises(NotFoundError):
        await api.study.get(study.id)
    assert (await api.simulation.get(sim.simulation_id))["id"] == sim.simulation_id
    assert (await api.cell_measurement.get(m.id)).id == m.id
    assert (await api.study.list_measurements(other.id))["total"] == 1
    await api.cell_measurement.delete(m.id)
    assert (await api.study.list_measurements(other.id))["total"] == 0
    await api.study.delete(other.id)
    await api_b.study.delete(own_b.id)


async def test_simulation_created_in_study_and_explicit_project(
    api: AsyncIonworks, server_url: str
) -> None:
    (default,) = [p for p in await api.project.list() if p.is_default]
    project = await api.project.create({"name": "study side project"})
    try:
        study = await api.study.create({"name": "Side"}, project_id=project.id)
        assert study.project_id == project.id
        assert [s.id for s in await api.study.list(project_id=project.id)] == [study.id]
        assert study.id not in [s.id for s in await api.study.list(project_id=default.id)]
        with pytest.raises(NotFoundError):
            await api.study.get(study.id, project_id=default.id)
        # two projects and no configured project: a local server's default project
        async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as fresh:
            assert study.id not in [s.id for s in await fresh.study.list()]
        # ... or takes the client's configured project
        async with AsyncIonworks(api_key=KEY_A, api_url=server_url, project_id=project.id) as c:
            assert [s.id for s in await c.study.list()] == [study.id]
        sim = await api.simulation.protocol(config(study_id=study.id, project_id=project.id))
        listed = await api.simulation.list(study_id=study.id)
        assert [s["id"] for s in listed] == [sim.simulation_id]
        got = await api.study.get(study.id, project_id=project.id)
        assert got.extra["simulation_count"] == 1
        await api.study.remove_simulation(study.id, sim.simulation_id, project_id=project.id)
        assert len(await api.simulation.list(study_id=study.id)) == 0
        await api.study.delete(study.id, project_id=project.id)
    finally:
        await api.project.delete(project.id)


async def test_study_validation(api: AsyncIonworks) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        await api.study.create({"description": "no name"})
    study = await api.study.create({"name": "validation"})
    with pytest.raises(ValidationError, match="cannot be set: id"):
        await api.study.update(study.id, {"id": "x"})
    with pytest.raises(ValidationError, match="'name' must be a non-empty string"):
        await api.study.update(study.id, {"name": ""})
    await api.study.delete(study.id)


def test_study_methods_sync(server_url: str) -> None:
    with Ionworks(api_key=KEY_A, api_url=server_url) as client:
        study = client.study.create({"name": "Sync study", "description": "x"})
        assert client.study.get(study.id).name == "Sync study"
        assert study.id in [s.id for s in client.study.list(name="sync stu")]
        assert client.study.update(study.id, {"description": "y"}).description == "y"
        sim = client.simulation.protocol(config())
        client.study.assign_simulation(study.id, sim.simulation_id)
        client.study.remove_simulation(study.id, sim.simulation_id)
        m = client.measurement.upload(frame(20), name="sync member")
        client.study.assign_measurement(study.id, m.id)
        assert client.study.list_measurements(study.id)["items"][0]["id"] == m.id
        client.study.remove_measurement(study.id, m.id)
        client.study.delete(study.id)
        assert client.cell_measurement.get(m.id).id == m.id
        client.cell_measurement.delete(m.id)
    with Ionworks(api_key=KEY_B, api_url=server_url) as b, pytest.raises(NotFoundError):
        b.study.get(study.id, project_id=study.project_id or "")
