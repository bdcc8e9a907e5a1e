"""Integration: ``cell_measurement.extend`` (wire.md §10.3) against the real local server —
the stitch, the record's counters, the step table, failures that keep the old data, and
stitches a stop interrupted."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import IonworksError, MeasurementValidationError
from ionworks.resources._measurement_io import MeasurementProcessingError
from ionworks.server.api.measurement_extend import INTERRUPTED
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.services import measurement_extend
from tests.server.test_measurements import frame, steps_frame

KEY = "extend-key"
FAST = {"poll_interval": 0.05}


def later(df: pl.DataFrame, n: int, seed: int = 1) -> pl.DataFrame:
    """``n`` more rows whose time starts where ``df`` ends."""
    more = frame(n, seed)
    end = float(df["Time [s]"][-1])
    return more.with_columns(pl.col("Time [s]") + end)


def start_server(data_dir: Path) -> EmbeddedServer:
    return EmbeddedServer(data_dir, api_keys=[KEY], allow_anonymous=False, workers=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("extend-data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[EmbeddedServer]:
    with start_server(data_dir) as srv:
        yield srv


@pytest.fixture
async def api(server: EmbeddedServer) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY, api_url=server.url) as client:
        yield client


def row_of(data_dir: Path, mid: str) -> sqlite3.Row:
    db = sqlite3.connect(data_dir / "ionworks.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM cell_measurements WHERE id = ?", (mid,)).fetchone()
    finally:
        db.close()
    assert row is not None
    return row


async def test_extend_appends_and_regenerates_steps(api: AsyncIonworks, data_dir: Path) -> None:
    ts = frame(300)
    m = await api.cell_measurement.upload(ts, name="extend with steps", steps=steps_frame())
    before = await api.cell_measurement.get(m.id)
    delta = later(ts, 120)
    out = await api.cell_measurement.extend(m.id, delta, **FAST)
    assert out.id == m.id and out.processing_status == "ready", out
    assert out.extra["steps_created"] == 0 and out.extra["row_count"] == 420, out.extra
    assert out.extra["data_version"] == before.extra["data_version"] + 1
    assert out.extra["updated_at"] > before.extra["updated_at"]
    assert out.processing_error is None
    back = await api.cell_measurement.time_series(m.id, use_cache=False)
    assert back.equals(pl.concat([ts, delta])), back
    # the uploaded step table was replaced by the detector's over the whole series, so the
    # two step reads agree
    steps = await api.cell_measurement.steps(m.id, use_cache=False)
    derived = await api.cell_measurement.steps_and_cycles(m.id, use_cache=False)
    assert steps.height == derived.steps.height and steps.columns == derived.steps.columns
    assert int(steps["End index"][-1]) == 419
    assert row_of(data_dir, m.id)["steps_count"] == steps.height
    # extending again works: nothing is left in flight
    again = later(back, 10, seed=2)
    out = await api.cell_measurement.extend(m.id, again, **FAST)
    assert out.extra["row_count"] == 430


async def test_extend_without_step_table_keeps_none(api: AsyncIonworks) -> None:
    ts = frame(100)
    m = await api.cell_measurement.upload(ts, name="extend without steps")
    await api.cell_measurement.extend(m.id, later(ts, 5), **FAST)
    assert (await api.cell_measurement.get(m.id)).extra["has_steps"] is False
    with pytest.raises(IonworksError) as caught:
        await api.cell_measurement.steps(m.id, use_cache=False)
    assert caught.value.status_code == 404
    cycles = await api.cell_measurement.cycles(m.id, use_cache=False)
    assert cycles.height >= 1


async def test_no_wait_then_wait_for_processing(api: AsyncIonworks) -> None:
    ts = frame(100)
    m = await api.cell_measurement.upload(ts, name="extend no wait")
    out = await api.cell_measurement.extend(m.id, later(ts, 7), wait_for_processing=False)
    assert out.processing_status in ("pending", "running", "ready"), out
    settled = await api.cell_measurement.wait_for_processing(m.id)
    assert settled[m.id]["processing_status"] == "ready" and settled[m.id]["row_count"] == 107


async def test_client_checks_send_nothing(api: AsyncIonworks) -> None:
    ts = frame(50)
    m = await api.cell_measurement.upload(ts, name="extend client checks")
    transport = api._transport
    sent = transport.request_count
    with pytest.raises(IonworksError, match="empty") as caught:
        await api.cell_measurement.extend(m.id, ts.head(0))
    assert type(caught.value) is IonworksError
    with pytest.raises(IonworksError, match="Step count") as caught:
        await api.cell_measurement.extend(m.id, ts.drop("Step count"))
    assert type(caught.value) is IonworksError
    with pytest.raises(MeasurementValidationError, match="non-decreasing"):
        await api.cell_measurement.extend(m.id, later(ts, 5).reverse())
    assert transport.request_count == sent


async def test_server_refusal_keeps_data_and_is_not_stuck(api: AsyncIonworks) -> None:
    ts = frame(80)
    m = await api.cell_measurement.upload(ts, name="extend refused")
    with pytest.raises(IonworksError, match="before the stored series ends") as caught:
        await api.cell_measurement.extend(m.id, frame(5), **FAST)  # starts at ~0 s
    assert caught.value.status_code == 422
    record = await api.cell_measurement.get(m.id)
    assert record.processing_status == "ready" and record.extra["row_count"] == 80
    assert (await api.cell_measurement.time_series(m.id, use_cache=False)).equals(ts)
    await api.cell_measurement.extend(m.id, later(ts, 3), **FAST)
    assert (await api.cell_measurement.get(m.id)).extra["row_count"] == 83


async def test_failed_stitch_is_a_processing_error(
    api: AsyncIonworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    ts = frame(60)
    m = await api.cell_measurement.upload(ts, name="extend stitch fails")

    def broken(*args: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(measurement_extend, "stitch", broken)
    with pytest.raises(MeasurementProcessingError, match="could not write") as caught:
        await api.cell_measurement.extend(m.id, later(ts, 4), **FAST)
    assert caught.value.failures == {m.id: caught.value.message}
    record = await api.cell_measurement.get(m.id)
    assert record.processing_status == "ready" and record.processing_error
    assert (await api.cell_measurement.time_series(m.id, use_cache=False)).equals(ts)
    monkeypatch.undo()
    out = await api.cell_measurement.extend(m.id, later(ts, 4), **FAST)
    assert out.processing_error is None and out.extra["row_count"] == 64


async def test_failure_after_the_series_was_written_finishes_it(
    api: AsyncIonworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure once the new series is on disk (e.g. a full disk after its rename) records
    the stitch rather than claiming the old data."""
    ts = frame(60)
    m = await api.cell_measurement.upload(ts, name="extend written", steps=steps_frame())
    real = measurement_extend.stitch

    def written_then_fails(*args: Any) -> Any:
        real(*args)
        raise OSError("disk full after the rename")

    monkeypatch.setattr(measurement_extend, "stitch", written_then_fails)
    out = await api.cell_measurement.extend(m.id, later(ts, 6), **FAST)
    assert out.processing_error is None and out.extra["row_count"] == 66, out
    steps = await api.cell_measurement.steps(m.id, use_cache=False)
    assert int(steps["End index"][-1]) == 65


def test_sync_client_extends(server: EmbeddedServer) -> None:
    with Ionworks(api_key=KEY, api_url=server.url) as client:
        ts = frame(40)
        m = client.cell_measurement.upload(ts, name="extend sync")
        out = client.cell_measurement.extend(m.id, later(ts, 2), poll_interval=0.05)
        assert out.extra["row_count"] == 42


async def test_interrupted_stitches_settle_at_start(tmp_path: Path) -> None:
    """A stop before the new series was written: the old data and INTERRUPTED; after it was
    written: finished (counts, version, steps)."""
    with start_server(tmp_path) as srv:
        async with AsyncIonworks(api_key=KEY, api_url=srv.url) as api:
            ts = frame(90)
            kept = await api.cell_measurement.upload(ts, name="interrupted early")
            done = await api.cell_measurement.upload(
                ts, name="interrupted late", steps=steps_frame()
            )
    version = row_of(tmp_path, done.id)["data_version"]
    longer = pl.concat([ts, later(ts, 30)])
    longer.write_parquet(tmp_path / "blobs" / "measurements" / done.id / "time_series.parquet")
    db = sqlite3.connect(tmp_path / "ionworks.sqlite3")
    with db:
        db.execute(
            "UPDATE cell_measurements SET processing_status = 'running' WHERE id IN (?, ?)",
            (kept.id, done.id),
        )
    db.close()
    with start_server(tmp_path) as srv:
        async with AsyncIonworks(api_key=KEY, api_url=srv.url) as api:
            first = await api.cell_measurement.get(kept.id)
            assert first.processing_status == "ready" and first.processing_error == INTERRUPTED
            assert (await api.cell_measurement.time_series(kept.id, use_cache=False)).equals(ts)
            second = await api.cell_measurement.get(done.id)
            assert second.processing_status == "ready" and second.processing_error is None
            assert second.extra["row_count"] == 120
            assert second.extra["data_version"] == version + 1
            steps = await api.cell_measurement.steps(done.id, use_cache=False)
            assert int(steps["End index"][-1]) == 119
