"""The read side of ``client.cell_measurement``: a measurement's data (time series, steps,
cycles, detail) and a file measurement's files. A base of
:class:`~ionworks.resources.cell_measurement.AsyncCellMeasurements`."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from ionworks._concurrency import task_group
from ionworks.dataframes import from_arrow
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
        a properties measurement's ``properties`` are a field. ``use_cache`` is accepted for
        the official signature; this client keeps no local cache (every call reads the
        server)."""
        del use_cache
        return await fetch_detail(
            self._api,
            measurement_id,
            include_steps=include_steps,
            include_cycles=include_cycles,
            include_time_series=include_time_series,
        )

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
        listing first). ``use_cache`` is accepted for the official signature; nothing is
        cached locally."""
        del use_cache
        names = await self.list_files(measurement_id) if filenames is None else [*filenames]
        out: dict[str, bytes] = {}

        async def one(name: str) -> None:
            out[name] = await self.get_file(measurement_id, name)

        async with task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
        return {name: out[name] for name in names}

    async def _download(
        self, measurement_id: str, kind: str, rows: tuple[int, int] | None = None
    ) -> Any:
        path = f"/cell_measurements/{seg(measurement_id)}/{kind}/download"
        table = read_parquet(await self._api.download(path))
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
        file is downloaded and sliced locally). ``use_cache`` is accepted for the official
        signature; nothing is cached locally (as with the official cache switched off)."""
        del use_cache
        return await self._download(measurement_id, "time_series", _row_range(row_range))

    async def steps(self, measurement_id: str, use_cache: bool = True) -> Any:
        """The measurement's uploaded step table as a DataFrame (404 when it was uploaded
        without one: :meth:`steps_and_cycles` derives them). ``use_cache`` is accepted for
        the official signature; nothing is cached locally."""
        del use_cache
        return await self._download(measurement_id, "steps")

    async def cycles(self, measurement_id: str, use_cache: bool = True) -> Any:
        """Cycle metrics (one row per cycle) derived on the server from the time series."""
        del use_cache
        data = await self._api.get(f"/cell_measurements/{seg(measurement_id)}/cycles")
        data = expect(data, dict, what="cycles", keys={"cycles": dict})
        return columns_frame(data["cycles"], self._api.config.dataframe_backend, empty=True)

    async def steps_and_cycles(self, measurement_id: str, use_cache: bool = True) -> StepsAndCycles:
        """The step table and cycle metrics derived on the server from the time series (its
        own step and cycle columns honoured), in one call."""
        del use_cache
        path = f"/cell_measurements/{seg(measurement_id)}/steps_and_cycles"
        data = expect(
            await self._api.get(path),
            dict,
            what="steps and cycles",
            keys={"steps": dict, "cycles": dict},
        )
        backend = self._api.config.dataframe_backend
        return StepsAndCycles(
            steps=columns_frame(data["steps"], backend, empty=True),
            cycles=columns_frame(data["cycles"], backend, empty=True),
        )


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
