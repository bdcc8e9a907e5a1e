"""Integration: ``client.raw_data`` (raw cycler files of a project) and measurements made from
them (``cell_measurement.create_from_raw_data``, ``attach_raw_data`` / ``detach_raw_data`` /
``list_raw_data``) against the real local server, on the async and the sync client, with real
vendor exports (tests/data/cycler/raw)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ionworks import cache
from ionworks.errors import ConflictError, NotFoundError, ValidationError
from ionworks.models import Measurement, Page, RawData
from ionworks.server.db.measurements import measurement_frames
from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from ionworks.server.services.raw_readers import read_raw
from tests.server.conftest import KEY_A, KEY_B, all_not_found
from tests.server.test_measurements import frame

RAW = Path(__file__).parent.parent / "data" / "cycler" / "raw"
Factory = Callable[..., AbstractAsyncContextManager[Any]]

#: One export per vendor format the server reads (name → more than one step in the file).
VENDOR_FILES = (
    "maccor_duration.041",
    "neware.csv",
    "neware.nda",
    "neware.ndax",
    "biologic_gcpl.mpr",
    "biologic_gcpl.mpt",
    "arbin_charge.csv",
)


@pytest.fixture
async def client(new_client: Factory, server_url: str) -> AsyncIterator[Any]:
    """Key A on the client of this run (async, then sync)."""
    async with new_client(api_key=KEY_A, api_url=server_url) as c:
        yield c


async def default_project(client: Any) -> str:
    (default,) = [p for p in await client.project.list() if p.is_default]
    return str(default.id)


async def test_every_raw_data_method(client: Any, server_url: str, new_client: Factory) -> None:
    pid = await default_project(client)
    path = RAW / "maccor_signed.052"
    record = await client.raw_data.upload(
        pid, path, source="cycler export", metadata={"channel": 3}
    )
    assert isinstance(record, RawData)
    assert (record.project_id, record.name, record.filename) == (pid, path.name, path.name)
    assert record.source == "cycler export" and record.metadata == {"channel": 3}
    assert record.size_bytes == path.stat().st_size
    # an open file (not closed by the upload), with its own label
    with (RAW / "neware.csv").open("rb") as fh:
        other = await client.raw_data.upload(pid, fh, name="neware run")
        assert not fh.closed
    assert (other.name, other.filename, other.source) == ("neware run", "neware.csv", None)
    assert other.content_type == "text/csv"
    # a file object without a name
    piped = await client.raw_data.upload(pid, io.BufferedReader(io.BytesIO(b"a,b\n1,2\n")))
    assert piped.filename == "upload.bin" and piped.size_bytes == 8

    assert (await client.raw_data.get(record.id)).to_dict() == record.to_dict()
    page = await client.raw_data.list(pid, limit=2)
    assert isinstance(page, Page) and page.count == 2 and page.total >= 3
    rest = await client.raw_data.list(pid, limit=1000, offset=2)
    listed = [r.id for r in [*page, *rest]]
    assert {record.id, other.id, piped.id} <= set(listed) and len(set(listed)) == len(listed)

    url = await client.raw_data.download_url(record.id)
    assert url.startswith(server_url) and record.id in url
    assert await client.raw_data.download(record.id) == path.read_bytes()
    assert (
        await client.raw_data.download(other.id, use_cache=False, read_timeout=30)
        == (RAW / "neware.csv").read_bytes()
    )

    updated = await client.raw_data.update(record.id, name="renamed", metadata={"channel": 4})
    assert (updated.name, updated.source, updated.metadata) == (
        "renamed",
        "cycler export",
        {"channel": 4},
    )
    cleared = await client.raw_data.update(record.id, source="")
    assert cleared.source is None and cleared.name == "renamed"
    assert (await client.raw_data.update(record.id)).name == "renamed"  # nothing sent

    assert (await client.raw_data.list_measurements(record.id)).total == 0
    # another key sees none of it
    async with new_client(api_key=KEY_B, api_url=server_url) as other_key:
        await all_not_found(
            lambda: other_key.raw_data.get(record.id),
            lambda: other_key.raw_data.download(record.id),
            lambda: other_key.raw_data.update(record.id, name="x"),
            lambda: other_key.raw_data.delete(record.id),
            lambda: other_key.raw_data.list(pid),
            lambda: other_key.raw_data.list_measurements(record.id),
        )
    for rid in (record.id, other.id, piped.id):
        await client.raw_data.delete(rid)
        with pytest.raises(NotFoundError):
            await client.raw_data.get(rid)
        assert rid not in [r.id for r in await client.raw_data.list(pid, limit=1000)]


async def test_download_through_the_local_cache(
    api: Any, server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cache._settings, "enabled", True)
    pid = await default_project(api)
    record = await api.raw_data.upload(pid, RAW / "maccor_minutes.txt")
    content = (RAW / "maccor_minutes.txt").read_bytes()
    assert await api.raw_data.download(record.id) == content  # read, and kept
    stored = server.config.data_dir / "blobs" / "raw_data" / record.id / "file"
    stored.unlink()  # the server no longer has the bytes: only the cache does
    assert await api.raw_data.download(record.id) == content
    with pytest.raises(NotFoundError, match="no stored file"):
        await api.raw_data.download(record.id, use_cache=False)
    await api.raw_data.delete(record.id)
    with pytest.raises(NotFoundError):  # a deleted record is never served from the cache
        await api.raw_data.download(record.id)


@pytest.mark.parametrize("filename", VENDOR_FILES)
async def test_measurement_from_each_vendor_format(
    api: Any, server: EmbeddedServer, filename: str
) -> None:
    pid = await default_project(api)
    instance = await api.cell_measurement.default_cell_instance()
    record = await api.raw_data.upload(pid, RAW / filename)
    m = await api.cell_measurement.create_from_raw_data(
        instance["id"], record.id, f"from {filename}", notes="raw", tags=["raw", "vendor"]
    )
    assert isinstance(m, Measurement) and m.processing_status == "ready"
    assert (m.name, m.extra["notes"], m.tags) == (f"from {filename}", "raw", ["raw", "vendor"])
    expected = pl.from_arrow(read_raw(filename, RAW / filename, limits=Limits()))
    assert isinstance(expected, pl.DataFrame)
    series = await api.cell_measurement.time_series(m.id)
    assert series.shape == expected.shape and series.columns == expected.columns
    assert series["Voltage [V]"].to_list() == expected["Voltage [V]"].to_list()
    # steps and cycles are derived from the series (the file's own step numbering)
    derived = await api.cell_measurement.steps_and_cycles(m.id)
    assert derived.steps.height >= 1 and derived.cycles.height >= 1
    if "Step count" in expected.columns:
        assert derived.steps.height == expected["Step count"].n_unique()
    # linked both ways
    assert [r.id for r in await api.cell_measurement.list_raw_data(m.id)] == [record.id]
    assert list(await api.raw_data.list_measurements(record.id)) == [m.id]
    # usable by pipelines (db:<id> resolves to the stored files) and studies
    store = Store(server.config.data_dir, exclusive=False)
    try:
        row = store.one("SELECT owner_id FROM cell_measurements WHERE id = ?", (m.id,))
        assert row is not None
        ts_path, steps_path = measurement_frames(store, str(row["owner_id"]), m.id)
        assert pl.read_parquet(ts_path).shape == expected.shape and steps_path is None
    finally:
        store.close()
    study = await api.study.create({"name": f"raw study {filename}"})
    await api.study.assign_measurement(study.id, m.id)
    assert m.id in str(await api.study.list_measurements(study.id))
    await api.study.delete(study.id)
    # deleting the raw record keeps the measurement (its own copy), only the link goes
    await api.raw_data.delete(record.id)
    assert (await api.cell_measurement.get(m.id)).name == m.name
    assert (await api.cell_measurement.list_raw_data(m.id)).total == 0
    await api.cell_measurement.delete(m.id)


async def test_default_name_conflicts_and_refusals(client: Any) -> None:
    pid = await default_project(client)
    instance = await client.cell_measurement.default_cell_instance()
    spec = await client.cell_spec.create({"name": "raw-naming spec"})
    cell = await client.cell_instance.create(spec.id, {"name": "raw-naming cell"})
    record = await client.raw_data.upload(pid, RAW / "neware.nda")
    m = await client.cell_measurement.create_from_raw_data(cell.id, record.id)
    assert m.name == "neware" and m.cell_instance_id == cell.id  # the file name, no extension
    with pytest.raises(ConflictError) as info:
        await client.cell_measurement.create_from_raw_data(cell.id, record.id)
    assert info.value.data["detail"]["existing_id"] == m.id
    # the same name in another instance is fine (the project's default one)
    again = await client.cell_measurement.create_from_raw_data(
        instance["id"], record.id, wait_for_processing=False
    )
    assert sorted(await client.raw_data.list_measurements(record.id)) == sorted([m.id, again.id])
    # a file that is no cycler export: a 422 naming it, nothing created
    junk = await client.raw_data.upload(pid, io.BytesIO(b"hello, world\n" * 10))
    with pytest.raises(ValidationError, match=r"upload\.bin"):
        await client.cell_measurement.create_from_raw_data(cell.id, junk.id, "junk")
    assert "junk" not in [x.name for x in await client.cell_measurement.list(cell.id)]
    with pytest.raises(NotFoundError):
        await client.cell_measurement.create_from_raw_data(cell.id, "no-such-raw-data")
    for mid in (m.id, again.id):
        await client.cell_measurement.delete(mid)
    assert (await client.raw_data.list_measurements(record.id)).total == 0
    for rid in (record.id, junk.id):
        await client.raw_data.delete(rid)
    await client.cell_instance.delete(cell.id)
    await client.cell_spec.delete(spec.id)


async def test_attach_detach_and_list(client: Any) -> None:
    pid = await default_project(client)
    m = await client.cell_measurement.upload(frame(20), name="attach target")
    first = await client.raw_data.upload(pid, RAW / "arbin_rest.csv")
    second = await client.raw_data.upload(pid, RAW / "maccor_minutes.txt")
    await client.cell_measurement.attach_raw_data(m.id, [first.id, second.id])
    await client.cell_measurement.attach_raw_data(m.id, [first.id])  # idempotent
    linked = await client.cell_measurement.list_raw_data(m.id)
    assert [r.id for r in linked] == [first.id, second.id] and linked.total == 2
    page = await client.cell_measurement.list_raw_data(m.id, limit=1, offset=1)
    assert [r.id for r in page] == [second.id] and page.total == 2
    assert list(await client.raw_data.list_measurements(first.id)) == [m.id]
    await client.cell_measurement.detach_raw_data(m.id, first.id)
    assert [r.id for r in await client.cell_measurement.list_raw_data(m.id)] == [second.id]
    with pytest.raises(NotFoundError):
        await client.cell_measurement.detach_raw_data(m.id, first.id)
    with pytest.raises(NotFoundError):
        await client.cell_measurement.attach_raw_data(m.id, ["no-such-raw-data"])
    # a record of another project of the same key
    project = await client.project.create({"name": "raw elsewhere"})
    elsewhere = await client.raw_data.upload(project.id, RAW / "arbin_rest.csv")
    with pytest.raises(ValidationError, match="not in project"):
        await client.cell_measurement.attach_raw_data(m.id, [second.id, elsewhere.id])
    assert [r.id for r in await client.cell_measurement.list_raw_data(m.id)] == [second.id]
    await client.project.delete(project.id)
    with pytest.raises(NotFoundError):
        await client.raw_data.get(elsewhere.id)
    await client.cell_measurement.delete(m.id)
    assert (await client.raw_data.list_measurements(second.id)).total == 0
    for rid in (first.id, second.id):
        await client.raw_data.delete(rid)


async def test_member_of_a_shared_project(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, other, member = shared
    record = await owner_api.raw_data.upload(pid, RAW / "biologic_gcpl.mpt")
    await all_not_found(
        lambda: member_api.raw_data.get(record.id),
        lambda: member_api.raw_data.list(pid),
    )
    await owner_api.project.add_member(pid, member)  # a contributor
    assert [r.id for r in await member_api.raw_data.list(pid)] == [record.id]
    mine = await member_api.raw_data.upload(pid, RAW / "neware.csv", name="by member")
    assert (await owner_api.raw_data.get(mine.id)).name == "by member"
    spec = await member_api.cell_spec.create({"name": "shared spec", "project_id": pid})
    cell = await member_api.cell_instance.create(spec.id, {"name": "shared cell"})
    m = await member_api.cell_measurement.create_from_raw_data(cell.id, record.id)
    assert (await owner_api.cell_measurement.get(m.id)).name == "biologic_gcpl"
    # the owner's other project stays out of reach
    private = await owner_api.raw_data.upload(other, RAW / "arbin_rest.csv")
    await all_not_found(
        lambda: member_api.raw_data.get(private.id),
        lambda: member_api.cell_measurement.attach_raw_data(m.id, [private.id]),
        lambda: member_api.cell_measurement.create_from_raw_data(cell.id, private.id, "x"),
    )
    assert await member_api.raw_data.download(record.id) == (RAW / "biologic_gcpl.mpt").read_bytes()
