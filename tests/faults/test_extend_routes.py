"""Hostile and unlucky requests to ``initiate-extend`` / ``confirm-extend`` (wire.md §10.3), by
raw HTTP against the real local server: unknown and foreign ids, other measurement types,
bodies that are not objects, one extend in flight, none while processing, deltas that go back
in time or do not match the stored series, size bounds, and ``confirm-upload`` aimed at a
stored measurement (it must never lose its files)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import polars as pl
import pytest

pytest.importorskip("pybamm")

from ionworks.server.hosting import EmbeddedServer
from ionworks.server.services import measurement_extend
from tests.faults import test_uploads
from tests.faults.conftest import KEY_A, KEY_B
from tests.faults.test_uploads import SMALL, Api, csv, parquet
from tests.server.test_measurements import frame, steps_frame

#: The upload tests' fixtures: their small-bounds server, a session, key A on it and key A on
#: the module's two-key server.
small_server = test_uploads.small_server
session = test_uploads.session
small = test_uploads.small
api_a = test_uploads.api_a


@pytest.fixture
def server(small_server: EmbeddedServer) -> EmbeddedServer:
    """Small bounds: 256 KiB bodies, 1,000 rows, 2,400 values (key A only)."""
    return small_server


@pytest.fixture
def a(small: Api) -> Api:
    return small


@pytest.fixture
def b(fault_url: str, session: aiohttp.ClientSession) -> Api:
    """Key B on the module's other server (two keys)."""
    return Api(session, fault_url, KEY_B)


def later(df: pl.DataFrame, n: int) -> pl.DataFrame:
    return frame(n, 7).with_columns(pl.col("Time [s]") + float(df["Time [s]"][-1]))


async def stored(a: Api, rows: int = 100, *, steps: bool = True) -> tuple[str, pl.DataFrame]:
    ts = frame(rows)
    files = {"time_series.parquet": parquet(ts)}
    if steps:
        files["steps.parquet"] = parquet(steps_frame())
    mid, status, body = await a.upload(await a.default_instance(), files)
    assert status == 200, body
    return mid, ts


async def initiate(api: Api, mid: str, **kw: Any) -> tuple[int, Any]:
    kw.setdefault("json", {})
    return await api.call("POST", f"/cell_measurements/{mid}/initiate-extend", **kw)


async def confirm(api: Api, mid: str, **kw: Any) -> tuple[int, Any]:
    kw.setdefault("json", {})
    return await api.call("POST", f"/cell_measurements/{mid}/confirm-extend", **kw)


async def extend(api: Api, mid: str, data: bytes) -> tuple[int, Any]:
    """initiate → PUT → confirm: confirm's (status, body)."""
    status, body = await initiate(api, mid)
    assert status == 200, body
    (upload,) = body["uploads"]
    assert upload["filename"] == "time_series_extend.parquet"
    status, put = await api.put(upload["signed_url"], data)
    assert status == 200, put
    return await confirm(api, mid)


async def settled(api: Api, mid: str) -> dict[str, Any]:
    for _ in range(400):
        status, record = await api.call("GET", f"/cell_measurements/{mid}")
        assert status == 200, record
        if record["processing_status"] == "ready":
            return dict(record)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{mid} still processing")


def files_of(server: EmbeddedServer, mid: str) -> dict[str, bytes]:
    folder = server.config.data_dir / "blobs" / "measurements" / mid
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


async def test_unknown_foreign_and_other_types(a: Api, api_a: Api, b: Api) -> None:
    mine, _ = await stored(api_a)
    for call in (initiate, confirm):
        status, body = await call(a, "no-such-id")
        assert status == 404 and "not found" in body["detail"], body
        status, body = await call(b, mine)  # another key's measurement
        assert status == 404 and "not found" in body["detail"], body
    mid, _ = await stored(a)
    instance = await a.default_instance()
    status, props = await a.call(
        "POST",
        f"/cell_instances/{instance}/cell_measurements/create",
        json={"name": "props", "measurement_type": "properties", "properties": {"x": 1}},
    )
    assert status == 201, props
    for call in (initiate, confirm):
        status, body = await call(a, props["id"])
        assert status == 422 and "only time_series" in body["detail"], body
    for bad in ([1, 2], "text", 3):
        status, body = await initiate(a, mid, json=bad)
        assert status == 422 and "JSON object" in body["detail"], body
    status, body = await initiate(a, mid, json=None, data=b"{not json")
    assert 400 <= status < 500, body


async def test_one_extend_in_flight(a: Api, server: EmbeddedServer) -> None:
    mid, ts = await stored(a)
    status, body = await initiate(a, mid)
    assert status == 200, body
    url = body["uploads"][0]["signed_url"]
    status, again = await initiate(a, mid)
    assert status == 409 and "in flight" in again["detail"], again
    status, early = await confirm(a, mid)
    assert status == 422 and "was not uploaded" in early["detail"], early
    status, put = await a.put(url, parquet(later(ts, 20)))
    assert status == 200, put
    results = await asyncio.gather(confirm(a, mid), confirm(a, mid))
    codes = sorted(code for code, _ in results)
    assert codes[0] == 200 and codes[1] in (404, 409), results
    record = await settled(a, mid)
    assert record["row_count"] == 120 and record["processing_error"] is None
    status, spent = await a.put(url, parquet(later(ts, 20)))
    assert status == 404, spent  # single use


async def test_no_extend_while_processing(a: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    mid, ts = await stored(a)
    gate, entered = threading.Event(), threading.Event()
    real = measurement_extend.stitch

    def slow(*args: Any) -> Any:
        entered.set()
        assert gate.wait(30)
        return real(*args)

    monkeypatch.setattr(measurement_extend, "stitch", slow)
    try:
        status, body = await extend(a, mid, parquet(later(ts, 10)))
        assert status == 200 and body["processing_status"] == "pending", body
        assert body["steps_created"] == 0
        await asyncio.to_thread(entered.wait, 30)
        status, record = await a.call("GET", f"/cell_measurements/{mid}")
        assert record["processing_status"] == "running", record
        status, refused = await initiate(a, mid)
        assert status == 409, refused
    finally:
        gate.set()
    record = await settled(a, mid)
    assert record["row_count"] == 110


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (lambda ts: frame(10), "before the stored series ends"),
        (lambda ts: later(ts, 10).drop("Voltage [V]"), "missing required column"),
        (lambda ts: later(ts, 10).drop("Step count"), "missing 'Step count'"),
        (lambda ts: later(ts, 10).with_columns(x=pl.lit(1.0)), "not in the stored series: 'x'"),
        (
            lambda ts: later(ts, 10).with_columns(pl.col("Step count").cast(pl.Utf8)),
            "column 'Step count' has type String",
        ),
        (
            lambda ts: later(ts, 10).with_columns(
                pl.Series("Time [s]", np.r_[1e9, np.full(9, 1e9 - 1)])
            ),
            "time goes backwards",
        ),
        (
            lambda ts: later(ts, 10).with_columns(pl.lit(float("nan")).alias("Current [A]")),
            "finite",
        ),
    ],
)
async def test_refused_deltas_leave_the_data(
    a: Api, server: EmbeddedServer, delta: Any, message: str
) -> None:
    mid, ts = await stored(a)
    before = files_of(server, mid)
    status, body = await extend(a, mid, parquet(delta(ts)))
    assert status == 422 and message in body["detail"], body
    assert str(server.config.data_dir) not in body["detail"]
    record = await settled(a, mid)
    assert record["row_count"] == 100 and message in record["processing_error"], record
    assert files_of(server, mid) == before
    assert_no_extend_left(server)
    status, ok = await extend(a, mid, csv(later(ts, 5)))  # not stuck; CSV is accepted too
    assert status == 200, ok
    assert (await settled(a, mid))["row_count"] == 105


async def test_garbage_and_size_bounds(a: Api, server: EmbeddedServer) -> None:
    mid, ts = await stored(a, 550)
    status, body = await extend(a, mid, b"PAR1 this is not parquet")
    assert status == 422 and "not a readable" in body["detail"], body
    status, body = await extend(a, mid, parquet(later(ts, 60)))  # 610 rows x 4 > 2,400
    assert status == 422 and "max_measurement_cells" in body["detail"], body
    assert "the extended time series" in body["detail"], body
    status, body = await initiate(a, mid)
    assert status == 200, body
    status, put = await a.put(
        body["uploads"][0]["signed_url"], b"\0" * (SMALL.max_upload_bytes + 1)
    )
    assert status == 413, put
    status, body = await confirm(a, mid)
    assert status == 422, body  # nothing was received: the URL stays usable
    assert (await settled(a, mid))["row_count"] == 550


async def test_confirm_upload_on_a_stored_measurement_loses_nothing(
    a: Api, server: EmbeddedServer
) -> None:
    mid, ts = await stored(a)
    before = files_of(server, mid)
    assert set(before) == {"time_series.parquet", "steps.parquet"}
    for body in ({"measurement": {}}, {"measurement": "hostile"}, [1], {}):
        status, answer = await a.call("POST", f"/cell_measurements/{mid}/confirm-upload", json=body)
        assert status == 409 and "already confirmed" in answer["detail"], answer
    # with an extend received and waiting, and with a garbage one
    status, init = await initiate(a, mid)
    assert status == 200, init
    status, put = await a.put(init["uploads"][0]["signed_url"], b"garbage")
    assert status == 200, put
    status, answer = await a.confirm(mid)
    assert status == 409, answer
    assert files_of(server, mid) == before
    status, answer = await confirm(a, mid)  # the extend's own confirm still has its URL
    assert status == 422 and "not a readable" in answer["detail"], answer
    assert files_of(server, mid) == before
    status, answer = await extend(a, mid, parquet(later(ts, 3)))
    assert status == 200, answer
    status, answer = await a.confirm(mid)
    assert status == 409, answer
    assert (await settled(a, mid))["row_count"] == 103
    assert (await a.download(mid)).height == 103


def assert_no_extend_left(server: EmbeddedServer) -> None:
    db = sqlite3.connect(server.config.data_dir / "ionworks.sqlite3")
    try:
        left = db.execute(
            "SELECT COUNT(*) FROM measurement_uploads WHERE meta = '{\"extend\": true}'"
        ).fetchone()[0]
    finally:
        db.close()
    assert left == 0


async def test_a_restart_mid_extend_keeps_the_folder(tmp_path: Path) -> None:
    """An extend claimed when the server stopped: at start its URL is spent (the upload sweep),
    the measurement keeps its files and says why the extend did not apply."""
    with EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1) as srv:
        async with aiohttp.ClientSession() as session:
            api = Api(session, str(srv.url), KEY_A)
            mid, ts = await stored(api)
            status, init = await initiate(api, mid)
            status, put = await api.put(init["uploads"][0]["signed_url"], parquet(later(ts, 4)))
            assert status == 200, put
        before = files_of(srv, mid)
    db = sqlite3.connect(tmp_path / "ionworks.sqlite3")
    with db:
        db.execute("UPDATE measurement_uploads SET received = 3 WHERE measurement_id = ?", (mid,))
        db.execute(
            "UPDATE cell_measurements SET processing_status = 'pending' WHERE id = ?", (mid,)
        )
    db.close()
    with EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1) as srv:
        async with aiohttp.ClientSession() as session:
            api = Api(session, str(srv.url), KEY_A)
            record = await settled(api, mid)
            assert record["row_count"] == 100 and "server stopped" in record["processing_error"]
            assert files_of(srv, mid) == before
            status, answer = await extend(api, mid, parquet(later(ts, 4)))
            assert status == 200, answer
            assert (await settled(api, mid))["row_count"] == 104
