"""``client.job``: job records behind simulations and pipelines."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.models import Job, structure
from ionworks.resources._base import AsyncResource, seg

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
