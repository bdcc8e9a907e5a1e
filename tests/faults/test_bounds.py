"""Resource bounds (issue 14): each over-limit request is a clear 4xx naming the limit, checked
before any work, and ``/healthz`` keeps answering quickly throughout."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

pytest.importorskip("pybamm")

from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from tests.faults.conftest import KEY_A, KEY_B

REST = "global: {initial_soc: 1}\nsteps:\n  - Rest: {duration: 10}\n"
SMALL = Limits(
    max_body_bytes=1024 * 1024,
    max_protocol_bytes=4096,
    read_timeout_seconds=1.0,
    max_population_size=500,
)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server with small limits (1 MiB bodies, 4 kB protocols, 1 s read timeout, DE
    populations of 500)."""
    with EmbeddedServer(
        tmp_path_factory.mktemp("small-limits"), api_keys=[KEY_A], workers=1, limits=SMALL
    ) as server:
        yield server


@pytest.fixture
async def small(small_server: EmbeddedServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=str(small_server.url), headers={"X-API-Key": KEY_A}
    ) as session:
        yield session


async def _post(http: aiohttp.ClientSession, path: str, **kw: Any) -> tuple[int, str]:
    async with http.post(path, **kw) as resp:
        body = await resp.json()
        return resp.status, str(body.get("detail")) if isinstance(body, dict) else str(body)


async def _template(http: aiohttp.ClientSession) -> str:
    status, _ = await _post(
        http,
        "/protocols/parse-to-template",
        json={"protocol_experiment": {"protocol": REST, "name": "bounds"}},
    )
    assert status == 200
    async with http.post(
        "/protocols/parse-to-template",
        json={"protocol_experiment": {"protocol": REST, "name": "bounds"}},
    ) as resp:
        return str((await resp.json())["template_id"])


async def _simulation_count(http: aiohttp.ClientSession) -> int:
    async with http.get("/simulations", params={"limit": "1000"}) as resp:
        body = await resp.json()
    return int(body["total"]) if isinstance(body, dict) else len(body)


# --- JSON bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        ('{"name": "\\ud800"}', 400, "lone surrogate"),
        ('{"name": "x", "description": "\\udfff tail"}', 400, "$.description"),
        ('{"name": 99999999999999999999}', 422, "64-bit"),
        ('{"name": -9223372036854775809}', 422, "$.name"),
        ('{"a": ' * 70 + "1" + "}" * 70, 400, "deeper than 64 levels"),
        ("[" * 100_000 + "]" * 100_000, 400, "deeper than 64 levels"),
    ],
)
async def test_json_bodies_are_checked(
    http: aiohttp.ClientSession, raw: str, status: int, needle: str
) -> None:
    got, detail = await _post(
        http, "/projects", data=raw, headers={"Content-Type": "application/json"}
    )
    assert (got, needle in detail) == (status, True), detail


async def test_valid_surrogate_pairs_and_int64_edges_pass(http: aiohttp.ClientSession) -> None:
    raw = '{"name": "cell \\ud83d\\udd0b", "description": "9223372036854775807"}'
    got, detail = await _post(
        http, "/projects", data=raw, headers={"Content-Type": "application/json"}
    )
    assert got == 201, detail


async def test_body_size_is_capped_plain_and_gzip(small: aiohttp.ClientSession) -> None:
    big = json.dumps({"name": "x" * (1024 * 1024 + 10)}).encode()
    for headers, data in (
        ({}, big),
        ({"Content-Encoding": "gzip"}, gzip.compress(big)),
        ({"Content-Encoding": "gzip"}, gzip.compress(b" " * (50 * 1024 * 1024))),
    ):
        status, detail = await _post(
            small,
            "/projects",
            data=io.BytesIO(data),
            headers={"Content-Type": "application/json", **headers},
        )
        assert status == 413 and "1048576" in detail and "max_body_bytes" in detail, detail


# --- protocols ----------------------------------------------------------------------------


async def test_protocol_size_is_capped(small: aiohttp.ClientSession) -> None:
    text = REST + "#" * 5000 + "\n"
    for path, body in (
        ("/protocols/validate", {"protocol": text}),
        ("/protocols/input_references", {"protocol": text}),
        ("/protocols/convert", {"protocol": text, "target": "maccor"}),
        ("/protocols/parse-to-template", {"protocol_experiment": {"protocol": text}}),
    ):
        status, detail = await _post(small, path, json=body)
        assert status == 413 and "4096 bytes (max_protocol_bytes)" in detail, (path, detail)


async def _healthz_worst(url: str, until: anyio.Event) -> float:
    worst = 0.0
    async with aiohttp.ClientSession() as session:
        while not until.is_set():
            start = time.perf_counter()
            async with session.get(f"{url}/healthz") as resp:
                assert resp.status == 200
            worst = max(worst, time.perf_counter() - start)
            await anyio.sleep(0.05)
    return worst


async def test_large_protocols_are_parsed_off_the_event_loop(
    http: aiohttp.ClientSession, fault_url: str
) -> None:
    steps = "".join(f"  - Rest: {{duration: {i + 1}}}\n" for i in range(8000))
    text = "global: {initial_soc: 1}\nsteps:\n" + steps  # ~250 kB: seconds of YAML work
    done = anyio.Event()
    worst: list[float] = []

    async def probe() -> None:
        worst.append(await _healthz_worst(fault_url, done))

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        await anyio.sleep(0.1)
        start = time.perf_counter()
        status, _ = await _post(http, "/protocols/validate", json={"protocol": text})
        took = time.perf_counter() - start
        done.set()
    assert status == 200
    assert took > 0.3  # real work happened meanwhile
    assert worst[0] < 0.5, f"/healthz took {worst[0]:.2f} s while a protocol was parsed"


# --- batches ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"experiment_parameter_sets": [{}] * 10_001}, "10001 experiment_parameter_sets"),
        ({"conditions": [{}] * 10_001}, "10001 conditions"),
        (
            {
                "experiment_parameter_sets": [{}] * 3,
                "design_parameters_doe": {
                    "sampling": "random",
                    "count": 5000,
                    "rows": [
                        {"type": "range", "name": "Ambient temperature [K]", "min": 290, "max": 300}
                    ],
                },
            },
            "5000 design points × 3 experiment_parameter_sets",
        ),
    ],
)
async def test_batches_are_counted_before_expansion(
    http: aiohttp.ClientSession, extra: dict[str, Any], needle: str
) -> None:
    template = await _template(http)
    before = await _simulation_count(http)
    body = {"parameterized_model": "chen2020-spm", "experiment_template_id": template, **extra}
    status, detail = await _post(http, "/simulations/with-template/batch", json=body)
    assert status == 422 and needle in detail and "at most 10000" in detail, detail
    assert await _simulation_count(http) == before


async def test_parameter_values_must_be_numbers(http: aiohttp.ClientSession) -> None:
    template = await _template(http)
    body = {
        "parameterized_model": "chen2020-spm",
        "experiment_template_id": template,
        "conditions": [{"design_parameters": {"Ambient temperature [K]": "[input]"}}],
    }
    status, detail = await _post(http, "/simulations/with-template/batch", json=body)
    assert status == 422 and "must be a number" in detail, detail


# --- fits ---------------------------------------------------------------------------------


def _fit(parameters: int, optimizer: dict[str, Any]) -> dict[str, Any]:
    names = [f"Negative particle radius [m] {i}" for i in range(parameters)]
    return {
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": {"v": {"data": {"Time [s]": [0, 1], "Voltage [V]": [4, 4]}}},
                "parameters": {n: {"bounds": [1e-6, 1e-5]} for n in names},
                "optimizer": optimizer,
            }
        }
    }


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (_fit(65, {}), "65 fitted parameters exceed the limit of 64"),
        (_fit(1, {"type": "DifferentialEvolution", "population_size": 5000}), "5000 exceeds"),
        (_fit(1, {"type": "ScipyMinimize", "max_iterations": 10**7}), "max_iterations"),
        (_fit(64, {"type": "DifferentialEvolution"}), "population_size: 640 exceeds"),  # default
    ],
)
async def test_fit_sizes_are_capped(
    small: aiohttp.ClientSession, config: dict[str, Any], needle: str
) -> None:
    status, detail = await _post(small, "/pipelines", json=config)
    assert status == 422 and needle in detail, detail


# --- slow clients -------------------------------------------------------------------------


def _address(server: EmbeddedServer) -> tuple[str, int]:
    host, port = str(server.url).removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass  # a 408 response may come first
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"POST /projects HTTP/1.1\r\nHost: x\r\nX-API-Key: ",  # headers trickle, then stop
        b"POST /projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + KEY_A.encode() + b'\r\nContent-Length: 1000\r\n\r\n{"na',  # body stops
    ],
)
async def test_idle_and_trickling_connections_are_dropped(
    small_server: EmbeddedServer, sent: bytes
) -> None:
    sock = socket.create_connection(_address(small_server))
    try:
        sock.sendall(sent)
        assert await anyio.to_thread.run_sync(_closed_within, sock, 5.0)
    finally:
        sock.close()
    async with aiohttp.ClientSession() as session:  # still serving everyone else
        async with session.get(f"{small_server.url}/healthz") as resp:
            assert resp.status == 200


# --- keys ---------------------------------------------------------------------------------


async def _projects(url: str, key: str) -> tuple[int, list[str]]:
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as session:
        async with session.get(f"{url}/projects") as resp:
            body = await resp.json()
            if resp.status != 200:
                return resp.status, []
            items = (
                body
                if isinstance(body, list)
                else next(v for v in body.values() if isinstance(v, list))
            )
            names = [p["name"] for p in items]
            return resp.status, names


def test_keys_are_stored_hashed_and_revoked_when_not_configured(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, api_keys=[KEY_A, KEY_B], workers=1) as server:
        url = str(server.url)

        async def create() -> None:
            async with aiohttp.ClientSession(headers={"X-API-Key": KEY_B}) as session:
                async with session.post(f"{url}/projects", json={"name": "B's"}) as resp:
                    assert resp.status == 201

        asyncio.run(create())
    with EmbeddedServer(tmp_path, api_keys=[KEY_A], workers=1) as server:
        assert asyncio.run(_projects(str(server.url), KEY_B))[0] == 401  # revoked
        assert asyncio.run(_projects(str(server.url), KEY_A))[0] == 200
    with EmbeddedServer(tmp_path, api_keys=[KEY_A, KEY_B], workers=1) as server:
        status, names = asyncio.run(_projects(str(server.url), KEY_B))
        assert status == 200 and "B's" in names  # configured again: its data are back
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "api_key":
            data = path.read_bytes()
            assert KEY_A.encode() not in data and KEY_B.encode() not in data, path


def test_clear_text_keys_of_old_data_directories_are_migrated(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "ionworks.sqlite3")
    db.execute("CREATE TABLE api_keys (key TEXT PRIMARY KEY, owner_id TEXT, created_at TEXT)")
    db.execute("INSERT INTO api_keys VALUES (?, 'org-old', '2026-01-01T00:00:00Z')", (KEY_A,))
    db.commit()
    db.close()
    store = Store(tmp_path)
    try:
        assert store.owner_for_key(KEY_A) is None  # not configured yet
        assert store.add_key(KEY_A) == "org-old"
        assert store.owner_for_key(KEY_A) == "org-old"
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "api_keys" not in tables
    finally:
        store.close()
    assert KEY_A.encode() not in (tmp_path / "ionworks.sqlite3").read_bytes()


async def test_a_stalled_upload_is_dropped_and_its_url_stays_usable(
    small_server: EmbeddedServer, small: aiohttp.ClientSession
) -> None:
    async with small.get("/projects") as resp:
        project = next(p for p in (await resp.json())["items"] if p["is_default"])
    query = {"project_id": project["id"], "is_default": "true"}
    async with small.get("/cell_instances", params=query) as resp:
        instance = (await resp.json())["items"][0]["id"]
    async with small.post(
        f"/cell_instances/{instance}/cell_measurements/initiate-upload",
        json={"measurement": {"name": "stalled"}},
    ) as resp:
        url = (await resp.json())["uploads"][0]["signed_url"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    sock = socket.create_connection(_address(small_server))
    try:
        sock.sendall(
            f"PUT /{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode()
            + b"PAR1 and then nothing"
        )
        assert await anyio.to_thread.run_sync(_closed_within, sock, 6.0)
    finally:
        sock.close()
    async with aiohttp.ClientSession() as session, session.put(url, data=b"x" * 10) as resp:
        assert resp.status == 200, await resp.text()  # the URL was not spent
