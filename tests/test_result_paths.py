"""Which requests ``get_result`` makes: the cloud's two downloads (no Arrow ``Accept``) for
remote servers; for servers on this machine one short ``/healthz`` probe, shared by
concurrent callers and repeated only after a back-off when the server could not be reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aioresponses import aioresponses

from ionworks import AsyncIonworks
from ionworks.wire.multipart import build
from tests.conftest import API, FAST_RETRIES
from tests.helpers import parquet_bytes, requests_to

LOCAL = "http://127.0.0.1:9"
TS = parquet_bytes({"Discharge capacity [A.h]": [0.0, 0.1], "Charge capacity [A.h]": [0.0, 0.0]})
STEPS = parquet_bytes({"Discharge capacity [A.h]": [0.1], "Charge capacity [A.h]": [0.0]})


def mock_downloads(mock: aioresponses, base: str) -> None:
    for table, body in (("time_series", TS), ("steps", STEPS)):
        mock.get(f"{base}/simulations/s1/{table}/download", body=body, repeat=True)
    mock.get(f"{base}/simulations/s1", payload={"id": "s1", "metrics": {"m": 1}}, repeat=True)


@pytest.fixture
async def local() -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key="k", api_url=LOCAL, project_id="p1") as c:
        c._transport.retry_policy = FAST_RETRIES
        yield c


async def test_remote_servers_get_the_official_requests(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    mock_downloads(mock_api, API)
    result = await client.simulation.get_result("s1")
    assert result.metrics == {"m": 1}
    assert not requests_to(mock_api, "GET", "/healthz")  # remote servers are not probed
    for table in ("time_series", "steps"):
        (sent,) = requests_to(mock_api, "GET", f"/simulations/s1/{table}/download")
        assert "arrow" not in str((sent.kwargs.get("headers") or {}).get("Accept", ""))


async def test_an_unreachable_local_server_is_probed_once_then_after_a_back_off(
    local: AsyncIonworks,
) -> None:
    with aioresponses() as mock:
        mock.get(f"{LOCAL}/healthz", exception=aiohttp.ClientConnectionError("refused"))
        mock_downloads(mock, LOCAL)
        results = await asyncio.gather(*(local.simulation.get_result("s1") for _ in range(16)))
        assert all(r.metrics == {"m": 1} for r in results)  # the downloads, meanwhile
        assert len(requests_to(mock, "GET", f"{LOCAL}/healthz")) == 1  # one attempt, shared
        await local.simulation.get_result("s1")
        assert len(requests_to(mock, "GET", f"{LOCAL}/healthz")) == 1  # within the back-off
        # after the back-off the server (now up, with the bundle) is asked again
        local._capabilities_retry_at = 0.0
        mock.get(
            f"{LOCAL}/healthz",
            payload={"status": "ok", "capabilities": ["arrow-stream", "result-bundle"]},
        )
        body = build(
            "b",
            [
                ("metrics", "application/json", b'{"m": 2}'),
                ("time_series", "application/octet-stream", TS),
                ("steps", "application/octet-stream", STEPS),
            ],
        )
        mock.get(
            f"{LOCAL}/simulations/s1/result",
            body=body,
            content_type="multipart/mixed; boundary=b",
        )
        bundled = await local.simulation.get_result("s1")
        assert bundled.metrics == {"m": 2}
        assert len(requests_to(mock, "GET", f"{LOCAL}/healthz")) == 2
        (sent,) = requests_to(mock, "GET", f"{LOCAL}/simulations/s1/result")
        assert "application/vnd.apache.arrow.stream" in sent.kwargs["headers"]["Accept"]


async def test_a_local_server_without_healthz_is_treated_as_the_cloud(
    local: AsyncIonworks,
) -> None:
    with aioresponses() as mock:
        mock.get(f"{LOCAL}/healthz", status=404, payload={"detail": "Not Found"})
        mock_downloads(mock, LOCAL)
        await local.simulation.get_result("s1")
        await local.simulation.get_result("s1")
        assert len(requests_to(mock, "GET", f"{LOCAL}/healthz")) == 1  # remembered
        assert len(requests_to(mock, "GET", f"{LOCAL}/simulations/s1/steps/download")) == 2
