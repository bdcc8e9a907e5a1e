"""Raw data and measurements: ``client.cell_measurement.attach_raw_data`` / ``detach_raw_data``
/ ``list_raw_data`` (links between a measurement and raw-data records) and
``create_from_raw_data`` (a time-series measurement parsed by the server from a stored raw
cycler file). A base of :class:`~ionworks.resources.cell_measurement.AsyncCellMeasurements`."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from ionworks.models import Measurement, Page, RawData, structure
from ionworks.resources._base import AsyncResource, seg
from ionworks.resources._measurement_io import tag_list
from ionworks.resources._measurement_upload import wait_processed

__all__ = ["AsyncMeasurementRaw"]


class AsyncMeasurementRaw(AsyncResource):
    """Link raw-data records to measurements, and make measurements from raw files."""

    async def attach_raw_data(
        self, cell_measurement_id: str, raw_data_ids: builtins.list[str]
    ) -> None:
        """Link raw-data records of the measurement's project to it; already linked ones are
        left alone (404 for an unknown record, 422 for one of another project)."""
        await self._api.post(
            f"/cell_measurements/{seg(cell_measurement_id)}/raw_data",
            {"raw_data_ids": [*raw_data_ids]},
        )

    async def detach_raw_data(self, cell_measurement_id: str, raw_data_id: str) -> None:
        """Remove one link between the measurement and a raw-data record (the record stays)."""
        await self._api.delete(
            f"/cell_measurements/{seg(cell_measurement_id)}/raw_data/{seg(raw_data_id)}"
        )

    async def list_raw_data(
        self, cell_measurement_id: str, limit: int = 100, offset: int = 0
    ) -> Page[RawData]:
        """A page of the raw-data records linked to the measurement."""
        path = f"/cell_measurements/{seg(cell_measurement_id)}/raw_data"
        params = {"limit": limit, "offset": offset}
        return await self._list(path, params, RawData, what="linked raw data")

    async def create_from_raw_data(
        self,
        cell_instance_id: str,
        raw_data_id: str,
        name: str | None = None,
        *,
        notes: str | None = None,
        tags: Iterable[str] | None = None,
        wait_for_processing: bool = True,
    ) -> Measurement:
        """A time-series measurement of the cell instance made by the server from a stored raw
        cycler file (``client.raw_data.upload``; BioLogic .mpr/.mpt, Neware .nda/.ndax/.csv,
        Arbin .csv, Maccor text exports), linked to the raw record. ``name`` defaults to the
        file's name without its extension; names are unique within a cell instance (409
        ``CONFLICT`` naming the existing one). A file that cannot be read is a 422 naming
        it, one over the server's upload limit a 413. ``wait_for_processing``: wait until the
        measurement is processed if the server answers before that."""
        body: dict[str, Any] = {"raw_data_id": raw_data_id}
        optional = {"name": name, "notes": notes, "tags": tag_list(tags)}
        body.update({k: v for k, v in optional.items() if v is not None})
        path = f"/cell_instances/{seg(cell_instance_id)}/cell_measurements/from-raw-data"
        record = structure(await self._api.post(path, body), Measurement, what="measurement")
        if wait_for_processing and record.processing_status in ("pending", "running"):
            from ionworks.resources.cell_measurement import (
                PROCESSING_POLL_SECONDS,
                PROCESSING_TIMEOUT_SECONDS,
            )

            await wait_processed(
                self._api, [record.id], PROCESSING_TIMEOUT_SECONDS, PROCESSING_POLL_SECONDS
            )
        return record
