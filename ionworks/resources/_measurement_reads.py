"""The read side of ``client.cell_measurement``: a measurement's data (time series, steps,
cycles, detail) and a file measurement's files. A base of
:class:`~ionworks.resources.cell_measurement.AsyncCellMeasurements`.

With ``use_cache`` (the default) and the cache on (:mod:`ionworks.cache`), each read first
asks the server for the record (a small request) and keys the cache by the API, a digest of
the credential, the id and the record's ``updated_at``/``data_version``: a hit skips the
download, a changed record misses. Records still processing are not cached; neither is a
file measurement's ``detail`` (its ``download_files`` is). Cache files are read and written
in a worker thread.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio.to_thread
import attrs

from ionworks import cache
from ionworks._concurrency import task_group
from ionworks.dataframes import from_arrow, write_parquet
from ionworks.models import CellMeasurementDetail
from ionworks.models.measurements import StepsAndCycles
from ionworks.resources._base import AsyncResource, expect, seg
from ionworks.resources._measurement_detail import columns_frame, fetch_detail
from ionworks.wire.arrow import read_parquet

__all__ = ["AsyncMeasurementReads"]


class AsyncMeasurementReads(AsyncResource):
    """Read a measurement's data and files."""

    async def detail(
        self,
        measurement_id: str,
        use_cache: bool = True,
        include_steps: bool = True,
        include_cycles: bool = True,
        include_time_series: bool = True,
    ) -> CellMeasurementDetail:
        """The measurement's record with its data: for a time series the step table, cycle
        metrics and time series as DataFrames (each ``None`` when not asked for or absent);
        a properties measurement's ``properties`` are a field. ``use_cache``: serve a time
        series' parts from the local cache when the record is unchanged (see
        :mod:`ionworks.cache`)."""
        key, record = await self._cache_entry(measurement_id, use_cache, "time_series")
        wanted = {
            "steps": include_steps,
            "detail_cycles": include_cycles,
            "time_series": include_time_series,
        }
        hits = {k: await _load(key, k) for k, on in wanted.items() if on and key is not None}
        hits = {k: v for k, v in hits.items() if v is not None}
        found = await fetch_detail(
            self._api,
            measurement_id,
            record=record,  # already read for the cache key: not asked for twice
            include_steps=include_steps and "steps" not in hits,
            include_cycles=include_cycles and "detail_cycles" not in hits,
            include_time_series=include_time_series and "time_series" not in hits,
        )
        if key is None or found.measurement_type not in (None, "time_series"):
            return found
        parts = {"steps": "steps", "detail_cycles": "cycles", "time_series": "time_series"}
        backend = self._api.config.dataframe_backend
        changes: dict[str, Any] = {}
        for kind, on in wanted.items():
            if not on:
                continue
            if kind in hits:
                raw = hits[kind]
                changes[parts[kind]] = from_arrow(read_parquet(raw), backend) if raw else None
            else:
                frame = getattr(found, parts[kind])
                body = None if frame is None else write_parquet(frame)
                await anyio.to_thread.run_sync(cache.save, key, kind, body)
        return attrs.evolve(found, **changes)

    async def list_files(self, measurement_id: str) -> builtins.list[str]:
        """The file names of a ``file`` measurement (a 422 for another type)."""
        data = await self._api.get(f"/cell_measurements/{seg(measurement_id)}/files")
        data = expect(data, dict, what="file list", keys={"filenames": list})
        return [str(n) for n in data["filenames"]]

    async def get_file(self, measurement_id: str, filename: str) -> bytes:
        """One file of a ``file`` measurement, as bytes."""
        return await self._api.download(
            f"/cell_measurements/{seg(measurement_id)}/files/{seg(filename)}"
        )

    async def download_files(
        self,
        measurement_id: str,
        use_cache: bool = True,
        filenames: builtins.list[str] | None = None,
    ) -> dict[str, bytes]:
        """``{file name: bytes}`` of a ``file`` measurement (``filenames``: just these, without
        listing first). ``use_cache``: serve the list and the files from the local cache when
        the record is unchanged (see :mod:`ionworks.cache`)."""
        key = await self._cache_key(measurement_id, use_cache, "file")
        if filenames is None:
            listed = await _cached(
                key,
                "files",
                lambda: _json_bytes(self.list_files(measurement_id)),
            )
            names = [str(n) for n in json.loads(listed or b"[]")]
        else:
            names = [*filenames]
        out: dict[str, bytes] = {}

        async def one(name: str) -> None:
            data = await _cached(key, f"file:{name}", lambda: self.get_file(measurement_id, name))
            out[name] = data or b""

        async with task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
        return {name: out[name] for name in names}

    async def _cache_key(self, measurement_id: str, use_cache: bool, kind: str) -> str | None:
        """The cache key of the measurement's current data, or None: no caching (off, bypassed,
        a record of another ``measurement_type`` than ``kind``, still processing, or without a
        version)."""
        return (await self._cache_entry(measurement_id, use_cache, kind))[0]

    async def _cache_entry(
        self, measurement_id: str, use_cache: bool, kind: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """:meth:`_cache_key`, and the record it read (``None`` when caching is off)."""
        if not use_cache or not cache.get_cache_enabled():
            return None, None
        record = expect(
            await self._api.get(
                f"/cell_measurements/{seg(measurement_id)}",
                params={"include_steps": "false", "include_time_series": "false"},
            ),
            dict,
            what="measurement",
        )
        version = [record.get("updated_at"), record.get("data_version")]
        if (
            record.get("measurement_type", "time_series") != kind
            or record.get("processing_status") in ("pending", "running")
            or version == [None, None]
        ):
            return None, record
        base_url, credential = await self._api.identity()
        key = cache.entry_key(base_url, credential, measurement_id, json.dumps(version))
        return key, record

    async def _download(
        self,
        measurement_id: str,
        kind: str,
        use_cache: bool,
        rows: tuple[int, int] | None = None,
    ) -> Any:
        path = f"/cell_measurements/{seg(measurement_id)}/{kind}/download"
        key = await self._cache_key(measurement_id, use_cache, "time_series")
        raw = await _cached(key, kind, lambda: self._api.download(path))
        table = read_parquet(raw or b"")
        if rows is not None:
            table = table.slice(rows[0], max(0, rows[1] - rows[0]))
        return from_arrow(table, self._api.config.dataframe_backend)

    async def time_series(
        self,
        measurement_id: str,
        use_cache: bool = True,
        row_range: tuple[int, int] | None = None,
    ) -> Any:
        """The measurement's time series as a DataFrame. ``row_range=(start, stop)``: only
        the rows ``start`` (included) to ``stop`` (excluded), fewer past the end (the whole
        file is downloaded, or read from the local cache, and sliced locally). ``use_cache``:
        see :mod:`ionworks.cache`."""
        rows = _row_range(row_range)
        return await self._download(measurement_id, "time_series", use_cache, rows)

    async def steps(self, measurement_id: str, use_cache: bool = True) -> Any:
        """The measurement's uploaded step table as a DataFrame (404 when it was uploaded
        without one: :meth:`steps_and_cycles` derives them). ``use_cache``: see
        :mod:`ionworks.cache`."""
        return await self._download(measurement_id, "steps", use_cache)

    async def cycles(self, measurement_id: str, use_cache: bool = True) -> Any:
        """Cycle metrics (one row per cycle) derived on the server from the time series."""
        data = await self._derived(measurement_id, "cycles", use_cache, {"cycles": dict})
        return columns_frame(data["cycles"], self._api.config.dataframe_backend, empty=True)

    async def steps_and_cycles(self, measurement_id: str, use_cache: bool = True) -> StepsAndCycles:
        """The step table and cycle metrics derived on the server from the time series (its
        own step and cycle columns honoured), in one call."""
        keys: dict[str, type] = {"steps": dict, "cycles": dict}
        data = await self._derived(measurement_id, "steps_and_cycles", use_cache, keys)
        backend = self._api.config.dataframe_backend
        return StepsAndCycles(
            steps=columns_frame(data["steps"], backend, empty=True),
            cycles=columns_frame(data["cycles"], backend, empty=True),
        )

    async def _derived(
        self, measurement_id: str, route: str, use_cache: bool, keys: Mapping[str, type]
    ) -> dict[str, Any]:
        """The JSON body of ``…/{route}`` (from the local cache when unchanged), checked."""
        path = f"/cell_measurements/{seg(measurement_id)}/{route}"
        key = await self._cache_key(measurement_id, use_cache, "time_series")
        raw = await _cached(key, route, lambda: _json_bytes(self._api.get(path)))
        data: dict[str, Any] = expect(
            json.loads(raw or b"null"), dict, what=route.replace("_", " "), keys=keys
        )
        return data


async def _load(key: str | None, kind: str) -> bytes | None:
    return None if key is None else await anyio.to_thread.run_sync(cache.load, key, kind)


async def _cached(
    key: str | None, kind: str, fetch: Callable[[], Awaitable[bytes]]
) -> bytes | None:
    """The cached bytes of ``kind`` under ``key``, else ``fetch()``'s (then cached); no key:
    just ``fetch()``."""
    hit = await _load(key, kind)
    if hit is not None:
        return hit
    data = await fetch()
    if key is not None:
        await anyio.to_thread.run_sync(cache.save, key, kind, data)
    return data


async def _json_bytes(value: Awaitable[Any]) -> bytes:
    return json.dumps(await value).encode()


def _row_range(row_range: object) -> tuple[int, int] | None:
    """``None`` or a ``(start, stop)`` pair of ints with ``0 <= start <= stop``."""
    if row_range is None:
        return None
    if isinstance(row_range, (str, bytes)) or not isinstance(row_range, Sequence):
        raise ValueError(f"row_range must be a (start, stop) pair, not {row_range!r}")
    if len(row_range) != 2 or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in row_range
    ):
        raise ValueError(f"row_range must be a (start, stop) pair of ints, not {row_range!r}")
    start, stop = int(row_range[0]), int(row_range[1])
    if start < 0 or stop < start:
        raise ValueError(f"row_range needs 0 <= start <= stop, not {row_range!r}")
    return start, stop
