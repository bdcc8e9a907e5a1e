"""``cell_measurement.detail`` (not part of the public surface): one measurement's record with
the data asked for, fetched in parallel (wire.md §10.1)."""

from __future__ import annotations

from typing import Any

import attrs

from ionworks._concurrency import task_group
from ionworks.dataframes import from_arrow
from ionworks.errors import IonworksError, NotFoundError
from ionworks.models import CellMeasurementDetail
from ionworks.resources._base import expect, seg
from ionworks.resources._requests import Requests
from ionworks.wire.arrow import read_parquet

__all__ = ["columns_frame", "fetch_detail", "time_series_parts"]

#: The detail's declared fields that come from the record (the rest are the data or derived).
_DATA = frozenset({"steps", "time_series", "cycles", "files", "instance_id", "extra"})
_RECORD_FIELDS = tuple(f.name for f in attrs.fields(CellMeasurementDetail) if f.name not in _DATA)


def columns_frame(columns: Any, backend: str | None, *, empty: bool = False) -> Any:
    """A ``{column: [values]}`` dict (a dict of scalars: one row) as a DataFrame; None when
    empty (``empty``: an empty DataFrame)."""
    import pyarrow as pa

    if not isinstance(columns, dict) or not columns:
        return from_arrow(pa.table({}), backend) if empty else None

    if not any(isinstance(v, list) for v in columns.values()):
        columns = {k: [v] for k, v in columns.items()}
    return from_arrow(pa.table(columns), backend)


async def time_series_parts(
    api: Requests,
    base: str,
    *,
    include_steps: bool,
    include_cycles: bool,
    include_time_series: bool,
) -> dict[str, Any]:
    """A time-series measurement's data at ``base`` (``/cell_measurements/{id}``), fetched in
    parallel: ``steps`` (absent when it has no step table), ``cycles`` (absent when the server
    has no cycle metrics) and ``time_series``, as DataFrames of the client's backend."""
    backend = api.config.dataframe_backend
    data: dict[str, Any] = {}

    async def parquet(key: str, optional: bool) -> None:
        try:
            raw = await api.download(f"{base}/{key}/download")
        except IonworksError:
            if not optional:
                raise
            return  # a measurement uploaded without a step table
        data[key] = from_arrow(read_parquet(raw), backend)

    async def cycles() -> None:
        try:
            body = await api.get(f"{base}/steps_and_cycles")
        except NotFoundError:
            return  # a server (or measurement) without cycle metrics
        if isinstance(body, dict):
            data["cycles"] = columns_frame(body.get("cycles"), backend)

    async with task_group() as tg:
        if include_steps:
            tg.start_soon(parquet, "steps", True)
        if include_cycles:
            tg.start_soon(cycles)
        if include_time_series:
            tg.start_soon(parquet, "time_series", False)
    return data


async def fetch_detail(
    api: Requests,
    measurement_id: str,
    *,
    include_steps: bool,
    include_cycles: bool,
    include_time_series: bool,
    record: dict[str, Any] | None = None,
) -> CellMeasurementDetail:
    """The record first (``record``: one the caller has just read; its type decides what to
    fetch); for a time series, the step table
    (``None`` when it has none), the cycle metrics (``None`` when the server has none) and the
    time series, in parallel; a file measurement's files (``{name: bytes}``); a properties
    measurement carries its ``properties`` as a field."""
    base = f"/cell_measurements/{seg(measurement_id)}"
    record = expect(
        record if record is not None else await api.get(base),
        dict,
        what="measurement",
        keys={"id": str, "name": str, "cell_instance_id": str},
    )
    data: dict[str, Any] = {}
    if record.get("measurement_type", "time_series") == "time_series":
        data = await time_series_parts(
            api,
            base,
            include_steps=include_steps,
            include_cycles=include_cycles,
            include_time_series=include_time_series,
        )
    elif record.get("measurement_type") == "file":
        listed = expect(
            await api.get(f"{base}/files"), dict, keys={"filenames": list}, what="files"
        )
        names = [str(n) for n in listed["filenames"]]
        files: dict[str, bytes] = {}

        async def one(name: str) -> None:
            files[name] = await api.download(f"{base}/files/{seg(name)}")

        async with task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
        data["files"] = {name: files[name] for name in names}
    known = {k: record[k] for k in _RECORD_FIELDS if k in record}
    extra = {k: v for k, v in record.items() if k not in _RECORD_FIELDS and k not in _DATA}
    return CellMeasurementDetail(
        **known,
        instance_id=str(record["cell_instance_id"]),
        steps=data.get("steps"),
        time_series=data.get("time_series"),
        cycles=data.get("cycles"),
        files=data.get("files"),
        extra=extra,
    )
