"""Resubmitting an identical simulation returns the existing one with ``already_existed: true``
while it is pending, running or completed; a failed or canceled one runs again, and any change
(a parameter, the model, the study) is a new run (wire.md §4.2)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from ionworks import AsyncIonworks
from tests.server.conftest import KEY_A, job_reaches
from tests.server.test_job_errors import BAD_PARAMETER, failing_config
from tests.ucp.protocols import LONG_CYCLING, SEED_INPUTS

Factory = Callable[..., AbstractAsyncContextManager[Any]]
MODEL = {"quick_model": {"capacity": 3.0, "chemistry": "NMC", "resistance_pct": 90}}


def config(soc: float, **extra: Any) -> dict[str, Any]:
    return {
        "parameterized_model": MODEL,
        "protocol_experiment": {"protocol": SEED_INPUTS, "name": "resubmitted"},
        "experiment_parameters": {"Initial SOC": soc, "C-rate": 2},
        **extra,
    }


async def test_an_identical_resubmission_is_the_existing_simulation(
    server_url: str, new_client: Factory, client_kind: str
) -> None:
    soc = {"async": 0.9, "sync": 0.85}[client_kind]  # each client's run is new to the server
    async with new_client(api_key=KEY_A, api_url=server_url) as client:
        first = await client.simulation.protocol(config(soc))
        again = await client.simulation.protocol(config(soc))
        assert first.already_existed is False and again.already_existed is True
        assert (again.simulation_id, again.job_id) == (first.simulation_id, first.job_id)
        await client.simulation.wait_for_completion(
            first.simulation_id, timeout=120, poll_interval=0.1, verbose=False
        )
        done = await client.simulation.protocol(config(soc))  # completed: still the same
        assert done.simulation_id == first.simulation_id and done.already_existed
        # an integer and a float of the same value are the same parameter value
        same = await client.simulation.protocol(
            {**config(soc), "experiment_parameters": {"Initial SOC": soc, "C-rate": 2.0}}
        )
        assert same.simulation_id == first.simulation_id


async def test_any_change_is_a_new_run(api: AsyncIonworks) -> None:
    first = await api.simulation.protocol(config(0.8))
    changes = [
        config(0.7),  # an experiment parameter
        {**config(0.8), "parameterized_model": {"quick_model": {**MODEL["quick_model"], "capacity": 4.0}}},
        {**config(0.8), "extra_variables": ["Negative particle surface concentration [mol.m-3]"]},
        {**config(0.8), "max_backward_jumps": 5},
    ]  # fmt: skip
    ids = {first.simulation_id}
    for changed in changes:
        response = await api.simulation.protocol(changed)
        assert response.already_existed is False and response.simulation_id not in ids
        ids.add(response.simulation_id)
    # the template name is not part of the identity (the template is the content)
    renamed = await api.simulation.protocol(
        {**config(0.8), "protocol_experiment": {"protocol": SEED_INPUTS, "name": "other name"}}
    )
    assert renamed.simulation_id == first.simulation_id and renamed.already_existed


async def test_a_batch_reuses_existing_points_and_runs_the_new_ones(api: AsyncIonworks) -> None:
    first = await api.simulation.protocol(config(0.6))
    batch = await api.simulation.protocol_batch(
        {
            **config(0.6),
            "conditions": [
                {"experiment_parameters": {"Initial SOC": 0.6}},
                {"experiment_parameters": {"Initial SOC": 0.5}},
                {"experiment_parameters": {"Initial SOC": 0.5}},  # twice in one batch: one run
            ],
        }
    )
    assert [r.already_existed for r in batch] == [True, False, False]
    assert batch[0].simulation_id == first.simulation_id
    assert batch[1].simulation_id == batch[2].simulation_id != first.simulation_id


async def test_failed_and_canceled_simulations_run_again(api: AsyncIonworks) -> None:
    cfg = failing_config()
    cfg["design_parameters"] = {BAD_PARAMETER: 2.5}
    failed = await api.simulation.protocol(cfg)
    await job_reaches(api, failed.job_id, "failed", 120)
    rerun = await api.simulation.protocol(cfg)
    assert rerun.already_existed is False and rerun.simulation_id != failed.simulation_id

    long = {
        "parameterized_model": "chen2020-dfn",
        "protocol_experiment": {"protocol": LONG_CYCLING, "name": "long"},
        "experiment_parameters": {"resubmission test": 1},  # unused: this test's own run
    }
    canceled = await api.simulation.protocol(long)
    await api.job.cancel(canceled.job_id)
    await job_reaches(api, canceled.job_id, "canceled", 60)
    again = await api.simulation.protocol(long)
    assert again.already_existed is False and again.simulation_id != canceled.simulation_id
