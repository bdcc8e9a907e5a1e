"""Integration: the async client against the real local server."""

from __future__ import annotations

import gzip
import json
from typing import Any

import aiohttp
import anyio
import polars as pl
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import AuthenticationError, IonworksError, NotFoundError, ValidationError
from tests.server.conftest import KEY_A, KEY_B, all_not_found, job_reaches
from tests.ucp.protocols import LONG_CYCLING, SEED_INPUTS
from tests.ucp.protocols import SEED_SINGLE as SEED_1C


def config(protocol: str = SEED_1C, model: Any = "chen2020-spm", **extra: Any) -> dict[str, Any]:
    return {
        "parameterized_model": model,
        "protocol_experiment": {"protocol": protocol, "name": "test"},
        **extra,
    }


async def raw(url: str, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{url}{path}", **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.read()


async def test_health_and_exact_json_content_type(server_url: str) -> None:
    status, headers, body = await raw(server_url, "GET", "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "ok"


async def test_errors_are_json_objects_with_detail(server_url: str) -> None:
    status, headers, body = await raw(
        server_url, "GET", "/simulations/nope", headers={"X-API-Key": KEY_A}
    )
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert "nope" in json.loads(body)["detail"]


async def test_auth_missing_and_wrong_key(server_url: str) -> None:
    status, _, body = await raw(server_url, "GET", "/jobs/")
    assert status == 401 and "API key" in json.loads(body)["detail"]
    async with AsyncIonworks(api_key="wrong", api_url=server_url) as client:
        with pytest.raises(AuthenticationError):
            await client.job.list()


async def test_builtin_parameterized_models(api: AsyncIonworks) -> None:
    page = await api.parameterized_model.list()
    names = {m.id: m.name for m in page}
    assert names["chen2020-spme"] == "Chen2020 SPMe"
    model = await api.parameterized_model.get("chen2020-dfn")
    assert model.name == "Chen2020 DFN"
    with pytest.raises(NotFoundError):
        await api.parameterized_model.get("no-such-model")


async def test_protocol_checks(api: AsyncIonworks) -> None:
    assert (await api.protocol.validate(SEED_1C)) == {"valid": True, "error": None}
    bad = await api.protocol.validate("steps:\n  - Charge: {mode: Magic, value: 1, duration: 5}\n")
    assert bad["valid"] is False and "Magic" in bad["error"]
    assert await api.protocol.find_input_references(SEED_INPUTS) == ["Initial SOC", "C-rate"]
    converted = await api.protocol.convert(SEED_1C, "maccor")
    assert converted.primary_filename == "protocol.000" and converted.primary_bytes


async def test_single_simulation_end_to_end(api: AsyncIonworks) -> None:
    response = await api.simulation.protocol(config())
    record = await api.simulation.wait_for_completion(
        response.simulation_id, timeout=120, verbose=False
    )
    assert record["storage_folder"] and record["job_id"] == response.job_id
    result = await api.simulation.get_result(response.simulation_id)
    ts = result.time_series
    assert isinstance(ts, pl.DataFrame)
    voltage = ts["Voltage [V]"].to_numpy()
    assert (voltage[1:] - voltage[:-1] <= 1e-6).all()  # voltage falls during a discharge
    assert abs(voltage[-1] - 2.5) < 0.05  # stopped at the end condition
    assert ts["Current [A]"].min() > 0  # discharge current is positive
    assert len(result.steps) == 1
    assert result.metrics
    job = await api.job.get(response.job_id)
    assert job.status == "completed" and job.is_terminal and not job.is_failed


async def test_inputs_and_design_parameters(api: AsyncIonworks) -> None:
    base = await api.simulation.protocol(
        config(SEED_INPUTS, experiment_parameters={"Initial SOC": 1.0, "C-rate": 0.5})
    )
    thick = await api.simulation.protocol(
        config(
            SEED_INPUTS,
            experiment_parameters={"Initial SOC": 1.0, "C-rate": 0.5},
            design_parameters={"Positive electrode thickness [m]": 95e-6},
        )
    )
    await api.simulation.wait_for_completion(
        [base.simulation_id, thick.simulation_id], timeout=180, verbose=False
    )
    caps = []
    for sid in (base.simulation_id, thick.simulation_id):
        result = await api.simulation.get_result(sid)
        caps.append(float(result.time_series["Discharge capacity [A.h]"].max()))
    assert caps[1] > caps[0]


async def test_missing_input_is_rejected_at_submit(api: AsyncIonworks) -> None:
    with pytest.raises(ValidationError, match="C-rate"):
        await api.simulation.protocol(config(SEED_INPUTS, experiment_parameters={"Initial SOC": 1}))


async def test_doe_batch_of_20(api: AsyncIonworks) -> None:
    responses = await api.simulation.protocol_batch(
        config(
            design_parameters_doe={
                "sampling": "grid",
                "rows": [
                    {
                        "type": "range",
                        "name": "Positive electrode thickness [m]",
                        "min": 60e-6,
                        "max": 90e-6,
                        "count": 20,
                    },
                ],
            }
        )
    )
    assert len(responses) == 20
    ids = [r.simulation_id for r in responses]
    records = await api.simulation.wait_for_completion(
        ids, timeout=300, poll_interval=0.1, verbose=False
    )
    thickness = [r["design_parameters"]["Positive electrode thickness [m]"] for r in records]
    assert thickness == sorted(thickness)
    listed = await api.simulation.list(limit=5)
    assert listed.total >= 20 and len(listed) == 5


async def test_failed_simulation_reports_engine_error(api: AsyncIonworks) -> None:
    response = await api.simulation.protocol(
        config(design_parameters={"Positive electrode thickness [nm]": 1.0})
    )
    with pytest.raises(IonworksError, match=r"Positive electrode thickness \[nm\]"):
        await api.simulation.wait_for_completion(
            response.simulation_id, timeout=60, poll_interval=0.1, verbose=False
        )
    record = await api.simulation.wait_for_completion(
        response.simulation_id, raise_on_failure=False, verbose=False
    )
    assert record["status"] == "failed" and "thickness" in record["error"]
    with pytest.raises(NotFoundError, match="not yet available"):
        await api.simulation.get_result(response.simulation_id)


async def test_cancel_stops_a_running_simulation(api: AsyncIonworks) -> None:
    response = await api.simulation.protocol(config(LONG_CYCLING, model="chen2020-dfn"))
    await job_reaches(api, response.job_id, "running", within=60)
    start = anyio.current_time()
    await api.job.cancel(response.job_id)
    await job_reaches(api, response.job_id, "canceled", within=2)
    assert anyio.current_time() - start < 2
    with pytest.raises(IonworksError, match="canceled"):
        await api.simulation.wait_for_completion(response.simulation_id, verbose=False)
    # the pool still works afterwards
    again = await api.simulation.protocol(config())
    await api.simulation.wait_for_completion(
        again.simulation_id, timeout=120, poll_interval=0.1, verbose=False
    )


async def test_keys_are_isolated(api: AsyncIonworks, server_url: str) -> None:
    response = await api.simulation.protocol(config())
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as other:
        await all_not_found(
            lambda: other.simulation.get(response.simulation_id),
            lambda: other.job.get(response.job_id),
            lambda: other.job.cancel(response.job_id),
            lambda: other.simulation.delete(response.simulation_id),
        )
        assert response.simulation_id not in {s["id"] for s in await other.simulation.list()}
        assert await other.simulation.get_statuses([response.simulation_id]) == []


async def test_idempotency_key_replays(server_url: str, api: AsyncIonworks) -> None:
    template = await api._transport.request(
        "POST",
        "/protocols/parse-to-template",
        json_body={"protocol_experiment": {"protocol": SEED_1C, "name": "idem"}},
    )
    body = {
        "parameterized_model": "chen2020-spm",
        "experiment_template_id": template["template_id"],
        "experiment_parameter_sets": [{}],
    }
    first = await api._transport.request(
        "POST", "/simulations/with-template/batch", json_body=body, idempotency_key="same-key"
    )
    second = await api._transport.request(
        "POST", "/simulations/with-template/batch", json_body=body, idempotency_key="same-key"
    )
    assert first == second
    # without the key: the same request again is the existing run (wire.md §4.2), not a replay
    third = await api._transport.request("POST", "/simulations/with-template/batch", json_body=body)
    assert third[0]["simulation_id"] == first[0]["simulation_id"]
    assert third[0]["already_existed"] is True


async def test_read_only_posts_are_answered_afresh_and_not_stored(
    server_url: str, api: AsyncIonworks
) -> None:
    """A status poll is a query: the same Idempotency-Key twice gets the current state (not
    a replay of the first answer), and the idempotency table stays empty."""
    response = await api.simulation.protocol(config())
    body = {"simulation_ids": [response.simulation_id]}
    first = await api._transport.request(
        "POST", "/simulations/statuses", json_body=body, idempotency_key="poll-key"
    )
    await api.simulation.wait_for_completion(response.simulation_id, timeout=120, verbose=False)
    second = await api._transport.request(
        "POST", "/simulations/statuses", json_body=body, idempotency_key="poll-key"
    )
    assert second[0]["status"] == "completed" and "simulation" in second[0]
    assert first[0]["status"] != "completed" or "simulation" in first[0]
    status, headers, _ = await raw(
        server_url,
        "POST",
        "/protocols/validate",
        json={"protocol": SEED_1C},
        headers={"X-API-Key": KEY_A, "Idempotency-Key": "poll-key"},
    )
    assert status == 200 and "Idempotent-Replayed" not in headers
    # and a write with that key afterwards is not refused as a reused key
    template = await api._transport.request(
        "POST",
        "/protocols/parse-to-template",
        json_body={"protocol_experiment": {"protocol": SEED_1C, "name": "ro"}},
        idempotency_key="poll-key",
    )
    assert template["template_id"]


async def test_gzip_request_bodies(server_url: str) -> None:
    payload = gzip.compress(json.dumps({"protocol": SEED_1C}).encode())
    status, _, body = await raw(
        server_url,
        "POST",
        "/protocols/validate",
        data=payload,
        headers={
            "X-API-Key": KEY_A,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert status == 200 and json.loads(body)["valid"] is True


async def test_delete_simulation(api: AsyncIonworks) -> None:
    response = await api.simulation.protocol(config())
    await api.simulation.wait_for_completion(
        response.simulation_id, timeout=120, poll_interval=0.1, verbose=False
    )
    await api.simulation.delete(response.simulation_id)
    with pytest.raises(NotFoundError):
        await api.simulation.get(response.simulation_id)


async def test_non_finite_numbers_in_bodies_are_rejected(server_url: str) -> None:
    body = b'{"protocol_experiment": {"protocol": "x", "name": "n"}, "experiment_parameters": {"a": NaN}}'
    status, _, raw_body = await raw(
        server_url,
        "POST",
        "/protocols/parse-to-template",
        data=body,
        headers={"X-API-Key": KEY_A, "Content-Type": "application/json"},
    )
    assert status == 422 and "NaN" in json.loads(raw_body)["detail"]


async def test_batch_refuses_another_owners_project(api: AsyncIonworks, server_url: str) -> None:
    template = await api._transport.request(
        "POST",
        "/protocols/parse-to-template",
        json_body={"protocol_experiment": {"protocol": SEED_1C, "name": "owner"}},
    )
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as other:
        foreign = (await other.project.list())[0].id
    with pytest.raises(NotFoundError, match="project"):
        await api._transport.request(
            "POST",
            "/simulations/with-template/batch",
            json_body={
                "parameterized_model": "chen2020-spm",
                "experiment_template_id": template["template_id"],
                "project_id": foreign,
            },
        )


def test_one_server_per_data_directory(server: Any) -> None:
    from ionworks.server.hosting import EmbeddedServer

    second = EmbeddedServer(server.config.data_dir, workers=1)
    with pytest.raises(RuntimeError, match="in use by another ionworks server"):
        second.start()
