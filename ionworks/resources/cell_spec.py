"""``client.cell_spec``: cell specifications, the cell types (manufacturer, chemistry, ratings,
component slots) that cell instances, measurements and parameterized models hang off."""

from __future__ import annotations

import builtins
from typing import Any, Final

from ionworks.errors import IonworksError
from ionworks.models import CellSpecification, Page, structure
from ionworks.resources._base import AsyncResource, existing_id, filters_of, is_conflict, seg

__all__ = ["SLOTS", "AsyncCellSpecs"]

#: The component slots of a specification, in the order the API reports them.
SLOTS: Final = ("anode", "cathode", "electrolyte", "separator", "case")
SLOT_PARAMS: Final = tuple(f"{slot}_material_id" for slot in SLOTS)


def _record(data: Any) -> CellSpecification:
    return structure(data, CellSpecification, what="cell specification")


def _material_of(spec: CellSpecification, slot: str) -> str | None:
    component = spec.get(slot)
    if isinstance(component, dict):
        value = component.get("material_id")
    else:
        value = getattr(component, "material_id", None)
    return value if isinstance(value, str) and value else None


class AsyncCellSpecs(AsyncResource):
    """Create, read, update and delete cell specifications. Names are unique per project."""

    async def get(self, cell_spec_id: str) -> CellSpecification:
        """One cell specification (with its component slots)."""
        return _record(await self._api.get(f"/cell_specifications/{seg(cell_spec_id)}"))

    async def list(
        self,
        include_components: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        form_factor: str | None = None,
        created_by_email: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
        project_id: str | None = None,
        material_id: str | builtins.list[str] | None = None,
        anode_material_id: str | None = None,
        cathode_material_id: str | None = None,
        electrolyte_material_id: str | None = None,
        separator_material_id: str | None = None,
        case_material_id: str | None = None,
        exclude_cell_spec_id: str | None = None,
    ) -> Page[CellSpecification]:
        """Cell specifications (without ``limit``: all of them), metadata only unless
        ``include_components``. Filters: ``name`` (case-insensitive substring),
        ``name_exact``, ``form_factor``, ``created_by_email``, ISO timestamps
        ``created_after`` … ``updated_before``, ``order_by``/``order``; ``material_id`` (one
        id, or a list: any of them, in any slot) and ``<slot>_material_id`` (that slot);
        ``exclude_cell_spec_id``. ``project_id`` restricts the list to a project; an exact
        name or a material look-up always needs one (else the client's project), since names
        and materials are unique only within a project."""
        params: dict[str, Any] = filters_of(locals())
        if form_factor is not None:
            params["form_factor"] = f"eq.{form_factor}"
        if isinstance(material_id, builtins.list):
            if not material_id:  # matches none; an empty repeated parameter cannot be sent
                return Page(items=[], total=0)
            params["material_ids"] = builtins.list(material_id)
        elif material_id is not None:
            params["material_id"] = material_id
        per_slot = zip(
            (f"{slot}_material_id" for slot in SLOTS),
            (
                anode_material_id,
                cathode_material_id,
                electrolyte_material_id,
                separator_material_id,
                case_material_id,
            ),
            strict=True,
        )
        for key, value in (*per_slot, ("exclude_cell_spec_id", exclude_cell_spec_id)):
            if value is not None:
                params[key] = value
        lookup = name_exact is not None or any(
            key in params for key in ("material_id", "material_ids", *SLOT_PARAMS)
        )
        if lookup:
            params["project_id"] = await self._api.default_project_id(project_id)
        elif project_id is not None:
            params["project_id"] = project_id
        query = {
            "full": "true" if include_components else None,
            "limit": limit,
            "offset": offset,
            **params,
        }
        query = {k: v for k, v in query.items() if v is not None}
        return await self._list(
            "/cell_specifications", query, CellSpecification, what="cell specification list"
        )

    async def related_specs(
        self,
        cell_spec_id: str,
        *,
        slots: builtins.list[str] | None = None,
        exclude_self: bool = True,
        limit: int = 100,
        offset: int = 0,
        include_components: bool = False,
    ) -> Page[CellSpecification]:
        """Other specifications of the same project that share a component material with
        this one. ``slots=None``: any of its slot materials in any slot; a list of slots
        (``anode``, ``cathode``, ``electrolyte``, ``separator``, ``case``): each slot
        compared with the same slot only. ``ValueError`` for an unknown slot, before any
        request."""
        chosen = builtins.list(slots) if slots is not None else builtins.list(SLOTS)
        unknown = [s for s in chosen if s not in SLOTS]
        if unknown:
            raise ValueError(f"Unknown slot(s) {unknown}; allowed: {', '.join(SLOTS)}")
        spec = await self.get(cell_spec_id)
        materials = {s: m for s in chosen if (m := _material_of(spec, s)) is not None}
        if not materials:
            return Page(items=[], total=0)
        if spec.project_id is None:
            raise IonworksError(
                f"Cell specification '{cell_spec_id}' has no project_id, so its related "
                "specs cannot be scoped to a project."
            )
        kwargs: dict[str, Any] = {}
        if slots is not None:
            kwargs = {f"{slot}_material_id": m for slot, m in materials.items()}
        else:
            kwargs["material_id"] = builtins.list(dict.fromkeys(materials.values()))
        return await self.list(
            include_components,
            limit,
            offset,
            project_id=spec.project_id,
            exclude_cell_spec_id=cell_spec_id if exclude_self else None,
            **kwargs,
        )

    async def create(self, data: dict[str, Any]) -> CellSpecification:
        """Create a specification from ``{name, …}`` (``project_id``: default the client's
        project). A name the project already has is a ``ConflictError`` naming the existing
        record (``error.data["detail"]["existing_id"]``; see :meth:`create_or_get`)."""
        body = dict(data)
        if not body.get("project_id"):
            body["project_id"] = await self._api.default_project_id(None)
        return _record(await self._api.post("/cell_specifications", body))

    async def create_or_get(self, data: dict[str, Any]) -> CellSpecification:
        """:meth:`create`, or the project's existing specification of that name."""
        try:
            return await self.create(data)
        except IonworksError as error:
            if not is_conflict(error):
                raise
            found = existing_id(error, "existing_cell_specification_id")
            if found is not None:
                return await self.get(found)
            name = data.get("name")
            if name:
                matches = await self.list(name_exact=name, project_id=data.get("project_id"))
                if matches:
                    return matches[0]
            raise ValueError(
                f"Cell specification '{name}' reported as duplicate but could not be found"
            ) from error

    async def update(self, cell_spec_id: str, data: dict[str, Any]) -> CellSpecification:
        """Change fields of a specification (a new name must be free in its project)."""
        result = await self._api.patch(f"/cell_specifications/{seg(cell_spec_id)}", data)
        return _record(result)

    async def delete(self, cell_spec_id: str) -> None:
        """Delete a specification. One that still has cell instances is a ``ConflictError``
        (409): delete its instances first."""
        await self._api.delete(f"/cell_specifications/{seg(cell_spec_id)}")
