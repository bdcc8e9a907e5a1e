"""Hostile input to ``POST /simulations/results`` (many results in one response): a body
that is not a non-empty list of at most 64 strings is a 422 naming ``simulation_ids``;
another key's, unknown, unfinished or deleted simulations are a 404 part each (nothing about
them leaks); past the response's size bound the rest are 413 parts; never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from ionworks import Ionworks
from ionworks.server.api import results
from ionworks.server.hosting import EmbeddedServer
from ionworks.wire import multipart
from tests.faults.conftest import KEY_A, KEY_B, QUICK_MODEL, QUICK_PROTOCOL

ROUTE = "/simulations/results"


def _config(n: int, first: float = 290.0) -> dict[str, Any]:
    return {
        "parameterized_model": QUICK_MODEL,
        "protocol_experiment": {"protocol": QUICK_PROTOCOL, "name": "batches"},
        "design_parameters_doe": {
            "sampling": "grid",
            "rows": [
                {
                    "type": "discrete",
                    "name": "Ambient temperature [K]",
                    "values": [first + i for i in range(n)],
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def done(fault_server: EmbeddedServer) -> Iterator[list[str]]:
    """Three finished simulations of key A."""
    with Ionworks(api_key=KEY_A, api_url=fault_server.url) as client:
        ids = [r.simulation_id for r in client.simulation.protocol_batch(_config(3))]
        client.simulation.wait_for_completion(ids, timeout=120, poll_interval=0.1, verbose=False)
        yield ids


async def _post(http: aiohttp.ClientSession, body: Any) -> tuple[int, Any]:
    async with http.post(ROUTE, json=body) as resp:
        raw = await resp.read()
        if resp.content_type == "multipart/mixed":
            return resp.status, multipart.parse(raw, resp.headers["Content-Type"])
        return resp.status, json.loads(raw)


def _errors(parts: dict[str, Any]) -> dict[str, tuple[int, str]]:
    out = {}
    for name, (_, body) in parts.items():
        if name.endswith("/error"):
            error = json.loads(body)
            out[name.split("/")[0]] = (error["status"], error["detail"])
    return out


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({}, "'simulation_ids'"),
        ({"simulation_ids": []}, "'simulation_ids'"),
        ({"simulation_ids": "abc"}, "'simulation_ids'"),
        ({"simulation_ids": [1, 2]}, "'simulation_ids'"),
        ({"simulation_ids": [None]}, "'simulation_ids'"),
        ({"simulation_ids": [["nested"]]}, "'simulation_ids'"),
        ({"simulation_ids": ["x"] * 65}, "at most 64"),
        ([], "object"),
        ("just a string", "object"),
    ],
)
async def test_bad_bodies_are_422(http: aiohttp.ClientSession, body: Any, names: str) -> None:
    status, payload = await _post(http, body)
    assert status == 422, payload
    assert names in json.dumps(payload)


async def test_not_json_and_oversized_ids_are_4xx(http: aiohttp.ClientSession) -> None:
    async with http.post(
        ROUTE, data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status in (400, 422)
    status, parts = await _post(http, {"simulation_ids": ["x" * 100_000, "\x00", "../../etc"]})
    assert status == 200
    errors = _errors(parts)
    assert [errors[str(i)][0] for i in range(3)] == [404, 404, 404]
    assert "x" * 200 not in json.dumps(errors)  # a hostile id is not echoed whole


async def test_other_keys_unknown_and_unfinished_are_404_parts(
    fault_url: str, done: list[str], http: aiohttp.ClientSession
) -> None:
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as other:
        status, parts = await _post(other, {"simulation_ids": done})
    assert status == 200
    assert [e[0] for e in _errors(parts).values()] == [404, 404, 404]
    assert not any(name.endswith(("/time_series", "/steps", "/metrics")) for name in parts)
    with Ionworks(api_key=KEY_A, api_url=fault_url) as client:
        queued = client.simulation.protocol_batch(_config(40, first=250.0))  # not all done yet
    ids = [done[0], "no-such-id", done[0], queued[-1].simulation_id]
    status, parts = await _post(http, {"simulation_ids": ids})
    errors = _errors(parts)
    assert status == 200 and "0" not in errors and "2" not in errors  # duplicates: each answered
    assert errors["1"] == (404, "simulation 'no-such-id' not found")
    assert {"0/metrics", "0/time_series", "0/steps", "2/steps"} <= set(parts)
    if "3" in errors:  # unless the last of 40 finished already
        assert errors["3"][0] == 404 and "not yet available" in errors["3"][1]


async def test_past_the_size_bound_the_rest_are_413_parts(
    http: aiohttp.ClientSession, done: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results, "MAX_BATCH_BYTES", 1)  # the first result fills the response
    status, parts = await _post(http, {"simulation_ids": done})
    errors = _errors(parts)
    assert status == 200 and "0" not in errors
    assert [errors[i][0] for i in ("1", "2")] == [413, 413]
    assert "alone" in errors["1"][1]


async def test_a_deleted_result_is_a_404_part(
    fault_url: str, http: aiohttp.ClientSession, done: list[str]
) -> None:
    with Ionworks(api_key=KEY_A, api_url=fault_url) as client:
        [extra] = client.simulation.protocol_batch(_config(1, first=300.5))
        client.simulation.wait_for_completion(extra.simulation_id, timeout=120, verbose=False)
        client.simulation.delete(extra.simulation_id)
    status, parts = await _post(http, {"simulation_ids": [extra.simulation_id, done[1]]})
    errors = _errors(parts)
    assert status == 200 and errors["0"][0] == 404 and "1" not in errors


@pytest.mark.parametrize("flag", ["yes", 1, None, [], {"a": 1}])
async def test_status_polls_finished_only_flag_is_a_bool(
    http: aiohttp.ClientSession, done: list[str], flag: Any
) -> None:
    async with http.post(
        "/simulations/statuses", json={"simulation_ids": done, "finished_only": flag}
    ) as resp:
        assert resp.status == 422
        assert "'finished_only'" in (await resp.json())["detail"]


async def test_status_polls_carry_only_finished_and_missing_ids(
    fault_url: str, http: aiohttp.ClientSession, done: list[str]
) -> None:
    """``finished_only`` (our waiters' long polls): finished simulations with their record,
    ids this key cannot see as ``missing``, nothing for the ones still queued or running."""
    with Ionworks(api_key=KEY_A, api_url=fault_url) as client:
        queued = [r.simulation_id for r in client.simulation.protocol_batch(_config(30, 200.0))]
    body = {"simulation_ids": [done[0], "nope", *queued], "finished_only": True}
    async with http.post("/simulations/statuses", json=body) as resp:
        items = await resp.json()
    assert resp.status == 200
    by_id = {item["simulation_id"]: item for item in items}
    assert by_id["nope"] == {"simulation_id": "nope", "missing": True}
    assert by_id[done[0]]["status"] == "completed" and by_id[done[0]]["simulation"]["metrics"]
    assert all(
        by_id[i]["status"] in ("completed", "failed", "canceled") for i in by_id if i in queued
    )
    assert len(by_id) < 2 + len(queued)  # not all 30 finished at once
