"""``client.job``: job records behind simulations and pipelines."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.errors import APIResponseValidationError
from ionworks.models import Job, structure
from ionworks.resources._base import AsyncResource, seg

__all__ = ["AsyncJobs"]


class AsyncJobs(AsyncResource):
    """Read and cancel jobs."""

    async def get(self, job_id: str) -> Job:
        """The job record."""
        return structure(await self._get(f"/jobs/{seg(job_id)}"), Job, what="job")

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: queued work never starts; running work is stopped where possible."""
        return structure(await self._post(f"/jobs/{seg(job_id)}/cancel", {}), Job, what="job")

    async def list(self) -> builtins.list[Job]:
        """Every job this key can see."""
        data = await self._get("/jobs/")
        if not isinstance(data, list):
            raise APIResponseValidationError(
                f"Unexpected response for /jobs/: expected a JSON array, got {type(data).__name__}"
            )
        return [structure(item, Job, what="job") for item in data]

    async def get_metadata(self, job_id: str) -> dict[str, Any]:
        """Free-form metadata of a job (e.g. fit traces)."""
        data = await self._get(f"/jobs/{seg(job_id)}/metadata")
        return data if isinstance(data, dict) else {}
