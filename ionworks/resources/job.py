"""``client.job``: job records behind simulations and pipelines."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.models import Job, structure
from ionworks.resources._base import AsyncResource, expect, seg

__all__ = ["AsyncJobs"]


class AsyncJobs(AsyncResource):
    """Read and cancel jobs."""

    async def get(self, job_id: str) -> Job:
        """The job record."""
        return structure(await self._api.get(f"/jobs/{seg(job_id)}"), Job, what="job")

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: queued work never starts; running work is stopped where possible."""
        return structure(await self._api.post(f"/jobs/{seg(job_id)}/cancel", {}), Job, what="job")

    async def list(self, limit: int | None = None, offset: int | None = None) -> builtins.list[Job]:
        """Jobs this key can see, newest first: every one (read in pages of 1,000), or at most
        ``limit`` from ``offset``."""
        params = {"limit": limit, "offset": offset}
        page = await self._list("/jobs/", params, Job, what="job", array=True)
        return page.items

    async def get_metadata(self, job_id: str) -> dict[str, Any]:
        """Free-form metadata of a job (e.g. fit traces)."""
        data = await self._api.get(f"/jobs/{seg(job_id)}/metadata")
        return data if isinstance(data, dict) else {}

    async def get_series_channels(self, job_id: str) -> dict[str, dict[str, builtins.list[str]]]:
        """The model-vs-data series a job recorded, names only: ``{objective: {source:
        [channel, ...]}}`` (``source``: ``"optimal"`` or ``"baseline"``); empty when it
        recorded none."""
        data = await self._api.get(f"/jobs/{seg(job_id)}/series/channels")
        return expect(data, dict, what="job series channels")

    async def get_series(
        self,
        job_id: str,
        objective: str,
        source: str = "optimal",
        columns: builtins.list[str] | None = None,
        x_column: str | None = None,
        max_points: int | None = None,
        x_min: float | None = None,
        x_max: float | None = None,
    ) -> dict[str, builtins.list[Any]]:
        """One objective's series, ``{channel: [values]}`` (equal lengths): ``x_column``
        (default: the objective's own x, ``"Time [s]"``) and ``columns`` (default: every
        channel), within ``x_min``..``x_max``, thinned to at most ``max_points`` rows."""
        params = {
            "objective": objective,
            "source": source,
            "columns": ",".join(columns) if columns else None,
            "x_column": x_column,
            "max_points": max_points,
            "x_min": x_min,
            "x_max": x_max,
        }
        data = await self._api.get(f"/jobs/{seg(job_id)}/series", params=params)
        return expect(data, dict, what="job series")
