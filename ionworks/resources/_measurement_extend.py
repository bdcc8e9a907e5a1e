"""``cell_measurement.extend``: append rows to a stored time series (wire.md §10.3). A base of
:class:`~ionworks.resources.cell_measurement.AsyncCellMeasurements`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from ionworks.dataframes import write_parquet
from ionworks.errors import IonworksError, MeasurementValidationError
from ionworks.models import Measurement, structure
from ionworks.resources._base import AsyncResource, expect, seg
from ionworks.resources._measurement_io import (
    MeasurementProcessingError,
    as_polars,
    failure_message,
)
from ionworks.resources._measurement_upload import wait_processed

__all__ = ["AsyncMeasurementExtend"]

#: The columns a delta needs (the official client's; the server also wants the stored
#: series' other columns).
EXTEND_COLUMNS = ("Time [s]", "Step count")
EXTEND_FILE = "time_series_extend.parquet"


class AsyncMeasurementExtend(AsyncResource):
    """Append rows to a measurement that is still being recorded."""

    async def extend(
        self,
        measurement_id: str,
        time_series: Any,
        wait_for_processing: bool = True,
        *,
        timeout: float = 600.0,
        poll_interval: float = 2.0,
    ) -> Measurement:
        """Append the rows of ``time_series`` (a DataFrame or dict of columns) to the stored
        time series of ``measurement_id``.

        The delta must be non-empty, have ``Time [s]`` and ``Step count`` columns
        (``IonworksError`` otherwise) and non-decreasing time (``MeasurementValidationError``);
        the server also wants the stored series' columns and types, and a first time not
        before the stored series ends (a 422 naming what is wrong; the measurement is left as
        it was). The delta is uploaded as parquet (initiate-extend → PUT → confirm-extend) and
        stitched on by the server after confirm returns; one extend at a time, and none while
        the measurement is processing (a 409: wait, then retry).

        With ``wait_for_processing`` the call returns once the stitch is done, and raises
        ``MeasurementProcessingError`` if it failed (or outlasted ``timeout`` seconds); the
        returned record is the settled one. Otherwise it returns at once: a failed extend
        leaves the measurement readable and ``ready``, so check ``processing_error`` after
        :meth:`wait_for_processing`. ``steps_created`` is always 0 (the steps are recomputed
        after the call)."""
        frame = as_polars(time_series, "time_series")
        if frame.height == 0:
            raise IonworksError(
                "Extend delta time series is empty. Provide at least one row to append."
            )
        missing = [c for c in EXTEND_COLUMNS if c not in frame.columns]
        if missing:
            raise IonworksError(
                f"Extend delta must include columns {list(EXTEND_COLUMNS)}. Missing: {missing}."
            )
        _check_time(frame)
        base = f"/cell_measurements/{seg(measurement_id)}"
        init = expect(
            await self._api.post(f"{base}/initiate-extend", {}),
            dict,
            what="initiate-extend",
            keys={"uploads": list},
        )
        urls = [
            u.get("signed_url")
            for u in init["uploads"]
            if isinstance(u, Mapping) and u.get("filename") == EXTEND_FILE
        ]
        if not urls or not urls[0]:
            raise IonworksError(f"No {EXTEND_FILE} upload URL returned from server")
        await self._api.upload(str(urls[0]), write_parquet(frame))
        confirmed = expect(
            await self._api.post(f"{base}/confirm-extend", {}), dict, what="confirm-extend"
        )
        confirmed.pop("instance", None)
        if not wait_for_processing:
            return structure(confirmed, Measurement, what="measurement")
        settled = (await wait_processed(self._api, [measurement_id], timeout, poll_interval))[
            measurement_id
        ]
        error = settled.get("processing_error")
        if error:
            failures = {measurement_id: str(error)}
            raise MeasurementProcessingError(failure_message(failures, 1), failures)
        settled.pop("instance", None)
        return structure({**confirmed, **settled}, Measurement, what="measurement")


def _check_time(frame: pl.DataFrame) -> None:
    """``Time [s]`` non-decreasing (``MeasurementValidationError`` naming the first row that
    goes back)."""
    time = frame["Time [s]"]
    if not time.dtype.is_numeric():
        raise MeasurementValidationError(f"'Time [s]' must be numeric, got {time.dtype}")
    back = time.cast(pl.Float64).diff().drop_nulls() < 0
    if back.any():
        row = int(back.arg_true()[0]) + 1
        raise MeasurementValidationError(
            f"'Time [s]' is not monotonically non-decreasing: row {row} "
            f"({time[row]}) is before row {row - 1} ({time[row - 1]})"
        )
