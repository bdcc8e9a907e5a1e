"""Hostile input to the watch routes (``POST``/``DELETE /cell_measurements/{mid}/watch``,
``GET /projects/{pid}/lab/watched``): each a clear 4xx naming what was wrong (never a 500),
nothing written by a refused request, another key's records a 404, and the server still
serving afterwards."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import polars as pl
import pytest

from ionworks import AsyncIonworks
from tests.faults.conftest import KEY_A, KEY_B
from tests.faults.test_measurement_routes import call, refused

pytest.importorskip("pybamm")

TS = pl.DataFrame({"Time [s]": [0.0, 1.0], "Current [A]": [1.0] * 2, "Voltage [V]": [4.0] * 2})


@pytest.fixture
async def made(fault_url: str) -> AsyncIterator[tuple[str, str]]:
    """A fresh measurement of key A and its project."""
    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url) as api:
        m = await api.cell_measurement.upload(TS, name=f"hostile {id(api)}")
        yield m.id, m.project_id
        await api.cell_measurement.delete(m.id)


async def watched(http: aiohttp.ClientSession, pid: str) -> list[Any]:
    status, body = await call(http, "GET", f"/projects/{pid}/lab/watched")
    assert status == 200, body
    return list(body["measurement_ids"])


@pytest.mark.parametrize(
    ("payload", "status", "naming"),
    [
        (b"[]", 422, "JSON object"),
        (b'"watch"', 422, "JSON object"),
        (b"{not json", 400, "JSON"),
        (b'{"user_id": "someone-else"}', 422, "'user_id'"),
        (json.dumps({"k" * 10_000: 1}).encode(), 422, "takes no fields"),
        (b'{"a":' * 400 + b"1" + b"}" * 400, 400, "deeper"),
        (b'{"n": NaN}', 422, "NaN"),
    ],
)
async def test_watch_body_is_checked(
    http: aiohttp.ClientSession, made: tuple[str, str], payload: bytes, status: int, naming: str
) -> None:
    mid, pid = made
    headers = {"Content-Type": "application/json"}
    await refused(http, "POST", f"/cell_measurements/{mid}/watch", status, naming, data=payload,
                  headers=headers)  # fmt: skip
    assert await watched(http, pid) == []


async def test_a_gzipped_empty_object_is_a_watch(
    http: aiohttp.ClientSession, made: tuple[str, str]
) -> None:
    mid, pid = made
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    status, _ = await call(
        http, "POST", f"/cell_measurements/{mid}/watch", data=gzip.compress(b"{}"), headers=headers
    )
    assert status == 204
    assert await watched(http, pid) == [mid]


@pytest.mark.parametrize(
    "mid",
    ["x" * 5000, "%00", "..%2F..%2Fprojects", "' OR 1=1 --", "%F0%9F%94%8B", "%25s%25n"],
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_odd_measurement_ids_are_404(
    http: aiohttp.ClientSession, made: tuple[str, str], mid: str, method: str
) -> None:
    _, pid = made
    url = f"/cell_measurements/{mid}/watch"
    await refused(http, method, url, 404, "not found", json={} if method == "POST" else None)
    assert await watched(http, pid) == []


async def test_another_keys_measurement_and_project_are_404(
    fault_url: str, http: aiohttp.ClientSession, made: tuple[str, str]
) -> None:
    mid, pid = made
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as http_b:
        await refused(http_b, "POST", f"/cell_measurements/{mid}/watch", 404, mid, json={})
        await refused(http_b, "DELETE", f"/cell_measurements/{mid}/watch", 404, mid)
        await refused(http_b, "GET", f"/projects/{pid}/lab/watched", 404, pid)
    async with aiohttp.ClientSession(base_url=fault_url) as anonymous:
        status, _ = await call(anonymous, "POST", f"/cell_measurements/{mid}/watch", json={})
        assert status == 401
    assert await watched(http, pid) == []


async def test_the_watched_list_checks_its_query_and_project(
    http: aiohttp.ClientSession, made: tuple[str, str]
) -> None:
    _, pid = made
    url = f"/projects/{pid}/lab/watched"
    await refused(http, "GET", url, 422, "'user_id'", params={"user_id": "someone"})
    await refused(http, "GET", url, 422, "unknown query", params={"z" * 5000: "1"})
    await refused(http, "GET", "/projects/" + "p" * 5000 + "/lab/watched", 404, "not found")
    status, _ = await call(http, "POST", url, json={})
    assert status == 405
    status, _ = await call(http, "GET", f"/cell_measurements/{made[0]}/watch")
    assert status == 405
