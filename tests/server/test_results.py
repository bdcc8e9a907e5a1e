"""Results from the local server: downloads (parquet or Arrow streams) and the one-request
bundle, all decoding to the same frames and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import polars as pl
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import NotFoundError
from ionworks.server.db.store import ARROW_SUFFIX
from ionworks.wire.arrow import ARROW_STREAM
from tests.server.conftest import KEY_A
from tests.ucp.protocols import SEED_SINGLE

AUTH = {"Authorization": f"Bearer {KEY_A}"}


async def raw(url: str, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}{path}", headers=headers) as resp:
            return resp.status, resp.headers, await resp.read()


async def finished(api: AsyncIonworks) -> tuple[str, dict[str, Any]]:
    response = await api.simulation.protocol(
        {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": SEED_SINGLE, "name": "results"},
        }
    )
    record = await api.simulation.wait_for_completion(
        response.simulation_id, timeout=120, poll_interval=0.1, verbose=False
    )
    return response.simulation_id, record


def downloads_only(api: AsyncIonworks) -> AsyncIonworks:
    """The client as it talks to the cloud: no local-server capabilities."""
    api._server_capabilities = frozenset()
    return api


async def test_healthz_lists_the_capabilities(api: AsyncIonworks) -> None:
    health = await api.health_check()
    assert {"arrow-stream", "result-bundle"} <= set(health["capabilities"])
    assert await api._capabilities() == frozenset(health["capabilities"])


async def test_results_are_arrow_streams_when_accepted_parquet_otherwise(
    api: AsyncIonworks, server: Any, server_url: str
) -> None:
    sid, _ = await finished(api)
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for table in ("time_series", "steps"):
        path = f"/simulations/{sid}/{table}/download"
        status, headers, arrow = await raw(server_url, path, {**AUTH, "Accept": ARROW_STREAM})
        assert status == 200 and headers["Content-Type"] == ARROW_STREAM
        assert headers["Vary"] == "Accept" and arrow[:4] == b"\xff\xff\xff\xff"
        status, headers, parquet = await raw(server_url, path, AUTH)
        assert status == 200 and headers["Content-Type"] == "application/octet-stream"
        assert parquet[:4] == b"PAR1"  # what the official client and other readers expect
        frames[table] = {"arrow": pl.read_ipc_stream(arrow), "parquet": pl.read_parquet(parquet)}
        assert frames[table]["arrow"].equals(frames[table]["parquet"])
    # the columns clients derive (wire.md §4.4) are stored, so both forms carry them
    assert {"Step capacity [A.h]", "Capacity [A.h]"} <= set(
        frames["time_series"]["parquet"].columns
    )
    assert "Delta capacity [A.h]" in frames["steps"]["parquet"].columns
    for use_bundle in (True, False):
        async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as client:
            assert "result-bundle" in await client._capabilities()
            if not use_bundle:
                downloads_only(client)
            result = await client.simulation.get_result(sid)
        assert result.time_series.equals(frames["time_series"]["parquet"])
        assert result.steps.equals(frames["steps"]["parquet"])
    # a result stored without Arrow copies (large, or from an older version) is parquet only
    folder = Path(server.config.data_dir) / "blobs" / "simulations" / sid
    for table in ("time_series", "steps"):
        (folder / f"{table}{ARROW_SUFFIX}").unlink()
    api._server_capabilities = None  # ask again: the bundle path
    again = await api.simulation.get_result(sid)
    assert again.time_series.equals(result.time_series) and again.steps.equals(result.steps)


async def test_bundle_is_one_request_with_the_same_result(api: AsyncIonworks) -> None:
    sid, record = await finished(api)
    await api._capabilities()  # asked once per client
    before = api._transport.request_count
    bundled = await api.simulation.get_result(sid)
    assert api._transport.request_count - before == 1
    assert bundled.metrics == record["metrics"] and bundled.metrics
    downloads_only(api)
    before = api._transport.request_count
    downloaded = await api.simulation.get_result(sid)  # the wait's metrics were used above
    assert api._transport.request_count - before == 3  # two downloads and the record
    assert downloaded.metrics == bundled.metrics
    assert downloaded.time_series.equals(bundled.time_series)
    assert downloaded.steps.equals(bundled.steps)


async def test_downloads_after_a_wait_need_no_record_get(api: AsyncIonworks) -> None:
    downloads_only(api)
    sid, record = await finished(api)
    before = api._transport.request_count
    result = await api.simulation.get_result(sid)
    assert api._transport.request_count - before == 2  # metrics came with the wait
    assert result.metrics == record["metrics"] and result.metrics


async def test_bundle_parts_and_errors(api: AsyncIonworks, server_url: str) -> None:
    sid, _ = await finished(api)
    status, headers, body = await raw(server_url, f"/simulations/{sid}/result", AUTH)
    assert status == 200 and headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert body.count(b"Content-Disposition: inline; name=") == 3 and b"PAR1" in body
    with pytest.raises(NotFoundError, match="simulation nope not found"):
        await api.simulation.get_result("nope")
    status, _, body = await raw(server_url, f"/simulations/{sid}/result", {})
    assert status == 401


@pytest.mark.parametrize("status", ["running", "canceled"])
async def test_results_are_stored_only_while_the_job_runs(tmp_path: Path, status: str) -> None:
    from ionworks.server.db.store import Store
    from ionworks.server.services.simulation_jobs import store_result

    store = Store(tmp_path)
    try:
        ts = "2026-01-01T00:00:00Z"
        store.execute(
            "INSERT INTO jobs(id, owner_id, job_type, status, params, created_at, updated_at, seq)"
            " VALUES ('j1', 'o', 'simulation', ?, '{}', ?, ?, 1)",
            (status, ts, ts),
        )
        store.execute(
            "INSERT INTO simulations(id, owner_id, template_id, job_id, parameterized_model, "
            "experiment_parameters, design_parameters, extra_variables, max_backward_jumps, "
            "created_at, updated_at, seq) VALUES ('s1', 'o', 't', 'j1', '\"m\"', '{}', '{}', "
            "'[]', 1, ?, ?, 1)",
            (ts, ts),
        )
        result = {"time_series": b"ts", "steps": b"st", "metrics": {"x": 1.0}, "arrow": {}}
        await store_result(store, {"simulation_id": "s1"}, result)
        row = store.one("SELECT storage_folder, metrics FROM simulations WHERE id = 's1'")
        assert row is not None
        stored = (tmp_path / "blobs" / "simulations" / "s1" / "steps.parquet").is_file()
        if status == "running":
            assert row["storage_folder"] == "simulations/s1" and stored
        else:  # canceled while the files were written: nothing kept
            assert row["storage_folder"] is None and not stored
    finally:
        store.close()
