"""``client.cell_instance``: the physical cells of a specification (their measurements hang
off them), and ``detail``: an instance with every measurement's data."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks._concurrency import task_group
from ionworks.errors import IonworksError
from ionworks.models import (
    CellInstance,
    CellInstanceDetail,
    CellMeasurementDetail,
    Page,
    structure,
)
from ionworks.resources._base import (
    AsyncResource,
    existing_id,
    expect,
    filters_of,
    is_conflict,
    seg,
)
from ionworks.resources._measurement_detail import time_series_parts

__all__ = ["AsyncCellInstances"]

#: Measurements whose data ``detail`` fetches at once.
DETAIL_CONCURRENCY = 6
_MEASUREMENT_FIELDS = (
    "id",
    "name",
    "cell_instance_id",
    "measurement_type",
    "processing_status",
    "processing_error",
    "tags",
)


def _record(data: Any) -> CellInstance:
    return structure(data, CellInstance, what="cell instance")


def _reject_batch(data: dict[str, Any]) -> None:
    """The free-text ``batch`` field is gone (lots are cell batch records, joined through
    ``batch_id``): a ``ValueError`` before anything is sent, as the official client."""
    if "batch" not in data:
        return
    lot = data["batch"]
    lot_name = lot if isinstance(lot, str) and lot else "2025-Q1"
    raise ValueError(
        "`batch` was removed from cell instances: lots are now their own records. Create or "
        "look up the lot with "
        f'client.cell_batch.create_or_get(cell_spec_id, {{"name": "{lot_name}"}}) '
        "and pass batch_id=<lot>.id instead."
    )


class AsyncCellInstances(AsyncResource):
    """Create, read, update and delete cell instances. Names are unique per specification."""

    async def get(self, cell_instance_id: str) -> CellInstance:
        """One cell instance."""
        return _record(await self._api.get(f"/cell_instances/{seg(cell_instance_id)}"))

    async def list(
        self,
        cell_spec_id: str,
        limit: int | None = None,
        offset: int | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        created_by_email: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
        batch_id: str | None = None,
    ) -> Page[CellInstance]:
        """The instances of a specification (without ``limit``: all of them), filtered like
        the other lists, and by ``batch_id``."""
        params = {
            "limit": limit,
            "offset": offset,
            **filters_of(locals()),
            "batch_id": batch_id,
        }
        params = {k: v for k, v in params.items() if v is not None}
        path = f"/cell_specifications/{seg(cell_spec_id)}/cell_instances"
        return await self._list(path, params, CellInstance, what="cell instance list")

    async def update(self, cell_instance_id: str, data: dict[str, Any]) -> CellInstance:
        """Change fields of an instance (a new name must be free in its specification;
        ``batch_id``: its lot). ``ValueError`` for the removed ``batch`` field."""
        _reject_batch(data)
        result = await self._api.patch(f"/cell_instances/{seg(cell_instance_id)}", data)
        return _record(result)

    async def delete(self, cell_instance_id: str) -> None:
        """Delete an instance. One that still has measurements is a ``ConflictError`` (409)
        on the local server: delete them first."""
        await self._api.delete(f"/cell_instances/{seg(cell_instance_id)}")

    async def detail(
        self,
        cell_instance_id: str,
        include_steps: bool = True,
        include_cycles: bool = True,
        include_time_series: bool = True,
    ) -> CellInstanceDetail:
        """The instance, its specification's id and each of its measurements with the data
        asked for (steps, cycle metrics, time series: DataFrames). A measurement without a
        step table, or a server without cycle metrics, gives ``None`` there."""
        base = f"/cell_instances/{seg(cell_instance_id)}"
        raw: dict[str, Any] = {}

        async def fetch_instance() -> None:
            raw["instance"] = await self._api.get(base)

        async def fetch_measurements() -> None:  # every page
            path = f"{base}/cell_measurements"
            raw["measurements"] = await self._list(path, {}, None, what="measurement list")

        async with task_group() as tg:
            tg.start_soon(fetch_instance)
            tg.start_soon(fetch_measurements)
        instance = _record(raw["instance"])
        listed: Page[Any] = raw["measurements"]
        records = [expect(m, dict, what="measurement", keys={"id": str}) for m in listed.items]
        details: builtins.list[CellMeasurementDetail | None] = [None] * len(records)
        flags = (include_steps, include_cycles, include_time_series)

        async def one(index: int, measurement: dict[str, Any]) -> None:
            details[index] = await self._measurement(measurement, instance, *flags)

        for start in range(0, len(records), DETAIL_CONCURRENCY):
            async with task_group() as tg:
                for index in range(start, min(start + DETAIL_CONCURRENCY, len(records))):
                    tg.start_soon(one, index, records[index])
        return CellInstanceDetail(
            instance=instance,
            specification_id=instance.cell_specification_id,
            measurements=[d for d in details if d is not None],
        )

    async def _measurement(
        self,
        listed: dict[str, Any],
        instance: CellInstance,
        include_steps: bool,
        include_cycles: bool,
        include_time_series: bool,
    ) -> CellMeasurementDetail:
        mid = str(listed["id"])
        base = f"/cell_measurements/{seg(mid)}"
        record = expect(await self._api.get(base), dict, what="measurement", keys={"id": str})
        data: dict[str, Any] = {}
        if record.get("measurement_type", "time_series") == "time_series":
            data = await time_series_parts(
                self._api,
                base,
                include_steps=include_steps,
                include_cycles=include_cycles,
                include_time_series=include_time_series,
            )
        known = {k: record[k] for k in _MEASUREMENT_FIELDS if k in record}
        known.setdefault("name", str(listed.get("name") or ""))
        known.setdefault("cell_instance_id", instance.id)
        extra = {k: v for k, v in record.items() if k not in _MEASUREMENT_FIELDS}
        for key in ("specification_id", "instance_id", "steps", "time_series", "cycles", "files"):
            extra.pop(key, None)
        return CellMeasurementDetail(
            **known,
            specification_id=instance.cell_specification_id,
            instance_id=known["cell_instance_id"],
            steps=data.get("steps"),
            time_series=data.get("time_series"),
            cycles=data.get("cycles"),
            extra=extra,
        )

    async def create(self, cell_spec_id: str, data: dict[str, Any]) -> CellInstance:
        """Create an instance of a specification from ``{name, …}`` (``batch_id``: a lot of
        the same specification). A name the specification already has is a
        ``ConflictError`` naming the existing record (see :meth:`create_or_get`)."""
        _reject_batch(data)
        path = f"/cell_specifications/{seg(cell_spec_id)}/cell_instances"
        return _record(await self._api.post(path, data))

    async def create_or_get(self, cell_spec_id: str, data: dict[str, Any]) -> CellInstance:
        """:meth:`create`, or the specification's existing instance of that name."""
        try:
            return await self.create(cell_spec_id, data)
        except IonworksError as error:
            if not is_conflict(error):
                raise
            found = existing_id(error, "existing_cell_instance_id")
            if found is not None:
                return await self.get(found)
            name = data.get("name")
            if name:
                matches = await self.list(cell_spec_id, name_exact=name)
                if matches:
                    return matches[0]
            raise ValueError(
                f"Cell instance '{name}' reported as duplicate but could not be found"
            ) from error
