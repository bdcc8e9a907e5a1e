"""Watching measurements: ``client.cell_measurement.watch`` / ``unwatch`` / ``list_watched``
(the lab's "watch this channel"). A base of
:class:`~ionworks.resources.cell_measurement.AsyncCellMeasurements`."""

from __future__ import annotations

import builtins

from ionworks.resources._base import AsyncResource, expect, seg

__all__ = ["AsyncMeasurementWatch"]


class AsyncMeasurementWatch(AsyncResource):
    """Start, stop and list the calling user's watches of measurements."""

    async def watch(self, measurement_id: str) -> None:
        """Watch a measurement (typically one whose test is running). A watch is the calling
        user's own and ends by itself once the test finishes (the measurement gets an
        ``end_time``); watching an already watched or finished measurement changes nothing.
        A ``NotFoundError`` (404) when the measurement does not exist or is not readable."""
        await self._api.post(f"/cell_measurements/{seg(measurement_id)}/watch", {})

    async def unwatch(self, measurement_id: str) -> None:
        """Stop watching a measurement; a no-op when it is not watched (404 for an unknown
        measurement)."""
        await self._api.delete(f"/cell_measurements/{seg(measurement_id)}/watch")

    async def list_watched(self, project_id: str | None = None) -> builtins.list[str]:
        """The ids of the measurements the calling user watches in a project (default: the
        client's project) whose tests are still running."""
        pid = await self._api.default_project_id(project_id)
        data = await self._api.get(f"/projects/{seg(pid)}/lab/watched")
        data = expect(data, dict, what="watched measurements", keys={"measurement_ids": list})
        return [str(i) for i in data["measurement_ids"]]
