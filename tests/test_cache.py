"""The local measurement cache (:mod:`ionworks.cache`) against the real local server: hits skip
the download, any change of the record misses, TTL, switches, clearing, keys that never mix
APIs or credentials, corrupt entries, file modes and the size bound."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("pybamm")

import ionworks
from ionworks import AsyncIonworks, cache
from ionworks.server.hosting import EmbeddedServer
from tests.server.test_measurements import frame, steps_frame

KEY_A, KEY_B = "cache-key-a", "cache-key-b"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(
        tmp_path_factory.mktemp("cache-server"),
        api_keys=[KEY_A, KEY_B],
        allow_anonymous=False,
        workers=1,
    ) as srv:
        yield srv


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, on and with the default TTL."""
    directory = tmp_path / "cache"
    monkeypatch.setitem(cache._settings, "directory", directory)
    monkeypatch.setitem(cache._settings, "enabled", True)
    monkeypatch.setitem(cache._settings, "ttl", 3600)
    return directory


@pytest.fixture
async def api(server: EmbeddedServer) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_A, api_url=server.url) as client:
        yield client


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.iwc")) if directory.is_dir() else []


class Counter:
    """Requests a client sent since the last look."""

    def __init__(self, api: AsyncIonworks) -> None:
        self.transport, self.seen = api._transport, api._transport.request_count

    def __call__(self) -> int:
        now = self.transport.request_count
        sent, self.seen = now - self.seen, now
        return sent


async def test_second_read_is_served_from_the_cache(api: AsyncIonworks, cache_dir: Path) -> None:
    ts = frame(500)
    m = await api.cell_measurement.upload(ts, name="cached", steps=steps_frame())
    sent = Counter(api)
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)
    assert sent() == 2  # the record, then the download
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)
    assert sent() == 1  # the record only: the data came from the cache
    assert (await api.cell_measurement.time_series(m.id, row_range=(10, 20))).equals(
        ts.slice(10, 10)
    )
    assert sent() == 1
    for read in (
        api.cell_measurement.steps,
        api.cell_measurement.cycles,
        api.cell_measurement.steps_and_cycles,
    ):
        first = await read(m.id)
        assert sent() == 2, read
        second = await read(m.id)
        assert sent() == 1, read
        assert str(first) == str(second)
    detail = await api.cell_measurement.detail(m.id)
    sent()
    again = await api.cell_measurement.detail(m.id)
    assert sent() == 1  # the record once (its version keys the cache), no data
    assert again.time_series.equals(ts) and again.steps.equals(detail.steps)
    assert again.cycles.equals(detail.cycles)
    # use_cache=False reads the server and writes nothing
    before = entries(cache_dir)
    assert (await api.cell_measurement.time_series(m.id, use_cache=False)).equals(ts)
    assert sent() == 1 and entries(cache_dir) == before


async def test_patch_and_extend_invalidate(api: AsyncIonworks) -> None:
    ts = frame(100)
    m = await api.cell_measurement.upload(ts, name="invalidated")
    sent = Counter(api)
    await api.cell_measurement.time_series(m.id)
    await api.cell_measurement.time_series(m.id)
    assert sent() == 3
    await api.cell_measurement.update(m.id, {"notes": "changed"})
    sent()
    await api.cell_measurement.time_series(m.id)
    assert sent() == 2  # a new updated_at: a miss
    more = frame(10, 3).with_columns(pl.col("Time [s]") + float(ts["Time [s]"][-1]))
    await api.cell_measurement.extend(m.id, more, poll_interval=0.05)
    back = await api.cell_measurement.time_series(m.id)
    assert back.equals(pl.concat([ts, more]))


async def test_ttl_expiry_and_no_ttl(api: AsyncIonworks, cache_dir: Path) -> None:
    m = await api.cell_measurement.upload(frame(50), name="ttl")
    sent = Counter(api)
    await api.cell_measurement.time_series(m.id)
    sent()
    old = time.time() - 7200
    for path in entries(cache_dir):
        os.utime(path, (old, old))
    await api.cell_measurement.time_series(m.id)
    assert sent() == 2  # older than the hour: a miss (and rewritten)
    ionworks.set_cache_ttl(None)
    assert ionworks.get_cache_ttl() is None
    for path in entries(cache_dir):
        os.utime(path, (old, old))
    await api.cell_measurement.time_series(m.id)
    assert sent() == 1
    with pytest.raises(ValueError, match="ttl_seconds"):
        ionworks.set_cache_ttl(-1)


async def test_disabled_and_clear(api: AsyncIonworks, cache_dir: Path) -> None:
    m = await api.cell_measurement.upload(frame(50), name="switches")
    sent = Counter(api)
    ionworks.set_cache_enabled(False)
    assert ionworks.get_cache_enabled() is False
    await api.cell_measurement.time_series(m.id)
    await api.cell_measurement.time_series(m.id)
    assert sent() == 2 and entries(cache_dir) == []  # no record look-ups, nothing written
    ionworks.set_cache_enabled(True)
    await api.cell_measurement.time_series(m.id)
    await api.cell_measurement.steps_and_cycles(m.id)
    assert len(entries(cache_dir)) == 2
    assert ionworks.clear_cache() == 2 and entries(cache_dir) == []
    assert ionworks.clear_cache() == 0
    sent()
    await api.cell_measurement.time_series(m.id)
    assert sent() == 2


async def test_directory_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(cache._settings, "directory", None)
    monkeypatch.setenv("IONWORKS_CACHE_DIR", str(tmp_path / "env"))
    assert ionworks.get_cache_directory() == tmp_path / "env"
    monkeypatch.delenv("IONWORKS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    default = ionworks.get_cache_directory()
    assert default != Path.home() / ".ionworksdata_cache"
    if os.name == "posix" and not str(default).startswith(str(Path.home() / "Library")):
        assert default == tmp_path / "xdg" / "ionworks" / "measurements"
    ionworks.set_cache_directory(tmp_path / "chosen")
    assert ionworks.get_cache_directory() == tmp_path / "chosen"


async def test_apis_and_keys_never_share_entries(
    api: AsyncIonworks, server: EmbeddedServer, cache_dir: Path
) -> None:
    m = await api.cell_measurement.upload(frame(50), name="shared?")
    await api.cell_measurement.time_series(m.id)
    url = str(server.url)
    assert "127.0.0.1" in url
    async with AsyncIonworks(api_key=KEY_A, api_url=url.replace("127.0.0.1", "localhost")) as other:
        sent = Counter(other)
        await other.cell_measurement.time_series(m.id)
        assert sent() == 2  # another base URL: its own entry
    one = cache.entry_key(url, KEY_A, m.id, "v")
    assert one != cache.entry_key(url, KEY_B, m.id, "v")
    assert one != cache.entry_key(url + "x", KEY_A, m.id, "v")
    assert one != cache.entry_key(url, KEY_A, m.id, "w")
    # neither the key, its digest's source nor the id is on disk in the clear
    for path in entries(cache_dir):
        assert m.id not in path.name
        assert KEY_A.encode() not in path.read_bytes()


async def test_corrupt_entry_is_ignored_and_removed(api: AsyncIonworks, cache_dir: Path) -> None:
    ts = frame(80)
    m = await api.cell_measurement.upload(ts, name="corrupt")
    await api.cell_measurement.time_series(m.id)
    (entry,) = entries(cache_dir)
    raw = entry.read_bytes()
    entry.write_bytes(raw[:-7] + b"garbage")
    sent = Counter(api)
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)
    assert sent() == 2
    assert entry.read_bytes() == raw  # removed, then written again from the server
    entry.write_bytes(b"IWC1")  # truncated
    assert cache.load(cache.entry_key("u", "k", "m", "v"), "time_series") is None
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)


async def test_modes_and_the_size_bound(
    api: AsyncIonworks, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = await api.cell_measurement.upload(frame(2000), name="bounded")
    await api.cell_measurement.time_series(m.id)
    modes_and_bound(cache_dir, monkeypatch)


def modes_and_bound(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Directory 0700, files 0600; past MAX_CACHE_BYTES the oldest entry goes."""
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    for path in entries(cache_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    size = entries(cache_dir)[0].stat().st_size
    monkeypatch.setattr(cache, "MAX_CACHE_BYTES", size + 100)
    key = cache.entry_key("u", "k", "m", "v")
    time.sleep(0.01)
    cache.save(key, "small", b"x" * 200)  # over the bound together: the oldest goes
    assert [p.stat().st_size for p in entries(cache_dir)] == [4 + 32 + 200]
    assert cache.load(key, "small") == b"x" * 200


posix_only = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")


@posix_only
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_directory_writable_by_others_is_not_used(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    monkeypatch.setattr(cache, "_warned", set())
    key = cache.entry_key("u", "k", "m", "v")
    cache.save(key, "kept", b"trusted")
    assert cache.load(key, "kept") == b"trusted"
    cache_dir.chmod(mode)  # e.g. an existing shared IONWORKS_CACHE_DIR
    with caplog.at_level("WARNING", logger="ionworks.cache"):
        assert cache.load(key, "kept") is None
        cache.save(key, "planted", b"x")
        assert cache.load(key, "planted") is None
    assert len(entries(cache_dir)) == 1  # nothing written
    (record,) = caplog.records  # one warning, however many reads
    assert str(cache_dir) in record.getMessage() and "chmod 700" in record.getMessage()
    cache_dir.chmod(0o700)
    assert cache.load(key, "kept") == b"trusted"


@posix_only
def test_a_directory_of_another_user_is_not_used(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cache, "_warned", set())
    key = cache.entry_key("u", "k", "m", "v")
    cache.save(key, "kept", b"mine")
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # the directory is now someone else's
    with caplog.at_level("WARNING", logger="ionworks.cache"):
        assert cache.load(key, "kept") is None
    assert "not using the cache directory" in caplog.text


def shared(directory: Path) -> None:
    """An existing directory anyone may write to."""
    directory.mkdir(mode=0o700)
    directory.chmod(0o777)


@posix_only
async def test_reads_still_work_without_a_trusted_cache(
    api: AsyncIonworks, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "_warned", set())
    shared(cache_dir)
    ts = frame(60)
    m = await api.cell_measurement.upload(ts, name="untrusted cache")
    sent = Counter(api)
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)
    assert (await api.cell_measurement.time_series(m.id)).equals(ts)
    assert sent() == 4 and not entries(cache_dir)  # both from the server
