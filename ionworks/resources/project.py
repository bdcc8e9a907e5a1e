"""``client.project``: projects scope studies, pipelines, models and measurements."""

from __future__ import annotations

from typing import Any

from ionworks.models import Page, Project, structure
from ionworks.resources._base import AsyncResource, filter_params, seg

__all__ = ["AsyncProjects"]


class AsyncProjects(AsyncResource):
    """Projects visible to this key."""

    async def get(self, project_id: str) -> Project:
        """One project."""
        return structure(
            await self._api.get(f"/projects/{seg(project_id)}"), Project, what="project"
        )

    async def list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Project]:
        """Projects, filtered like the other lists (without ``limit``: all of them)."""
        params = {
            "limit": limit,
            "offset": offset,
            **filter_params(name=name, name_exact=name_exact, order_by=order_by, order=order),
        }
        return await self._list("/projects", params, Project, what="project list")

    async def create(self, data: dict[str, Any]) -> Project:
        """Create a project from ``{name, description?}``."""
        if not isinstance(data, dict) or not data.get("name"):
            raise ValueError("project.create() needs a dict with a 'name'")
        return structure(await self._api.post("/projects", data), Project, what="project")

    async def update(self, project_id: str, data: dict[str, Any]) -> Project:
        """Change fields of a project."""
        result = await self._api.patch(f"/projects/{seg(project_id)}", data)
        return structure(result, Project, what="project")

    async def delete(self, project_id: str) -> None:
        """Delete a project."""
        await self._api.delete(f"/projects/{seg(project_id)}")
