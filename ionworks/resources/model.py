"""``client.model``: models (``/models``) — a model type and options without parameters."""

from __future__ import annotations

from typing import Any

from ionworks.models import Model, Page, structure
from ionworks.resources._base import AsyncResource, filter_params, seg

__all__ = ["AsyncModels", "model_config"]


def model_config(config: Any) -> Any:
    """A PyBaMM model object as ``{"type": ClassName, "options": {...}}``; dicts unchanged."""
    if isinstance(config, dict):
        return config
    to_config = getattr(config, "to_config", None)
    if callable(to_config):
        return to_config()
    options = getattr(config, "options", None)
    if options is not None:
        return {
            "type": type(config).__name__,
            "options": {k: v for k, v in dict(options).items() if v is not None},
        }
    raise TypeError(
        f"model config must be a dict or a built-in PyBaMM model, got {type(config).__name__}"
    )


class AsyncModels(AsyncResource):
    """Models of a project."""

    async def get(self, model_id: str) -> Model:
        """One model."""
        return structure(await self._api.get(f"/models/{seg(model_id)}"), Model, what="model")

    async def list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        *,
        project_id: str | None = None,
        name: str | None = None,
        name_exact: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Model]:
        """Models of the project (without ``limit``: all of them)."""
        params = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "offset": offset,
            **filter_params(name=name, name_exact=name_exact, order_by=order_by, order=order),
        }
        return await self._list("/models", params, Model, what="model list")

    async def create(self, data: dict[str, Any]) -> Model:
        """Create from ``{name, config, description?}``; ``config`` may be a PyBaMM model."""
        if not isinstance(data, dict) or not data.get("name"):
            raise ValueError("model.create() needs a dict with a 'name' and a 'config'")
        body = {**data, "config": model_config(data.get("config", {}))}
        body["project_id"] = await self._api.default_project_id(body.get("project_id"))
        return structure(await self._api.post("/models", body), Model, what="model")

    async def update(self, model_id: str, data: dict[str, Any]) -> Model:
        """Change fields of a model."""
        return structure(
            await self._api.patch(f"/models/{seg(model_id)}", data), Model, what="model"
        )

    async def delete(self, model_id: str) -> None:
        """Delete a model."""
        await self._api.delete(f"/models/{seg(model_id)}")
