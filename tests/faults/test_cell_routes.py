"""Hostile input to the cell specification and instance routes: each a clear 4xx naming what
was wrong (never a 500), another key's records a 404, concurrent duplicate names one 201 and
the rest 409, and the server still serving afterwards."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

pytest.importorskip("pybamm")

from ionworks.server.limits import Limits
from tests.faults.test_project_routes import call, http_b, refused

__all__ = ["http_b"]  # a fixture of this module too


@pytest.fixture
async def spec(http: aiohttp.ClientSession) -> AsyncIterator[dict[str, Any]]:
    """A fresh specification of key A with one instance (``spec["instance"]``)."""
    name = f"hostile-{id(object())}"
    status, body = await call(http, "POST", "/cell_specifications", json={"name": name})
    assert status == 201, body
    status, cell = await call(
        http, "POST", f"/cell_specifications/{body['id']}/cell_instances", json={"name": "c1"}
    )
    assert status == 201, cell
    yield {**body, "instance": cell}
    await call(http, "DELETE", f"/cell_instances/{cell['id']}")
    await call(http, "DELETE", f"/cell_specifications/{body['id']}")


@pytest.mark.parametrize(
    ("body", "status", "naming"),
    [
        ({}, 422, "'name'"),
        ({"name": 5}, 422, "'name'"),
        ({"name": ""}, 422, "'name'"),
        ({"name": "x" * 300}, 422, "at most 256"),
        ([{"name": "x"}], 422, "JSON object"),
        ({"name": "x", "project_id": 5}, 404, "project 5"),
        ({"name": "x", "project_id": "nope" * 10_000}, 404, "not found"),
    ],
)
async def test_spec_create_bodies(
    http: aiohttp.ClientSession, body: Any, status: int, naming: str
) -> None:
    await refused(http, "POST", "/cell_specifications", status, naming, json=body)


async def test_not_json_and_huge_bodies(http: aiohttp.ClientSession, spec: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/json"}
    await refused(http, "POST", "/cell_specifications", 400, "JSON", data=b"{nope", headers=headers)
    huge = io.BytesIO(
        json.dumps({"name": "x", "notes": "y" * (Limits().max_body_bytes + 10)}).encode()
    )
    await refused(
        http, "PATCH", f"/cell_specifications/{spec['id']}", 413, "max_body_bytes", data=huge,
        headers=headers,
    )  # fmt: skip
    deep: Any = "x"
    for _ in range(Limits().max_json_depth + 5):
        deep = {"a": deep}
    path = f"/cell_specifications/{spec['id']}/cell_instances"
    await refused(http, "POST", path, 400, "nests deeper", json={"name": "d", "x": deep})


@pytest.mark.parametrize(
    ("body", "status", "naming"),
    [
        ({"name": 5}, 422, "'name'"),
        ({"name": ""}, 422, "'name'"),
        ({"project_id": "elsewhere"}, 422, "'project_id' cannot be changed"),
        (["x"], 422, "JSON object"),
    ],
)
async def test_spec_update_bodies(
    http: aiohttp.ClientSession, spec: dict[str, Any], body: Any, status: int, naming: str
) -> None:
    await refused(http, "PATCH", f"/cell_specifications/{spec['id']}", status, naming, json=body)
    _, still = await call(http, "GET", f"/cell_specifications/{spec['id']}")
    assert still["name"] == spec["name"]


@pytest.mark.parametrize(
    ("body", "status", "naming"),
    [
        ({}, 422, "'name'"),
        ({"name": ["c"]}, 422, "'name'"),
        ({"name": "c9", "batch": "LOT-1"}, 422, "'batch'"),
        ({"name": "c9", "batch_id": 5}, 400, "cell batch 5"),
        ({"name": "c9", "batch_id": "b" * 10_000}, 400, "cell batch"),
    ],
)
async def test_instance_create_bodies(
    http: aiohttp.ClientSession, spec: dict[str, Any], body: Any, status: int, naming: str
) -> None:
    path = f"/cell_specifications/{spec['id']}/cell_instances"
    await refused(http, "POST", path, status, naming, json=body)


@pytest.mark.parametrize(
    ("body", "status", "naming"),
    [
        ({"name": None}, 422, "'name'"),
        ({"cell_specification_id": "other"}, 422, "'cell_specification_id' cannot be changed"),
        ({"batch_id": "lot"}, 400, "cell batch"),
    ],
)
async def test_instance_update_bodies(
    http: aiohttp.ClientSession, spec: dict[str, Any], body: Any, status: int, naming: str
) -> None:
    path = f"/cell_instances/{spec['instance']['id']}"
    await refused(http, "PATCH", path, status, naming, json=body)


@pytest.mark.parametrize(
    ("params", "naming"),
    [
        ({"order_by": "colour"}, "order_by must be one of"),
        ({"order": "sideways"}, "order must be 'asc' or 'desc'"),
        ({"limit": "-1"}, "'limit'"),
        ({"offset": "1e3"}, "'offset'"),
        ({"name": "ilike.abc\\"}, "escape character"),
        ({"form_factor": "like.abc\\"}, "escape character"),
    ],
)
async def test_list_filters(
    http: aiohttp.ClientSession, spec: dict[str, Any], params: dict[str, str], naming: str
) -> None:
    await refused(http, "GET", "/cell_specifications", 422, naming, params=params)
    path = f"/cell_specifications/{spec['id']}/cell_instances"
    if "form_factor" not in params:
        await refused(http, "GET", path, 422, naming, params=params)


async def test_odd_but_valid_filters_answer(
    http: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    many = [("material_ids", f"m{i}") for i in range(300)]
    for params in (
        many,
        {"material_id": "\u0000\U0001f600", "anode_material_id": "x" * 4000},
        {"exclude_cell_spec_id": "%", "full": "maybe", "created_at_gt": "x" * 4000},
        {"batch_id": "none", "name": "%_*"},
    ):
        status, body = await call(http, "GET", "/cell_specifications", params=params)
        assert status == 200 and isinstance(body["items"], list), body
    status, body = await call(
        http, "GET", f"/cell_specifications/{spec['id']}/cell_instances", params={"batch_id": "x"}
    )
    assert status == 200 and body["items"] == []


@pytest.mark.parametrize("bad_id", ["nope", "x" * 5000, "%00", "%F0%9F%98%80", "a%2Fb"])
async def test_unknown_ids_are_404(http: aiohttp.ClientSession, bad_id: str) -> None:
    for method, path in (
        ("GET", f"/cell_specifications/{bad_id}"),
        ("PATCH", f"/cell_specifications/{bad_id}"),
        ("DELETE", f"/cell_specifications/{bad_id}"),
        ("GET", f"/cell_specifications/{bad_id}/cell_instances"),
        ("POST", f"/cell_specifications/{bad_id}/cell_instances"),
        ("GET", f"/cell_instances/{bad_id}"),
        ("PATCH", f"/cell_instances/{bad_id}"),
        ("DELETE", f"/cell_instances/{bad_id}"),
    ):
        status, body = await call(http, method, path, json={"name": "x"})
        assert status == 404, (method, path, status, body)


async def test_another_keys_records_are_404(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession, spec: dict[str, Any]
) -> None:
    sid, iid = spec["id"], spec["instance"]["id"]
    for method, path in (
        ("GET", f"/cell_specifications/{sid}"),
        ("PATCH", f"/cell_specifications/{sid}"),
        ("DELETE", f"/cell_specifications/{sid}"),
        ("GET", f"/cell_specifications/{sid}/cell_instances"),
        ("POST", f"/cell_specifications/{sid}/cell_instances"),
        ("GET", f"/cell_instances/{iid}"),
        ("PATCH", f"/cell_instances/{iid}"),
        ("DELETE", f"/cell_instances/{iid}"),
    ):
        status, body = await call(http_b, method, path, json={"name": "theirs"})
        assert status == 404, (method, path, status, body)
    status, body = await call(
        http_b, "POST", "/cell_specifications", json={"name": "x", "project_id": spec["project_id"]}
    )
    assert status == 404, body
    status, body = await call(http_b, "GET", "/cell_specifications", params={"material_id": "m"})
    assert status == 200 and all(s["id"] != sid for s in body["items"])
    _, mine = await call(http, "GET", f"/cell_instances/{iid}")
    assert mine["name"] == "c1"


async def test_concurrent_duplicates_make_one_record(http: aiohttp.ClientSession) -> None:
    name = f"race-{id(object())}"
    answers = await asyncio.gather(
        *(call(http, "POST", "/cell_specifications", json={"name": name}) for _ in range(8))
    )
    created = [body for status, body in answers if status == 201]
    assert len(created) == 1, answers
    conflicts = [body for status, body in answers if status == 409]
    assert len(conflicts) == 7
    assert all(c["detail"]["existing_id"] == created[0]["id"] for c in conflicts)
    sid = created[0]["id"]
    path = f"/cell_specifications/{sid}/cell_instances"
    answers = await asyncio.gather(
        *(call(http, "POST", path, json={"name": "c"}) for _ in range(8))
    )
    assert sorted(status for status, _ in answers) == [201] + [409] * 7
    _, listed = await call(http, "GET", path)
    assert listed["total"] == 1
    # a specification with an instance is kept: 409, naming the count
    await refused(http, "DELETE", f"/cell_specifications/{sid}", 409, "instance_count")
    await call(http, "DELETE", f"/cell_instances/{listed['items'][0]['id']}")
    assert (await call(http, "DELETE", f"/cell_specifications/{sid}"))[0] == 204
