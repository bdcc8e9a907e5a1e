"""``client.parameterized_model``: models with parameter values (``/parameterized_models``)."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.models import Page, ParameterizedModel, structure
from ionworks.resources._base import AsyncResource, expect, seg

__all__ = ["AsyncParameterizedModels"]


def _item_path(cell_spec_id: str | None, model_id: str) -> str:
    if cell_spec_id:
        return f"/cells/{seg(cell_spec_id)}/parameterized_models/{seg(model_id)}"
    return f"/parameterized_models/{seg(model_id)}"


def _parameters_json(parameters: Any) -> Any:
    """A ``pybamm.ParameterValues`` or set name (``"Chen2020"``) as JSON; dicts unchanged."""
    if isinstance(parameters, str):
        import os

        os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
        import pybamm

        parameters = pybamm.ParameterValues(parameters)
    to_json = getattr(parameters, "to_json", None)
    return to_json() if callable(to_json) else parameters


class AsyncParameterizedModels(AsyncResource):
    """Parameterized models: a model plus parameter values, referenced by simulations."""

    async def get(self, parameterized_model_id: str) -> ParameterizedModel:
        """One parameterized model."""
        data = await self._api.get(f"/parameterized_models/{seg(parameterized_model_id)}")
        return structure(data, ParameterizedModel, what="parameterized model")

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        cell_spec_id: str | None = None,
        summary: bool | None = None,
    ) -> Page[ParameterizedModel]:
        """Parameterized models of a project (built-ins such as "Chen2020 SPMe" included;
        without ``limit``: all of them)."""
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "cell_spec_id": cell_spec_id,
            "limit": limit,
            "offset": offset,
            "summary": True if summary else None,
        }
        return await self._list(
            "/parameterized_models", params, ParameterizedModel, what="parameterized model list"
        )

    async def list_by_project(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        cell_spec_id: str | None = None,
        summary: bool | None = None,
    ) -> Page[ParameterizedModel]:
        """The official client's name for :meth:`list`."""
        return await self.list(
            project_id, limit, offset, cell_spec_id=cell_spec_id, summary=summary
        )

    async def create(self, cell_spec_id: str | None, data: dict[str, Any]) -> ParameterizedModel:
        """Create from ``{name, model_id, parameters?, description?, simulation_settings?}``.

        ``parameters`` may be a ``pybamm.ParameterValues`` or a PyBaMM set name.
        """
        if not isinstance(data, dict) or not data.get("name"):
            raise ValueError("parameterized_model.create() needs a dict with a 'name'")
        body = dict(data)
        if "parameters" in body:
            body["parameters"] = _parameters_json(body["parameters"])
        if cell_spec_id:
            path = f"/cells/{seg(cell_spec_id)}/parameterized_models"
        else:
            path = "/parameterized_models"
            body["project_id"] = await self._api.default_project_id(body.get("project_id"))
        result = await self._api.post(path, body)
        return structure(result, ParameterizedModel, what="parameterized model")

    async def update(
        self, cell_spec_id: str | None, parameterized_model_id: str, data: dict[str, Any]
    ) -> ParameterizedModel:
        """Change fields of a parameterized model."""
        result = await self._api.patch(_item_path(cell_spec_id, parameterized_model_id), data)
        return structure(result, ParameterizedModel, what="parameterized model")

    async def delete(self, cell_spec_id: str | None, parameterized_model_id: str) -> None:
        """Delete a parameterized model."""
        await self._api.delete(_item_path(cell_spec_id, parameterized_model_id))

    async def get_parameter_values(self, parameterized_model_id: str) -> dict[str, Any]:
        """The parameter values as a dict."""
        data = await self._api.get(
            f"/parameterized_models/{seg(parameterized_model_id)}/parameter-values"
        )
        return expect(data, dict, what="parameter values")

    async def get_variable_names(self, parameterized_model_id: str) -> builtins.list[str]:
        """Names of the model's output variables."""
        data = await self._api.get(
            f"/parameterized_models/{seg(parameterized_model_id)}/variable-names"
        )
        return [str(x) for x in expect(data, list, what="variable names")]
