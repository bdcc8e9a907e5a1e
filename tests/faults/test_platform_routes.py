"""Hostile input to the platform routes (``/users/me``, ``/discovery/*``, ``GET
/cell_specifications``): odd or oversized parameters, unknown names and wrong types are 4xx
(or, for model names, a ``valid: false`` answer), never a 500, and nothing user-supplied
reaches ``getattr``/``importlib``."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.faults.conftest import KEY_B

VALIDATE = "/discovery/pybamm_models/validate"


async def _request(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        assert resp.headers["Content-Type"] == "application/json", raw[:200]
        return resp.status, json.loads(raw)


async def test_users_me_ignores_odd_query_and_needs_a_key(
    http: aiohttp.ClientSession, fault_url: str
) -> None:
    status, me = await _request(http, "GET", "/users/me", params={"x": "y" * 4000, "id": "other"})
    assert status == 200 and me["email"] is None
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{fault_url}/users/me") as resp:
            assert resp.status == 401
        async with anonymous.get(f"{fault_url}/users/me", headers={"X-API-Key": KEY_B}) as resp:
            assert (await resp.json())["id"] != me["id"]


@pytest.mark.parametrize(
    "name",
    [
        "x" * 5000,
        "%00",
        "protocol%00",
        "..%2Fprotocol",
        "PROTOCOL",
        "protocol.json",
        "%F0%9F%94%8B",
        "__class__",
    ],
)
async def test_unknown_schema_names_are_404(http: aiohttp.ClientSession, name: str) -> None:
    status, body = await _request(http, "GET", f"/discovery/schemas/{name}")
    assert status == 404, body
    assert "expected one of data, protocol" in body["detail"] and len(body["detail"]) < 300


async def test_discovery_reads_ignore_bodies_and_queries(http: aiohttp.ClientSession) -> None:
    for path in ("/discovery/capabilities", "/discovery/pybamm_models", "/discovery/schemas/data"):
        status, _ = await _request(http, "GET", path, params={"limit": "-1", "q": "\x7f"})
        assert status == 200, path
    status, _ = await _request(http, "POST", "/discovery/capabilities", json={})
    assert status == 405


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "must be a JSON object"),
        ({}, "'pybamm_model' must be a non-empty string"),
        ({"pybamm_model": 1}, "'pybamm_model' must be"),
        ({"pybamm_model": ["DFN"]}, "'pybamm_model' must be"),
        ({"pybamm_model": ""}, "'pybamm_model' must be"),
        ({"pybamm_model": "D" * 201}, "at most 200 characters"),
        ({"pybamm_model": "DFN", "module": 5}, "'module' must be"),
        ({"pybamm_model": "DFN", "module": {"x": 1}}, "'module' must be"),
        ({"pybamm_model": "DFN", "options": ["thermal"]}, "'options' must be an object"),
        ({"pybamm_model": "DFN", "options": "thermal"}, "'options' must be an object"),
        ({"pybamm_model": "DFN", "options": {f"o{i}": "x" for i in range(101)}}, "at most 100"),
        ({"pybamm_model": "DFN", "options": {"thermal": "x" * 70_000}}, "at most 65536 characters"),
        ({"pybamm_model": "DFN", "options": {"thermal": {"py/object": "os.system"}}}, "thermal"),
        ({"pybamm_model": "DFN", "options": {"thermal": [[1]]}}, "thermal"),
    ],
)
async def test_validation_requests_of_the_wrong_shape_are_422(
    http: aiohttp.ClientSession, body: Any, words: str
) -> None:
    status, answer = await _request(http, "POST", VALIDATE, json=body)
    assert status == 422, answer
    assert words in answer["detail"]


@pytest.mark.parametrize(
    ("model", "module"),
    [
        ("system", "os"),
        ("DFN", "__builtins__"),
        ("DFN", "pybamm"),
        ("DFN", "lithium_ion.submodels"),
        ("__init__", "lithium_ion"),
        ("__class__", "lithium_ion"),
        ("os.system", "lithium_ion"),
        ("Symbol", "lithium_ion"),
        ("lithium_ion", "lithium_ion"),
        ("DFN\x00", "lithium_ion"),
        ("DFN", "lithium_ion\n"),
    ],
)
async def test_names_outside_the_allow_list_are_invalid_not_imported(
    http: aiohttp.ClientSession, model: str, module: str
) -> None:
    status, answer = await _request(
        http, "POST", VALIDATE, json={"pybamm_model": model, "module": module}
    )
    assert status == 200, answer
    assert answer["valid"] is False and answer["error_type"] == "UnknownModelError", answer


async def test_odd_bodies_are_4xx(http: aiohttp.ClientSession) -> None:
    for data in (b"{", b"\xff\xfe", b'{"pybamm_model": NaN}', b"[" * 10_000 + b"]" * 10_000):
        async with http.post(
            VALIDATE, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            assert 400 <= resp.status < 500, (data[:20], resp.status)


async def test_option_values_pybamm_refuses_are_invalid_answers(
    http: aiohttp.ClientSession,
) -> None:
    body = {"pybamm_model": "SPM", "options": {"thermal": "x" * 10_000, "particle": 7}}
    status, answer = await _request(http, "POST", VALIDATE, json=body)
    assert status == 200 and answer["valid"] is False
    assert len(answer["error"]) <= 2000


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"limit": "abc"}, 422, "'limit' must be a whole number"),
        ({"limit": "100000"}, 422, "at most"),
        ({"offset": "-1"}, 422, "'offset' must be a whole number"),
        ({"order_by": "owner_id"}, 422, "order_by must be one of"),
        ({"order": "sideways"}, 422, "order must be"),
        ({"name": "like.spec\\"}, 422, "ends with the escape character"),
        ({"project_id": "no-such-project"}, 404, "not found"),
        ({"project_id": "x" * 5000}, 404, "not found"),
    ],
)
async def test_cell_specification_list_parameters(
    http: aiohttp.ClientSession, params: dict[str, str], status: int, words: str
) -> None:
    got, body = await _request(http, "GET", "/cell_specifications", params=params)
    assert got == status, body
    assert words in body["detail"]


async def test_cell_specification_names_are_data_not_patterns(http: aiohttp.ClientSession) -> None:
    await _request(http, "POST", "/cell_specifications", json={"name": "100% [a]_b*"})
    for pattern, found in (("eq.100% [a]_b*", 1), ("ilike.*[a]*", 1), ("eq.100", 0)):
        status, body = await _request(http, "GET", "/cell_specifications", params={"name": pattern})
        assert status == 200 and body["total"] == found, (pattern, body)
