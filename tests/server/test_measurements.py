"""Integration: cell measurements (upload flow, reads, update, delete, validation, isolation)
against the real local server, through the async and the sync client and raw HTTP."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import polars as pl
import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import MeasurementValidationError, NotFoundError
from ionworks.server.db.measurements import measurement_frames
from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import KEY_A, KEY_B, all_not_found


def frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.1, 1.0, n))
    return pl.DataFrame(
        {
            "Time [s]": t,
            "Current [A]": rng.normal(1.0, 0.1, n),
            "Voltage [V]": 4.2 - t / t[-1] + rng.normal(0, 1e-3, n),
            "Step count": np.repeat(np.arange(4), -(-n // 4))[:n],
        }
    )


def steps_frame() -> pl.DataFrame:
    return pl.DataFrame({"Step count": [0, 1, 2, 3], "Mode": ["CC", "CV", "Rest", "CC"]})


@pytest.fixture
async def api_b(server_url: str) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as client:
        yield client


def bits(df: pl.DataFrame, column: str) -> bytes:
    return bytes(df[column].to_numpy().tobytes())


async def test_upload_round_trip_100k_rows(api: AsyncIonworks, server: EmbeddedServer) -> None:
    ts = frame(100_000)
    m = await api.cell_measurement.upload(ts, name="100k round trip", steps=steps_frame())
    assert m.processing_status == "ready" and m.extra["steps_created"] == 4
    back = await api.cell_measurement.time_series(m.id)
    assert back.shape == ts.shape and back.columns == ts.columns
    for column in ts.columns:
        assert bits(back, column) == bits(ts, column), column
    assert (await api.measurement.steps(m.id)).equals(steps_frame())
    # the pipeline hook resolves db:<id> to the stored files
    store = Store(server.config.data_dir, exclusive=False)
    try:
        # keys live only in the running server (hashed on disk): find the owner by the record
        row = store.one("SELECT owner_id FROM cell_measurements WHERE id = ?", (m.id,))
        assert row is not None
        owner_a = str(row["owner_id"])
        ts_path, steps_path = measurement_frames(store, owner_a, m.id)
        assert pl.read_parquet(ts_path).equals(ts)
        assert steps_path is not None and pl.read_parquet(steps_path).equals(steps_frame())
        with pytest.raises(LookupError, match=f"measurement {m.id} not found"):
            measurement_frames(store, "someone-else", m.id)
    finally:
        store.close()
    await api.cell_measurement.delete(m.id)


async def test_read_update_list_delete(api: AsyncIonworks, api_b: AsyncIonworks) -> None:
    instance = await api.cell_measurement.default_cell_instance()
    again = await api.cell_measurement.default_cell_instance()
    assert instance["id"] == again["id"]  # one default instance per project
    m = await api.cell_measurement.create(
        instance["id"],
        {"measurement": {"name": "via create", "notes": "n1"}, "time_series": frame(50)},
    )
    assert m.cell_instance_id == instance["id"] and m.extra["notes"] == "n1"
    got = await api.cell_measurement.get(m.id)
    assert got.name == "via create" and got.extra["row_count"] == 50
    listed = await api.cell_measurement.list(instance["id"], name="via cre")
    assert m.id in [x.id for x in listed]
    assert (await api.cell_measurement.list(instance["id"], name_exact="via cre")).total == 0
    by_project = await api.cell_measurement.list_by_project(instance["project_id"], limit=1000)
    assert m.id in [x.id for x in by_project]
    updated = await api.cell_measurement.update(m.id, {"name": "renamed", "tags": ["a", "b"]})
    assert updated.name == "renamed" and updated.tags == ["a", "b"]
    # another owner sees nothing
    await all_not_found(
        lambda: api_b.cell_measurement.get(m.id),
        lambda: api_b.cell_measurement.time_series(m.id),
        lambda: api_b.cell_measurement.delete(m.id),
        lambda: api_b.cell_measurement.list(instance["id"]),
    )
    # no steps were uploaded
    with pytest.raises(NotFoundError, match=re.escape("has no steps.parquet")):
        await api.cell_measurement.steps(m.id)
    await api.cell_measurement.delete(m.id)
    with pytest.raises(NotFoundError):
        await api.cell_measurement.get(m.id)
    assert m.id not in [x.id for x in await api.cell_measurement.list(instance["id"])]


async def test_upload_from_folder_prefers_parquet(api: AsyncIonworks, tmp_path: Path) -> None:
    folder = tmp_path / "cell-7 run"
    folder.mkdir()
    frame(200, seed=1).write_parquet(folder / "time_series.parquet")
    frame(10, seed=2).write_csv(folder / "time_series.csv")
    steps_frame().write_csv(folder / "steps.csv")
    m = await api.cell_measurement.upload(folder, progress=True)
    assert m.name == "cell-7 run"
    back = await api.cell_measurement.time_series(m.id)
    assert back.equals(frame(200, seed=1))
    assert (await api.cell_measurement.steps(m.id)).equals(steps_frame())
    await api.cell_measurement.delete(m.id)
    with pytest.raises(MeasurementValidationError, match=re.escape("no time_series.parquet")):
        await api.cell_measurement.upload(tmp_path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (frame(20).drop("Voltage [V]"), "missing required column(s) 'Voltage [V]'"),
        (
            frame(20).with_columns(
                pl.when(pl.int_range(20) == 7)
                .then(float("nan"))
                .otherwise(pl.col("Current [A]"))
                .alias("Current [A]")
            ),
            "column 'Current [A]' row 7",
        ),
        (
            frame(20).with_columns(
                pl.when(pl.int_range(20) == 5)
                .then(0.0)
                .otherwise(pl.col("Time [s]"))
                .alias("Time [s]")
            ),
            "column 'Time [s]' row 5: time goes backwards",
        ),
    ],
)
async def test_bad_uploads_rejected_by_server(
    server_url: str, server: EmbeddedServer, api: AsyncIonworks, bad: pl.DataFrame, message: str
) -> None:
    """Bypass the client's checks: the server validates on confirm and keeps nothing."""
    instance = await api.cell_measurement.default_cell_instance()
    buf = io.BytesIO()
    bad.write_parquet(buf)
    status, body = await raw_upload(server_url, instance["id"], buf.getvalue())
    assert status == 422 and message in body["detail"], body
    assert "invalid measurement data" in body["detail"]
    assert_nothing_stored(server, body.get("measurement_id"))
    # the same data are refused by the client before anything is sent
    with pytest.raises(
        MeasurementValidationError,
        match=re.escape(message),
    ):
        await api.cell_measurement.upload(bad, name="bad")


async def test_not_parquet_missing_file_and_spent_urls(
    server_url: str, server: EmbeddedServer, api: AsyncIonworks
) -> None:
    instance = await api.cell_measurement.default_cell_instance()
    status, body = await raw_upload(server_url, instance["id"], b"not parquet at all")
    assert status == 422 and "time_series.parquet is not a readable parquet file" in body["detail"]
    status, body = await raw_upload(server_url, instance["id"], None)
    assert status == 422 and "time_series.parquet was not uploaded" in body["detail"]
    assert_nothing_stored(server, None)
    headers = {"X-API-Key": KEY_A}
    async with aiohttp.ClientSession() as s:
        init = await initiate_upload(s, server_url, instance["id"], "x")
        url = init["uploads"][0]["signed_url"]
        assert url.startswith(server_url + "/uploads/")
        assert (await s.put(url, data=b"abc")).status == 200
        second = await s.put(url, data=b"abc")  # single use
        assert second.status == 404 and "already used" in (await second.json())["detail"]
        assert (await s.put(f"{server_url}/uploads/guessed-token", data=b"x")).status == 404
        other = await s.post(
            f"{server_url}/cell_measurements/{init['measurement_id']}/confirm-upload",
            json={},
            headers={"X-API-Key": KEY_B},
        )
        assert other.status == 404  # another owner cannot confirm
        await s.post(
            f"{server_url}/cell_measurements/{init['measurement_id']}/confirm-upload",
            json={},
            headers=headers,
        )
    assert_nothing_stored(server, init["measurement_id"])


async def initiate_upload(
    session: aiohttp.ClientSession, url: str, instance_id: str, name: str
) -> dict[str, Any]:
    """``initiate-upload`` of a measurement called ``name`` by key A; the server's reply."""
    path = f"{url}/cell_instances/{instance_id}/cell_measurements/initiate-upload"
    response = await session.post(
        path, json={"measurement": {"name": name}}, headers={"X-API-Key": KEY_A}
    )
    reply: dict[str, Any] = await response.json()
    return reply


async def raw_upload(url: str, instance_id: str, data: bytes | None) -> tuple[int, dict[str, Any]]:
    headers = {"X-API-Key": KEY_A}
    async with aiohttp.ClientSession() as s:
        init = await initiate_upload(s, url, instance_id, "raw")
        if data is not None:
            put = await s.put(init["uploads"][0]["signed_url"], data=data)
            assert put.status == 200
        resp = await s.post(
            f"{url}/cell_measurements/{init['measurement_id']}/confirm-upload",
            json={"cell_instance_id": instance_id, "measurement": {"name": "raw"}},
            headers=headers,
        )
        body = await resp.json()
        body.setdefault("measurement_id", init["measurement_id"])
        get = await s.get(f"{url}/cell_measurements/{init['measurement_id']}", headers=headers)
        assert get.status == 404
        return resp.status, body


def assert_nothing_stored(server: EmbeddedServer, measurement_id: str | None) -> None:
    blobs = server.config.data_dir / "blobs"
    if measurement_id:
        assert not (blobs / "measurements" / measurement_id).exists()
    assert not list((blobs / "uploads").glob("*")), "temp upload files left behind"


def test_sync_client_measurements(server_url: str) -> None:
    with Ionworks(api_key=KEY_A, api_url=server_url) as client:
        m = client.measurement.upload(frame(30), name="sync upload", tags=["s"])
        assert client.cell_measurement.get(m.id).tags == ["s"]
        assert client.cell_measurement.time_series(m.id).equals(frame(30))
        client.cell_measurement.delete(m.id)
        with pytest.raises(NotFoundError):
            client.cell_measurement.get(m.id)


async def test_time_series_row_range_on_the_server(api: AsyncIonworks) -> None:
    instance = await api.cell_measurement.default_cell_instance()
    ts = frame(40)
    m = await api.cell_measurement.create(
        instance["id"], {"measurement": {"name": "row range"}, "time_series": ts}
    )
    try:
        window = await api.cell_measurement.time_series(m.id, row_range=(10, 25))
        assert window.equals(ts.slice(10, 15))
        assert (await api.cell_measurement.time_series(m.id, False, (35, 100))).equals(
            ts.slice(35, 5)
        )
        assert (await api.cell_measurement.time_series(m.id, use_cache=False)).equals(ts)
    finally:
        await api.cell_measurement.delete(m.id)
