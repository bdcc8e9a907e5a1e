"""Integration: the sync facade (and the remaining async methods) against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import polars as pl
import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import NotFoundError
from tests.server.conftest import KEY_A
from tests.server.test_server_api import SEED_1C, SEED_INPUTS, config


@pytest.fixture
def client(server_url: str) -> Iterator[Ionworks]:
    with Ionworks(api_key=KEY_A, api_url=server_url) as c:
        yield c


def test_sync_simulation_methods(client: Ionworks) -> None:
    single = client.simulation.protocol(config())
    batch = client.simulation.protocol_batch(
        config(
            SEED_INPUTS,
            experiment_parameters={"Initial SOC": 1.0},
            conditions=[{"experiment_parameters": {"C-rate": c}} for c in (0.5, 1.0, 2.0)],
        )
    )
    assert len(batch) == 3 and all(r.protocol_id == batch[0].protocol_id for r in batch)
    ids = [single.simulation_id, *(r.simulation_id for r in batch)]
    finished = [
        r["id"] for r in client.simulation.as_completed(ids, timeout=120, poll_interval=0.1)
    ]
    assert sorted(finished) == sorted(ids)
    records = client.simulation.wait_for_completion(
        ids, timeout=60, poll_interval=0.1, verbose=False
    )
    assert [r["id"] for r in records] == ids
    durations = []
    for response in batch:
        result = client.simulation.get_result(response.simulation_id)
        assert isinstance(result.time_series, pl.DataFrame)
        durations.append(float(result.time_series["Time [s]"].max()))
    assert durations[0] > durations[1] > durations[2]  # higher C-rate, shorter discharge
    statuses = client.simulation.get_statuses(ids)
    assert {s["status"] for s in statuses} == {"completed"}
    assert client.simulation.get(single.simulation_id)["metrics"]
    listed = client.simulation.list(parameterized_model_id="chen2020-spm")
    assert set(ids) <= {s["id"] for s in listed}
    client.simulation.delete(single.simulation_id)
    with pytest.raises(NotFoundError):
        client.simulation.get(single.simulation_id)


def test_sync_job_and_protocol_methods(client: Ionworks) -> None:
    response = client.simulation.protocol(config())
    client.simulation.wait_for_completion(response.simulation_id, poll_interval=0.1, verbose=False)
    job = client.job.get(response.job_id)
    assert job.status == "completed"
    assert response.job_id in {j.job_id for j in client.job.list()}
    assert client.job.get_metadata(response.job_id)["job_type"] == "simulation"
    assert client.job.cancel(response.job_id).status == "completed"  # finished jobs stay finished
    assert client.protocol.validate(SEED_1C)["valid"] is True
    assert client.protocol.find_input_references(SEED_INPUTS) == ["Initial SOC", "C-rate"]


def test_sync_models_and_projects(client: Ionworks) -> None:
    projects = client.project.list()
    assert [p.is_default for p in projects].count(True) == 1 and projects[0].is_default
    values = client.parameterized_model.get_parameter_values("chen2020-spm")
    assert values["Nominal cell capacity [A.h]"] == pytest.approx(5.0)
    names = client.parameterized_model.get_variable_names("chen2020-spm")
    assert "Voltage [V]" in names
    assert {m.id for m in client.model.list()} >= {"SPM", "SPMe", "DFN"}


def test_sync_client_inside_a_running_event_loop(server_url: str) -> None:
    async def notebook_cell() -> str:
        with Ionworks(api_key=KEY_A, api_url=server_url) as c:
            return str(c.protocol.validate(SEED_1C)["valid"])

    assert asyncio.run(notebook_cell()) == "True"


async def test_quick_model_simulation(server_url: str) -> None:
    async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as api:
        response = await api.simulation.protocol(
            config(model={"capacity": 2.0, "chemistry": "LFP"})
        )
        await api.simulation.wait_for_completion(
            response.simulation_id, timeout=120, poll_interval=0.1, verbose=False
        )
        result = await api.simulation.get_result(response.simulation_id)
        capacity = float(result.time_series["Discharge capacity [A.h]"].max())
        assert 1.6 < capacity < 2.3
