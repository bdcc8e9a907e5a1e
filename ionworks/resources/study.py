"""``client.study``: studies group simulations and measurements within a project."""

from __future__ import annotations

from typing import Any

from ionworks.models import Page, Study, structure
from ionworks.resources._base import AsyncResource, expect, filter_params, seg

__all__ = ["AsyncStudies"]


class AsyncStudies(AsyncResource):
    """Manage studies. Every method takes ``project_id=`` (default: the client's project)."""

    async def _base(self, project_id: str | None) -> str:
        return f"/projects/{seg(await self._api.default_project_id(project_id))}/studies"

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Study]:
        """Studies of the project; ``name`` matches a substring, ``name_exact`` the whole name.
        Without ``limit``: all of them."""
        params = {
            "limit": limit,
            "offset": offset,
            **filter_params(name=name, name_exact=name_exact, order_by=order_by, order=order),
        }
        return await self._list(await self._base(project_id), params, Study, what="study list")

    async def get(self, study_id: str, project_id: str | None = None) -> Study:
        """One study."""
        data = await self._api.get(f"{await self._base(project_id)}/{seg(study_id)}")
        return structure(data, Study, what="study")

    async def create(
        self, data: dict[str, Any] | None = None, project_id: str | None = None
    ) -> Study:
        """Create a study from ``{"name": ..., "description": ...}``."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
            raise ValueError(
                'study.create() takes a dict with a non-empty "name", e.g. '
                '{"name": "1C Discharge Sweep", "description": "..."}'
            )
        result = await self._api.post(await self._base(project_id), data)
        return structure(result, Study, what="study")

    async def update(
        self, study_id: str, data: dict[str, Any] | None = None, project_id: str | None = None
    ) -> Study:
        """Update a study's fields (e.g. ``{"name": ...}``)."""
        if not isinstance(data, dict) or not data:
            raise ValueError("study.update() takes a non-empty dict of fields to change")
        result = await self._api.patch(f"{await self._base(project_id)}/{seg(study_id)}", data)
        return structure(result, Study, what="study")

    async def delete(self, study_id: str, project_id: str | None = None) -> None:
        """Delete a study (its simulations and measurements are kept)."""
        await self._api.delete(f"{await self._base(project_id)}/{seg(study_id)}")

    async def assign_simulation(
        self, study_id: str, simulation_id: str, project_id: str | None = None
    ) -> dict[str, Any]:
        """Add a simulation to a study (idempotent)."""
        path = f"{await self._base(project_id)}/{seg(study_id)}/simulations/{seg(simulation_id)}"
        result = await self._api.post(path, {})
        return result if isinstance(result, dict) else {}

    async def remove_simulation(
        self, study_id: str, simulation_id: str, project_id: str | None = None
    ) -> None:
        """Remove a simulation from a study (the simulation is kept)."""
        path = f"{await self._base(project_id)}/{seg(study_id)}/simulations/{seg(simulation_id)}"
        await self._api.delete(path)

    async def assign_measurement(
        self, study_id: str, measurement_id: str, project_id: str | None = None
    ) -> dict[str, Any]:
        """Add a measurement to a study (idempotent)."""
        path = f"{await self._base(project_id)}/{seg(study_id)}/measurements/{seg(measurement_id)}"
        result = await self._api.post(path, {})
        return result if isinstance(result, dict) else {}

    async def list_measurements(
        self,
        study_id: str,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """Measurements in a study: ``{"items": [...], "count": n, "total": m}`` (without
        ``limit``: all of them)."""
        path = f"{await self._base(project_id)}/{seg(study_id)}/measurements"
        params = {"limit": limit, "offset": offset}
        if limit is not None:
            data = expect(
                await self._api.get(path, params=params), (list, dict), what="study measurements"
            )
            if isinstance(data, list):
                return {"items": data, "count": len(data), "total": len(data)}
            return data
        page = await self._list(path, params, None, what="study measurements")
        return {"items": page.items, "count": page.count, "total": page.total}

    async def remove_measurement(
        self, study_id: str, measurement_id: str, project_id: str | None = None
    ) -> None:
        """Remove a measurement from a study (the measurement is kept)."""
        path = f"{await self._base(project_id)}/{seg(study_id)}/measurements/{seg(measurement_id)}"
        await self._api.delete(path)
