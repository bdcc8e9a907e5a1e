"""``client.cell_measurement`` (alias ``client.measurement``): measured cycling data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import anyio
import polars as pl

from ionworks._concurrency import task_group
from ionworks._transport import DOWNLOAD_READ_TIMEOUT
from ionworks.dataframes import from_arrow, read_parquet, to_arrow, write_parquet
from ionworks.errors import APIResponseValidationError, IonworksError, MeasurementValidationError
from ionworks.models import Measurement, Page, structure
from ionworks.resources._base import AsyncResource, filter_params, parse_page, seg

__all__ = ["REQUIRED_COLUMNS", "AsyncCellMeasurements", "validate_time_series"]

REQUIRED_COLUMNS = ("Time [s]", "Current [A]", "Voltage [V]")


def validate_time_series(frame: pl.DataFrame) -> None:
    """Required columns present, numeric and finite, time non-decreasing; errors name the
    column and the first bad row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise MeasurementValidationError(
            f"time_series is missing required column(s) {', '.join(map(repr, missing))}; "
            f"has {', '.join(map(repr, frame.columns))}"
        )
    if frame.height == 0:
        raise MeasurementValidationError("time_series has no rows")
    for column in REQUIRED_COLUMNS:
        series = frame[column]
        if not series.dtype.is_numeric():
            raise MeasurementValidationError(
                f"time_series column {column!r} must be numeric, got {series.dtype}"
            )
        bad = series.cast(pl.Float64).is_nan() | series.cast(pl.Float64).is_infinite()
        bad = bad | series.is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise MeasurementValidationError(
                f"time_series column {column!r} row {row}: value {series[row]!r} is not a "
                "finite number"
            )
    diffs = frame["Time [s]"].cast(pl.Float64).diff().drop_nulls()
    decreasing = diffs < 0
    if decreasing.any():
        row = int(decreasing.arg_true()[0]) + 1
        raise MeasurementValidationError(
            f"time_series column 'Time [s]' row {row}: time goes backwards "
            f"({frame['Time [s]'][row - 1]} -> {frame['Time [s]'][row]}); time must be "
            "non-decreasing"
        )


def _as_polars(frame: Any, what: str) -> pl.DataFrame:
    try:
        table = to_arrow(frame)
    except TypeError as exc:
        raise MeasurementValidationError(f"{what}: {exc}") from exc
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result


class AsyncCellMeasurements(AsyncResource):
    """Upload, list, read and delete cell measurements."""

    async def get(self, measurement_id: str) -> Measurement:
        """One measurement record."""
        data = await self._get(f"/cell_measurements/{seg(measurement_id)}")
        return structure(data, Measurement, what="measurement")

    async def list(
        self,
        cell_instance_id: str,
        limit: int | None = None,
        offset: int | None = None,
        measurement_type: str | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of one cell instance."""
        params = {
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            **filter_params(name=name, name_exact=name_exact, order_by=order_by, order=order),
        }
        data = await self._get(f"/cell_instances/{seg(cell_instance_id)}/cell_measurements", params)
        return parse_page(data, Measurement, what="measurement list")

    async def list_by_project(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        measurement_type: str | None = None,
        *,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Measurement]:
        """Measurements of a project (default: the client's project)."""
        params = {
            "project_id": await self._project_id(project_id),
            "limit": limit,
            "offset": offset,
            "measurement_type": measurement_type,
            **filter_params(order_by=order_by, order=order),
        }
        data = await self._get("/cell_measurements", params)
        return parse_page(data, Measurement, what="measurement list")

    async def _download(self, measurement_id: str, kind: str) -> Any:
        path = f"/cell_measurements/{seg(measurement_id)}/{kind}/download"
        raw = await self._transport.request("GET", path, expect="bytes")
        return from_arrow(read_parquet(raw), self._client.dataframe_backend)

    async def time_series(self, measurement_id: str) -> Any:
        """The measurement's time series as a DataFrame."""
        return await self._download(measurement_id, "time_series")

    async def steps(self, measurement_id: str) -> Any:
        """The measurement's step table as a DataFrame."""
        return await self._download(measurement_id, "steps")

    async def update(self, measurement_id: str, data: dict[str, Any]) -> Measurement:
        """Change fields of a measurement (e.g. name, notes, tags)."""
        result = await self._patch(f"/cell_measurements/{seg(measurement_id)}", data)
        return structure(result, Measurement, what="measurement")

    async def delete(self, measurement_id: str) -> None:
        """Delete a measurement (it is also removed from its studies)."""
        await self._delete(f"/cell_measurements/{seg(measurement_id)}")

    async def create(
        self,
        cell_instance_id: str,
        measurement_detail: dict[str, Any],
        wait_for_processing: bool = True,
        timeout: float = 600,
        poll_interval: float = 2,
    ) -> Measurement:
        """Upload a time-series measurement.

        ``measurement_detail = {"measurement": {"name": ..., ...}, "time_series": DataFrame,
        "steps": DataFrame (optional)}``. The data are checked locally first (required columns
        "Time [s]", "Current [A]", "Voltage [V]", finite values, non-decreasing time), then
        uploaded as parquet: initiate → PUT each file → confirm.
        """
        if not isinstance(measurement_detail, Mapping):
            raise MeasurementValidationError("measurement_detail must be a dict")
        meta = measurement_detail.get("measurement")
        if not isinstance(meta, Mapping) or not meta.get("name"):
            raise MeasurementValidationError(
                'measurement_detail["measurement"] must be a dict with a non-empty "name"'
            )
        if measurement_detail.get("time_series") is None:
            raise MeasurementValidationError('measurement_detail needs a "time_series" DataFrame')
        ts = _as_polars(measurement_detail["time_series"], "time_series")
        validate_time_series(ts)
        files = {"time_series.parquet": write_parquet(ts)}
        if measurement_detail.get("steps") is not None:
            steps = _as_polars(measurement_detail["steps"], "steps")
            files["steps.parquet"] = write_parquet(steps)
        meta_body = {k: v for k, v in dict(meta).items() if k != "data_type"}
        base = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements"
        init = await self._post(
            f"{base}/initiate-upload",
            {"measurement": {k: meta_body[k] for k in ("name", "notes") if k in meta_body}},
        )
        if not isinstance(init, Mapping) or not isinstance(init.get("uploads"), list):
            raise APIResponseValidationError(f"Unexpected initiate-upload response: {init!r}")
        measurement_id = str(init["measurement_id"])
        urls = {
            u.get("filename"): u.get("signed_url")
            for u in init["uploads"]
            if isinstance(u, Mapping)
        }
        for filename in files:
            if not urls.get(filename):
                raise IonworksError(f"No {filename} upload URL returned from server")

        async def put(filename: str) -> None:
            url = str(urls[filename])
            absolute = url.startswith(("http://", "https://"))
            await self._transport.request(
                "PUT",
                url,
                data=files[filename],
                headers={"Content-Type": "application/octet-stream"},
                absolute_url=absolute,
                authenticate=not absolute,
                expect="none",
                timeout=DOWNLOAD_READ_TIMEOUT,
            )

        async with task_group() as tg:
            for filename in files:
                tg.start_soon(put, filename)
        confirmed = await self._post(
            f"/cell_measurements/{seg(measurement_id)}/confirm-upload",
            {
                "cell_instance_id": cell_instance_id,
                "measurement": meta_body,
                "measurement_type": "time_series",
            },
        )
        record = structure(confirmed, Measurement, what="measurement")
        if wait_for_processing and record.processing_status in ("pending", "running"):
            await self._wait_processing(measurement_id, timeout, poll_interval)
        return record

    async def _wait_processing(self, measurement_id: str, timeout: float, interval: float) -> None:
        path = f"/cell_measurements/{seg(measurement_id)}"
        params = {"include_steps": False, "include_time_series": False}
        with anyio.fail_after(timeout if math.isfinite(timeout) else None):
            while True:
                current = await self._get(path, params)
                status = current.get("processing_status") if isinstance(current, Mapping) else None
                if status == "failed":
                    raise IonworksError(
                        f"Measurement {measurement_id} processing failed: "
                        f"{current.get('processing_error') or 'unknown error'}"
                    )
                if status not in ("pending", "running"):
                    return
                await anyio.sleep(interval)
