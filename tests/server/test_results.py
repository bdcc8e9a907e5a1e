"""Results from the local server: downloads (parquet or Arrow streams) and the one-request
bundle, all decoding to the same frames and metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import polars as pl
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import NotFoundError
from ionworks.server.db import packs
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
    downloads: dict[str, bytes] = {}
    for table in ("time_series", "steps"):
        path = f"/simulations/{sid}/{table}/download"
        status, headers, arrow = await raw(server_url, path, {**AUTH, "Accept": ARROW_STREAM})
        assert status == 200 and headers["Content-Type"] == ARROW_STREAM
        assert headers["Vary"] == "Accept" and arrow[:4] == b"\xff\xff\xff\xff"
        status, headers, parquet = await raw(server_url, path, AUTH)
        assert status == 200 and headers["Content-Type"] == "application/octet-stream"
        assert parquet[:4] == b"PAR1"  # what the official client and other readers expect
        frames[table] = {"arrow": pl.read_ipc_stream(arrow), "parquet": pl.read_parquet(parquet)}
        downloads |= {f"{table}{ARROW_SUFFIX}": arrow, f"{table}.parquet": parquet}
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
    # small tables are stored as Arrow streams only (the parquet above was converted) ...
    path = Path(server.config.data_dir) / "blobs" / "simulations" / sid
    names = sorted(downloads)
    assert sorted(packs.read(path, names)) == [
        f"{t}{ARROW_SUFFIX}" for t in ("steps", "time_series")
    ]
    # ... a result as older versions stored it (a folder of parquet files and Arrow copies)
    # reads the same, and one without Arrow copies (large, or older still) is parquet only
    path.unlink()
    path.mkdir()
    for name, content in downloads.items():
        (path / name).write_bytes(content)
    for arrow_copies in (True, False):
        if not arrow_copies:
            for table in ("time_series", "steps"):
                (path / f"{table}{ARROW_SUFFIX}").unlink()
        for use_bundle in (True, False):
            async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as client:
                if not use_bundle:
                    downloads_only(client)
                again = await client.simulation.get_result(sid)
            assert again.time_series.equals(result.time_series)
            assert again.steps.equals(result.steps)


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
        result = {"time_series": b"ts", "steps": b"st", "metrics": {"x": 1.0}}
        await store_result(store, {"simulation_id": "s1"}, result)
        row = store.one("SELECT storage_folder, metrics FROM simulations WHERE id = 's1'")
        assert row is not None
        stored = (tmp_path / "blobs" / "simulations" / "s1").is_file()  # the result's pack
        if status == "running":
            assert row["storage_folder"] == "simulations/s1" and stored
        else:  # canceled while the files were written: nothing kept
            assert row["storage_folder"] is None and not stored
    finally:
        store.close()


def test_stored_tables_are_sent_in_the_form_each_client_reads(tmp_path: Path) -> None:
    """A large table is stored (and sent to every client) as parquet; a small one as an
    Arrow stream, converted to parquet for clients that do not accept streams."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ionworks.server.api.results import _tables
    from ionworks.wire.arrow import write_arrow_stream, write_result_parquet

    table = pa.table({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.2, 4.1]})
    parquet, stream = write_result_parquet(table), write_arrow_stream(table)
    path = tmp_path / "pack"
    path.write_bytes(
        b"".join(packs.chunks({"time_series.parquet": parquet, f"steps{ARROW_SUFFIX}": stream}))
    )
    both = ("time_series", "steps")
    assert _tables(path, both, True) == [
        ("time_series", "application/octet-stream", parquet),
        ("steps", ARROW_STREAM, stream),
    ]
    [series, (_, media_type, converted)] = _tables(path, both, False)
    assert series == ("time_series", "application/octet-stream", parquet)
    assert media_type == "application/octet-stream" and converted[:4] == b"PAR1"
    assert pq.read_table(pa.BufferReader(converted)).equals(table)
    with pytest.raises(LookupError, match=r"other\.parquet"):
        _tables(path, ("other",), True)


async def test_a_cancelled_batch_leaves_the_others_to_ask_alone() -> None:
    """The caller that sends a batch is cancelled mid-request: the others get ``None`` (and
    ask alone) instead of waiting for an answer that never comes."""
    import anyio

    from ionworks.resources._result_batches import ResultBatcher

    sent: list[Any] = []

    class Stalling:  # a server that never answers (a fault case)
        async def post_parts(self, path: str, body: Any, *, accept: str | None = None) -> Any:
            sent.append(body)
            await anyio.sleep_forever()

    batcher = ResultBatcher(Stalling())  # type: ignore[arg-type]
    got: dict[str, Any] = {}
    leader = anyio.CancelScope()

    async def lead() -> None:
        with leader:
            got["a"] = await batcher.get("a", None)
        got.setdefault("a", "cancelled")

    async def follow() -> None:
        got["b"] = await batcher.get("b", None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead)
        tg.start_soon(follow)
        while not sent:
            await anyio.sleep(0.001)
        leader.cancel()
    assert sent == [{"simulation_ids": ["a", "b"]}]  # one request for both
    assert got == {"a": "cancelled", "b": None}


async def test_a_failed_batch_leaves_everyone_to_ask_alone() -> None:
    from ionworks.resources._result_batches import ResultBatcher

    class Broken:
        async def post_parts(self, path: str, body: Any, *, accept: str | None = None) -> Any:
            raise ConnectionResetError("reset by peer")

    batcher = ResultBatcher(Broken())  # type: ignore[arg-type]
    assert await asyncio.gather(batcher.get("a", None), batcher.get("b", None)) == [None, None]


async def test_waits_poll_finished_ids_only_and_still_see_a_deleted_one(
    api: AsyncIonworks,
) -> None:
    """Our server's waiters ask only for finished simulations (``statuses-finished-only``);
    one deleted before it finishes still ends the wait with NotFoundError naming it."""
    from ionworks.errors import NotFoundError

    assert "statuses-finished-only" in await api._capabilities()
    sid, _ = await finished(api)
    records = [r async for r in api.simulation.as_completed([sid], poll_interval=0.05)]
    assert [r["id"] for r in records] == [sid] and records[0]["metrics"]
    response = await api.simulation.protocol(
        {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": SEED_SINGLE, "name": "deleted while waited"},
            "design_parameters": {"Negative particle diffusivity [m2.s-1]": 4.321e-14},
        }
    )
    await api.simulation.delete(response.simulation_id)
    with pytest.raises(NotFoundError, match=response.simulation_id):
        await api.simulation.wait_for_completion(
            [sid, response.simulation_id], timeout=30, poll_interval=0.05, verbose=False
        )
