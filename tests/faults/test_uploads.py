"""Measurement uploads and project deletion under hostile or unlucky conditions (issue 14): size
and shape bounds checked before decoding, corrupt files, upload URLs, concurrent confirms,
open-upload caps and expiry, restarts, server paths in messages, and deleting a project with
everything in it. All against the real local server."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pybamm")

from ionworks import AsyncIonworks
from ionworks.errors import MeasurementValidationError
from ionworks.server.db.uploads import RECEIVING
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from ionworks.server.services.measurement_files import _check_file
from tests.faults.conftest import KEY_A, KEY_B
from tests.server.test_measurements import frame, steps_frame
from tests.server.test_server_api import config
from tests.ucp.protocols import LONG_CYCLING

KEY_C = "uploads-key-c"
SMALL = Limits(
    max_upload_bytes=256 * 1024,
    max_measurement_rows=1_000,
    max_measurement_cells=2_400,
    max_open_uploads=50,  # the tests sharing this server never meet the cap
)
QUICK_MODEL = {"quick_model": {"capacity": 5, "chemistry": "NMC", "resistance_pct": 100}}
FAILING_PIPELINE = {"elements": {"x": {"element_type": "nope"}}}
#: Minutes of DFN cycling on one worker (200 cycles take seconds).
LONGER_CYCLING = LONG_CYCLING.replace("repeat: 200", "repeat: 3000")
assert LONGER_CYCLING != LONG_CYCLING


# --- a raw HTTP client of the upload flow --------------------------------------------------


class Api:
    """Raw requests of one key (uploads go to the URLs the server hands out, without key)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str) -> None:
        self.session, self.url, self.key = session, url, key

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        all_headers = {"X-API-Key": self.key, **(headers or {})}
        async with self.session.request(method, self.url + path, headers=all_headers, **kw) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None

    async def default_instance(self) -> str:
        status, projects = await self.call("GET", "/projects")
        assert status == 200, projects
        pid = next(p["id"] for p in projects["items"] if p["is_default"])
        status, found = await self.call(
            "GET", "/cell_instances", params={"project_id": pid, "is_default": "true"}
        )
        assert status == 200, found
        return str(found["items"][0]["id"])

    async def initiate(self, instance: str, **headers: str) -> tuple[int, Any]:
        return await self.call(
            "POST",
            f"/cell_instances/{instance}/cell_measurements/initiate-upload",
            json={"measurement": {"name": "upload test"}},
            headers=headers,
        )

    async def start(self, instance: str) -> tuple[str, dict[str, str]]:
        """initiate-upload: (measurement id, file name → upload URL)."""
        status, body = await self.initiate(instance)
        assert status == 200, body
        return body["measurement_id"], {u["filename"]: u["signed_url"] for u in body["uploads"]}

    async def put(
        self, url: str, data: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.put(url, data=io.BytesIO(data), headers=headers or {}) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None

    async def confirm(self, mid: str) -> tuple[int, Any]:
        return await self.call(
            "POST", f"/cell_measurements/{mid}/confirm-upload", json={"measurement": {}}
        )

    async def download(self, mid: str) -> pl.DataFrame:
        """The stored time series of a measurement."""
        async with self.session.get(
            f"{self.url}/cell_measurements/{mid}/time_series/download",
            headers={"X-API-Key": self.key},
        ) as resp:
            assert resp.status == 200
            return pl.read_parquet(io.BytesIO(await resp.read()))

    async def upload(self, instance: str, files: dict[str, bytes]) -> tuple[str, int, Any]:
        """initiate → PUT each file → confirm: (measurement id, status, body)."""
        mid, urls = await self.start(instance)
        for name, data in files.items():
            status, body = await self.put(urls[name], data)
            assert status == 200, body
        status, body = await self.confirm(mid)
        return mid, status, body


def parquet(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def csv(df: pl.DataFrame) -> bytes:
    return df.write_csv().encode()


def uploads_dir(server: EmbeddedServer) -> Path:
    return server.config.data_dir / "blobs" / "uploads"


def assert_no_upload_files(server: EmbeddedServer) -> None:
    left = sorted(p.name for p in uploads_dir(server).glob("*"))
    assert not left, f"upload files left behind: {left}"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Small upload bounds: 256 KiB bodies, 1,000 rows, 2,400 values."""
    with EmbeddedServer(
        tmp_path_factory.mktemp("upload-limits"),
        api_keys=[KEY_A],
        allow_anonymous=False,
        workers=1,
        limits=SMALL,
    ) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        yield s


@pytest.fixture
def small(small_server: EmbeddedServer, session: aiohttp.ClientSession) -> Api:
    return Api(session, str(small_server.url), KEY_A)


@pytest.fixture
def api_a(fault_url: str, session: aiohttp.ClientSession) -> Api:
    return Api(session, fault_url, KEY_A)


# --- bounds: body size after decompression, rows × columns before decoding, corrupt files --


async def test_gzip_body_is_capped_after_decompression(
    small: Api, small_server: EmbeddedServer
) -> None:
    cap = SMALL.max_upload_bytes
    instance = await small.default_instance()
    mid, urls = await small.start(instance)
    url = urls["time_series.parquet"]
    status, body = await small.put(url, b"\0" * (cap + 1))
    assert status == 413, body
    assert "max_upload_bytes" in body["detail"] and f"{cap:,}" in body["detail"], body
    bomb = gzip.compress(b"\0" * (16 * cap))
    assert len(bomb) < cap  # small on the wire, 16× the limit once inflated
    status, body = await small.put(url, bomb, {"Content-Encoding": "gzip"})
    assert status == 413, body
    assert "max_upload_bytes" in body["detail"] and f"{cap:,}" in body["detail"], body
    assert_no_upload_files(small_server)
    # a refused body does not spend the URL; a gzip body under the limit is stored inflated
    ts = frame(200)
    status, body = await small.put(url, gzip.compress(parquet(ts)), {"Content-Encoding": "gzip"})
    assert status == 200 and body["size"] == len(parquet(ts)), body
    status, body = await small.confirm(mid)
    assert status == 200, body
    assert (await small.download(mid)).equals(ts)


def constant_parquet(rows: int, batch: int = 1_000_000) -> bytes:
    """A highly compressible time series: ``rows`` rows of zeros, written in batches so it
    never exists decoded here."""
    names = ["Time [s]", "Current [A]", "Voltage [V]"]
    table = pa.table({name: pa.array(np.zeros(min(rows, batch))) for name in names})
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as writer:
        for start in range(0, rows, batch):
            writer.write_table(table.slice(0, min(batch, rows - start)))
    return buf.getvalue()


async def test_compressed_parquet_bomb_is_refused_by_its_row_count(
    api_a: Api, fault_server: EmbeddedServer
) -> None:
    """60 million rows (1.4 GB of doubles once decoded) in well under a megabyte: refused from
    the footer, with the server's default limits, before anything is decoded."""
    bomb = constant_parquet(60_000_000)
    assert len(bomb) < 1_000_000
    instance = await api_a.default_instance()
    mid, status, body = await api_a.upload(instance, {"time_series.parquet": bomb})
    assert status == 422, body
    limit = Limits().max_measurement_rows
    assert "60,000,000 rows" in body["detail"] and f"{limit:,}" in body["detail"], body
    assert "max_measurement_rows" in body["detail"]
    assert_no_upload_files(fault_server)
    assert not (fault_server.config.data_dir / "blobs" / "measurements" / mid).exists()


async def test_text_column_bomb_is_refused_before_it_expands(api_a: Api) -> None:
    """One 100 kB string repeated 20,000 times (2 GB once decoded) in under a megabyte."""
    rows = 20_000
    ts = frame(rows)
    text = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * 100_000])
    )
    table = ts.to_arrow().append_column("Note", text)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    assert len(buf.getvalue()) < 1_000_000
    instance = await api_a.default_instance()
    _, status, body = await api_a.upload(instance, {"time_series.parquet": buf.getvalue()})
    assert status == 422, body
    assert "max_upload_bytes" in body["detail"] and "'Note'" in body["detail"], body


@pytest.mark.parametrize("encode", [parquet, csv], ids=["parquet", "csv"])
async def test_rows_and_values_are_capped(small: Api, encode: Any) -> None:
    instance = await small.default_instance()
    wide = frame(800).with_columns(pl.lit(1.0).alias("Temperature [degC]"))  # 4,000 values
    _, status, body = await small.upload(instance, {"time_series.parquet": encode(wide)})
    assert status == 422, body
    assert "800 rows × 5 columns = 4,000 values" in body["detail"], body
    assert "2,400 (max_measurement_cells)" in body["detail"], body
    _, status, body = await small.upload(
        instance, {"time_series.parquet": encode(frame(300)), "steps.parquet": encode(frame(1_500))}
    )
    assert status == 422, body
    assert "steps.parquet has 1,500 rows" in body["detail"], body
    assert "1,000 (max_measurement_rows)" in body["detail"], body


async def test_csv_upload_is_stored_as_parquet(small: Api) -> None:
    instance = await small.default_instance()
    ts = frame(300)
    mid, status, body = await small.upload(
        instance, {"time_series.parquet": csv(ts), "steps.parquet": csv(steps_frame())}
    )
    assert status == 200 and body["row_count"] == 300 and body["steps_created"] == 4, body
    back = await small.download(mid)
    assert back.columns == ts.columns and back.height == 300
    assert np.allclose(back["Voltage [V]"].to_numpy(), ts["Voltage [V]"].to_numpy())


def _corrupted() -> list[bytes]:
    n = 1000
    rng = np.random.default_rng(0)
    good = parquet(
        pl.DataFrame(
            {
                "Time [s]": np.arange(n, dtype=float),
                "Current [A]": rng.normal(size=n),
                "Voltage [V]": rng.normal(size=n),
            }
        )
    )
    out = []
    for position, value in ((15, 0x7F), (17, 0x01)):  # polars panics on these (pyo3)
        broken = bytearray(good)
        broken[position] = value
        out.append(bytes(broken))
    out.append(good[:-100] + good[-8:])  # a torn footer
    return out


@pytest.mark.parametrize("data", _corrupted(), ids=["page-15", "page-17", "footer"])
async def test_corrupted_parquet_is_a_422(
    api_a: Api, fault_server: EmbeddedServer, data: bytes
) -> None:
    instance = await api_a.default_instance()
    mid, status, body = await api_a.upload(instance, {"time_series.parquet": data})
    assert status == 422, body
    assert "time_series.parquet is not a readable parquet file" in body["detail"], body
    assert str(fault_server.config.data_dir) not in body["detail"]
    status, health = await api_a.call("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    assert not (fault_server.config.data_dir / "blobs" / "measurements" / mid).exists()
    assert_no_upload_files(fault_server)


# --- upload URLs ---------------------------------------------------------------------------


async def test_upload_urls_ignore_the_host_header(api_a: Api, fault_url: str) -> None:
    instance = await api_a.default_instance()
    status, body = await api_a.initiate(instance, Host="evil.example")
    assert status == 200, body
    for upload in body["uploads"]:
        assert "evil.example" not in upload["signed_url"], upload
        assert upload["signed_url"] == f"{fault_url}/uploads/{upload['token']}", upload
    status, body = await api_a.confirm(body["measurement_id"])  # spend it
    assert status == 422, body


async def test_upload_urls_use_the_public_url(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    server = EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1)
    server.config.public_url = "https://ionworks.example/api"
    with server:
        api = Api(session, str(server.url), KEY_A)
        status, body = await api.initiate(await api.default_instance(), Host="evil.example")
    assert status == 200, body
    for upload in body["uploads"]:
        expected = f"https://ionworks.example/api/uploads/{upload['token']}"
        assert upload["signed_url"] == expected, upload


# --- concurrent confirms -------------------------------------------------------------------


async def test_concurrent_confirms_one_wins_and_the_files_stay(
    api_a: Api, fault_server: EmbeddedServer
) -> None:
    instance = await api_a.default_instance()
    ts = frame(200_000, seed=3)
    for _ in range(3):
        mid, urls = await api_a.start(instance)
        assert (await api_a.put(urls["time_series.parquet"], parquet(ts)))[0] == 200
        assert (await api_a.put(urls["steps.parquet"], parquet(steps_frame())))[0] == 200
        results = await asyncio.gather(api_a.confirm(mid), api_a.confirm(mid))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results
        loser = next(body for status, body in results if status == 409)
        assert f"measurement {mid}" in loser["detail"] and "confirmed" in loser["detail"]
        status, body = await api_a.confirm(mid)  # and any later confirm
        assert status == 409 and "already confirmed" in body["detail"], body
        folder = fault_server.config.data_dir / "blobs" / "measurements" / mid
        assert pl.read_parquet(folder / "time_series.parquet").equals(ts)
        assert pl.read_parquet(folder / "steps.parquet").equals(steps_frame())
        status, record = await api_a.call("GET", f"/cell_measurements/{mid}")
        assert status == 200 and record["row_count"] == 200_000, record
        assert (await api_a.call("DELETE", f"/cell_measurements/{mid}"))[0] == 204
    assert_no_upload_files(fault_server)


# --- open uploads: a cap per key, and expiry -----------------------------------------------


async def test_open_uploads_are_capped_per_key_and_expire(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    bounds = Limits(max_open_uploads=2, upload_ttl_seconds=1.5)
    with EmbeddedServer(
        tmp_path, api_keys=[KEY_A, KEY_B], allow_anonymous=False, workers=1, limits=bounds
    ) as server:
        a, b = Api(session, str(server.url), KEY_A), Api(session, str(server.url), KEY_B)
        instance = await a.default_instance()
        first, urls = await a.start(instance)
        assert (await a.put(urls["time_series.parquet"], parquet(frame(50))))[0] == 200
        assert len(list(uploads_dir(server).iterdir())) == 1
        second, _ = await a.start(instance)
        status, body = await a.initiate(instance)
        assert status == 429, body
        assert "2 (max_open_uploads)" in body["detail"] and "confirm" in body["detail"], body
        await b.start(await b.default_instance())  # the cap is per key
        # a confirm spends an upload, failed or not, and frees its slot
        assert (await a.confirm(second))[0] == 422
        await a.start(instance)
        assert (await a.initiate(instance))[0] == 429
        # expired: the received file goes without any further request (the server sweeps
        # every upload_ttl_seconds), then the URLs and the confirm are gone; new uploads start
        deadline = time.monotonic() + 3 * bounds.upload_ttl_seconds + 1
        while list(uploads_dir(server).iterdir()):
            assert time.monotonic() < deadline, "the expired upload's file was not removed"
            await asyncio.sleep(0.1)
        status, body = await a.put(urls["steps.parquet"], parquet(steps_frame()))
        assert status == 404, body
        status, body = await a.confirm(first)
        assert status == 404 and "expired" in body["detail"], body
        for _ in range(bounds.max_open_uploads):
            assert (await a.initiate(instance))[0] == 200


# --- restarts ------------------------------------------------------------------------------


async def test_a_restart_keeps_a_received_upload(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    ts = frame(1_000, seed=5)
    first = EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1)
    url = first.start()
    try:
        api = Api(session, url, KEY_A)
        instance = await api.default_instance()
        mid, urls = await api.start(instance)
        assert (await api.put(urls["time_series.parquet"], parquet(ts)))[0] == 200
        interrupted, others = await api.start(instance)
    finally:
        first.stop()
    # what a stop in the middle of a PUT, and a lost row, leave behind
    token = others["time_series.parquet"].rsplit("/", 1)[1]
    with contextlib.closing(sqlite3.connect(tmp_path / "ionworks.sqlite3")) as db, db:
        db.execute(
            "UPDATE measurement_uploads SET received = ? WHERE token = ?", (RECEIVING, token)
        )
    (uploads_dir(first) / f".{token}.tmp").write_bytes(b"PAR1 half of a file")
    (uploads_dir(first) / "unknown-token").write_bytes(b"PAR1 of nobody")

    second = EmbeddedServer(tmp_path, api_keys=[KEY_A], allow_anonymous=False, workers=1)
    url = second.start()
    try:
        api = Api(session, url, KEY_A)
        assert sorted(p.name for p in uploads_dir(second).iterdir()) == [
            urls["time_series.parquet"].rsplit("/", 1)[1]
        ]
        status, body = await api.confirm(mid)
        assert status == 200 and body["row_count"] == 1_000, body
        assert (await api.download(mid)).equals(ts)
        # the interrupted URL can be used again
        status, body = await api.put(
            f"{url}/uploads/{token}", parquet(ts), {"Content-Type": "application/octet-stream"}
        )
        assert status == 200, body
        assert (await api.confirm(interrupted))[0] == 200
        assert_no_upload_files(second)
    finally:
        second.stop()


# --- server paths never reach a client -----------------------------------------------------


async def test_a_422_never_shows_a_server_path(api_a: Api, fault_server: EmbeddedServer) -> None:
    instance = await api_a.default_instance()
    mid, urls = await api_a.start(instance)
    assert (await api_a.put(urls["time_series.parquet"], parquet(frame(20))))[0] == 200
    for path in uploads_dir(fault_server).iterdir():  # lost on the server's disk
        path.unlink()
    status, body = await api_a.confirm(mid)
    assert status == 422, body
    assert "time_series.parquet" in body["detail"] and "upload again" in body["detail"], body
    data_dir = str(fault_server.config.data_dir)
    assert data_dir not in body["detail"] and "/blobs/" not in body["detail"], body


def test_decoder_errors_are_stripped_of_server_paths(tmp_path: Path) -> None:
    where = tmp_path / "server-data" / "blobs" / "uploads"
    where.mkdir(parents=True)
    with pytest.raises(MeasurementValidationError) as info:  # reading a folder: an OSError
        _check_file("time_series.parquet", where, where / "x.tmp", Limits())
    message = str(info.value.message)
    assert message.startswith("time_series.parquet is not a readable parquet file"), message
    assert str(tmp_path) not in message and "server-data" not in message, message


# --- deleting a project ----------------------------------------------------------------------


async def test_deleting_a_project_deletes_everything_in_it(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    with EmbeddedServer(tmp_path, api_keys=[KEY_C], allow_anonymous=False, workers=1) as server:
        url, blobs = str(server.url), tmp_path / "blobs"
        api = Api(session, url, KEY_C)
        status, project = await api.call("POST", "/projects", json={"name": "doomed"})
        assert status == 201, project
        pid = project["id"]
        status, projects = await api.call("GET", "/projects")
        default = next(p["id"] for p in projects["items"] if p["is_default"])
        status, body = await api.call("DELETE", f"/projects/{default}")
        assert status == 409 and "default project" in body["detail"], body

        async with (
            AsyncIonworks(api_key=KEY_C, api_url=url, project_id=pid) as client,
            AsyncIonworks(api_key=KEY_C, api_url=url, project_id=default) as elsewhere,
        ):
            kept = await elsewhere.simulation.protocol(config(model=QUICK_MODEL))
            done = await client.simulation.protocol(config(model=QUICK_MODEL))
            await client.simulation.wait_for_completion(
                [done.simulation_id, kept.simulation_id], timeout=120, verbose=False
            )
            assert (blobs / "simulations" / done.simulation_id).is_file()  # the result pack
            status, study = await api.call(
                "POST", f"/projects/{pid}/studies", json={"name": "doomed study"}
            )
            assert status == 201, study
            for sim in (done.simulation_id, kept.simulation_id):
                path = f"/projects/{pid}/studies/{study['id']}/simulations/{sim}"
                assert (await api.call("POST", path))[0] in (200, 201)
            status, spec = await api.call(
                "POST", "/cell_specifications", json={"name": "spec", "project_id": pid}
            )
            assert status == 201, spec
            status, instance = await api.call(
                "POST", f"/cell_specifications/{spec['id']}/cell_instances", json={"name": "c1"}
            )
            assert status == 201, instance
            m = await client.cell_measurement.upload(
                frame(40), name="doomed data", cell_instance_id=instance["id"]
            )
            assert (blobs / "measurements" / m.id).is_dir()
            pending, urls = await api.start(instance["id"])
            assert (await api.put(urls["time_series.parquet"], parquet(frame(30))))[0] == 200
            pipeline = await client.pipeline.create(FAILING_PIPELINE, name="doomed pipeline")
            simple = await client.simple_pipeline.create(FAILING_PIPELINE, name="doomed simple")
            long = await client.simulation.protocol(config(LONGER_CYCLING, model="chen2020-dfn"))
            with_deadline = time.monotonic() + 120
            while (await client.job.get(long.job_id)).status != "running":
                assert time.monotonic() < with_deadline, "the long simulation never ran"
                await asyncio.sleep(0.1)

            status, _ = await api.call("DELETE", f"/projects/{pid}")
            assert status == 204

            gone = [
                f"/projects/{pid}",
                f"/projects/{pid}/studies/{study['id']}",
                f"/simulations/{done.simulation_id}",
                f"/jobs/{done.job_id}",
                f"/simulations/{long.simulation_id}",
                f"/jobs/{long.job_id}",
                f"/pipelines/{pipeline.id}",
                f"/simple_pipelines/{simple.id}",
                f"/cell_specifications/{spec['id']}",
                f"/cell_instances/{instance['id']}",
                f"/cell_measurements/{m.id}",
            ]
            gone += [f"/jobs/{p.job_id}" for p in (pipeline, simple) if p.job_id]
            for path in gone:
                status, body = await api.call("GET", path)
                assert status == 404, (path, status, body)
            status, body = await api.confirm(pending)
            assert status == 404, body
            status, body = await api.put(urls["steps.parquet"], b"PAR1")
            assert status == 404, body
            for folder in (
                blobs / "simulations" / done.simulation_id,
                blobs / "simulations" / long.simulation_id,
                blobs / "measurements" / m.id,
            ):
                assert not folder.exists(), folder
            assert_no_upload_files(server)
            # another project's simulation only left the study
            status, record = await api.call("GET", f"/simulations/{kept.simulation_id}")
            assert status == 200 and record["status"] == "completed", record
            # the running job was stopped: the one worker runs the next job at once (not
            # after minutes of cycling)
            again = await elsewhere.simulation.protocol(config(model=QUICK_MODEL))
            await elsewhere.simulation.wait_for_completion(
                again.simulation_id, timeout=45, verbose=False
            )
