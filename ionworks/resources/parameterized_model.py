"""``client.parameterized_model``: models with parameter values (``/parameterized_models``, and
``/cells/{spec}/parameterized_models`` for those of a cell specification)."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.errors import IonworksError
from ionworks.models import Page, ParameterizedModel, structure
from ionworks.resources._base import AsyncResource, existing_id, expect, is_conflict, seg
from ionworks.resources._model_payloads import normalized

__all__ = ["AsyncParameterizedModels"]


def _item_path(cell_spec_id: str | None, model_id: str) -> str:
    if cell_spec_id is not None:
        return f"/cells/{seg(cell_spec_id)}/parameterized_models/{seg(model_id)}"
    return f"/parameterized_models/{seg(model_id)}"


def _record(data: Any) -> ParameterizedModel:
    return structure(data, ParameterizedModel, what="parameterized model")


class AsyncParameterizedModels(AsyncResource):
    """Parameterized models: a model plus parameter values, referenced by simulations."""

    async def get(self, parameterized_model_id: str) -> ParameterizedModel:
        """One parameterized model (the built-in ones too, e.g. ``"chen2020-spme"``)."""
        return _record(await self._api.get(_item_path(None, parameterized_model_id)))

    async def list_by_cell_specification(
        self,
        cell_spec_id: str,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[ParameterizedModel]:
        """The parameterized models of a cell specification (without ``limit``: all of them)."""
        return await self._list(
            f"/cells/{seg(cell_spec_id)}/parameterized_models",
            {"limit": limit, "offset": offset},
            ParameterizedModel,
            what="parameterized model list",
        )

    async def list_by_project(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        cell_spec_id: str | None = None,
        summary: bool = False,
    ) -> Page[ParameterizedModel]:
        """Parameterized models of a project, built-in ones (e.g. "Chen2020 SPMe") included
        unless ``cell_spec_id`` is given (without ``limit``: all of them). ``summary``: only
        ids, names, descriptions, ``cell_spec_id``, ``model_id``, ``model_name`` and
        timestamps, without the parameter values."""
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "cell_spec_id": cell_spec_id,
            "limit": limit,
            "offset": offset,
            "summary": "true" if summary else None,
        }
        return await self._list(
            "/parameterized_models", params, ParameterizedModel, what="parameterized model list"
        )

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        cell_spec_id: str | None = None,
        summary: bool = False,
    ) -> Page[ParameterizedModel]:
        """Same as :meth:`list_by_project`."""
        return await self.list_by_project(
            project_id, limit, offset, cell_spec_id=cell_spec_id, summary=summary
        )

    async def create(self, cell_spec_id: str | None, data: dict[str, Any]) -> ParameterizedModel:
        """Create from ``{name, model_id, parameters?, description?, simulation_settings?,
        project_id?}`` under the cell specification ``cell_spec_id``, or (``None``) in
        ``data["project_id"]``, default: the client's project.

        ``model_id``: a built-in model type (``"SPMe"``), a built-in parameterized model
        (``"chen2020-spme"``, whose parameter set the values then change) or a model of
        yours. ``parameters`` may be a ``pybamm.ParameterValues`` or a PyBaMM set name;
        ``simulation_settings`` a ``SimulationSettings`` object or its config dict. The
        server checks the values against PyBaMM (unknown names come back with their close
        matches). Under a cell specification, a name is unique (a 409 ``CONFLICT``; see
        :meth:`create_or_get`).
        """
        body = normalized(data, parameters=True)
        if cell_spec_id is not None:
            path = f"/cells/{seg(cell_spec_id)}/parameterized_models"
        else:
            path = "/parameterized_models"
            body["project_id"] = await self._api.default_project_id(body.get("project_id"))
        return _record(await self._api.post(path, body))

    async def create_or_get(self, cell_spec_id: str, data: dict[str, Any]) -> ParameterizedModel:
        """:meth:`create`, or the cell specification's parameterized model of the same name
        if there is one (so that setup scripts can run again)."""
        try:
            return await self.create(cell_spec_id, data)
        except IonworksError as error:
            if not is_conflict(error):
                raise
            existing = existing_id(error)
            if existing is not None:
                return await self.get(existing)
            name = data.get("name") if isinstance(data, dict) else None
            if name:
                for model in await self.list_by_cell_specification(cell_spec_id):
                    if model.name == name:
                        return model
            raise IonworksError(
                f"Parameterized model '{name}' reported as duplicate but could not be found"
            ) from error

    async def update(
        self, cell_spec_id: str | None, parameterized_model_id: str, data: dict[str, Any]
    ) -> ParameterizedModel:
        """Change ``name``, ``description`` or ``simulation_settings`` (``None`` clears them).
        ``cell_spec_id``: the model's cell specification, or ``None`` if it has none (a
        mismatch is a 404)."""
        path = _item_path(cell_spec_id, parameterized_model_id)
        return _record(await self._api.patch(path, normalized(data)))

    async def delete(self, cell_spec_id: str | None, parameterized_model_id: str) -> None:
        """Delete a parameterized model, addressed under its cell specification if it has
        one (a mismatch is a 404)."""
        await self._api.delete(_item_path(cell_spec_id, parameterized_model_id))

    async def get_parameter_values(self, parameterized_model_id: str) -> dict[str, Any]:
        """The parameter values as a dict."""
        data = await self._api.get(f"{_item_path(None, parameterized_model_id)}/parameter-values")
        return expect(data, dict, what="parameter values")

    async def get_variable_names(self, parameterized_model_id: str) -> builtins.list[str]:
        """Names of the model's output variables."""
        data = await self._api.get(f"{_item_path(None, parameterized_model_id)}/variable-names")
        return [str(x) for x in expect(data, list, what="variable names")]
