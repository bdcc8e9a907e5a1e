"""``client.simple_pipeline``: one data fit or validation as a single fire-and-forget job."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar, overload

from ionworks.data_refs import prepare_outbound
from ionworks.models import Page, SimplePipeline
from ionworks.resources._pipeline_base import AsyncPipelineBase

__all__ = ["AsyncSimplePipelines"]


class AsyncSimplePipelines(AsyncPipelineBase[SimplePipeline]):
    """Submit and manage simple pipelines."""

    _record = SimplePipeline
    _path: ClassVar[str] = "/simple_pipelines"
    _what: ClassVar[str] = "simple pipeline"
    _label: ClassVar[str] = "SimplePipeline"
    _argument: ClassVar[str] = "simple_pipeline_id"

    async def create(
        self,
        config: Any,
        project_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> SimplePipeline:
        """Submit a simple pipeline (at most one ``data_fit`` or ``validation`` element).

        ``project_id``, ``name``, ``description`` and ``options`` found in the config are lifted
        out of it; explicit arguments win. ``options={"live_progress_updates": bool}`` controls
        checkpointing (default ``None``: the worker decides).
        """
        base, lifted = self._lift(config, project_id, name, description, options)
        body: dict[str, Any] = {
            "project_id": await self._api.default_project_id(lifted["project_id"]),
            "config": prepare_outbound(base),
        }
        body.update(
            {k: lifted[k] for k in ("name", "description", "options") if lifted[k] is not None}
        )
        return self._structure(await self._api.post("/simple_pipelines", body))

    async def get(self, simple_pipeline_id: str) -> SimplePipeline:
        """The simple pipeline record; ``result`` holds ``parameter_values`` when completed."""
        return await self._get_record(simple_pipeline_id)

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = 10,
        offset: int = 0,
        name: str | None = None,
        description: str | None = None,
        status: str | None = None,
        created_by_email: str | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        created_at_gt: str | None = None,
        created_at_lt: str | None = None,
        updated_at_gt: str | None = None,
        updated_at_lt: str | None = None,
        order_by: str = "created_at",
        order: str = "desc",
    ) -> Page[SimplePipeline]:
        """A page (``items``, ``count``, ``total``) of simple pipelines: the newest 10 by
        default (the official client's default), ``limit=None`` for every one (read in pages
        of 1,000).

        String filters take an exact value or supabase operators: ``ilike.%foo%``,
        ``in.(completed,failed)``, ``gt.2026-05-01``.
        """
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        params: dict[str, Any] = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "offset": offset,
            "name": name,
            "description": description,
            "status": status,
            "created_by_email": created_by_email,
            "created_at": created_at,
            "updated_at": updated_at,
            "created_at_gt": created_at_gt,
            "created_at_lt": created_at_lt,
            "updated_at_gt": updated_at_gt,
            "updated_at_lt": updated_at_lt,
            "order_by": order_by,
            "order": order,
        }
        return await self._list(
            "/simple_pipelines", params, SimplePipeline, what="simple pipeline list"
        )

    async def update(
        self,
        simple_pipeline_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> SimplePipeline:
        """Rename or describe (PATCH; at least one field is required)."""
        return await self._update_record(simple_pipeline_id, name, description)

    async def cancel(self, simple_pipeline_id: str) -> SimplePipeline:
        """Cancel a pending or running simple pipeline."""
        return await self._cancel_record(simple_pipeline_id)

    async def delete(self, simple_pipeline_id: str) -> None:
        """Permanently delete the simple pipeline, its job and stored config."""
        await self._delete_record(simple_pipeline_id)

    @overload
    async def wait_for_completion(
        self,
        simple_pipeline_id: str,
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> SimplePipeline: ...
    @overload
    async def wait_for_completion(
        self,
        simple_pipeline_id: Sequence[str],
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> builtins.list[SimplePipeline]: ...
    async def wait_for_completion(
        self,
        simple_pipeline_id: str | Sequence[str],
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> SimplePipeline | builtins.list[SimplePipeline]:
        """Poll until terminal (``completed``, ``failed`` or ``canceled``); return the record.

        ``failed`` with ``raise_on_failure=True`` raises an ``IonworksError`` carrying the server
        error; not finishing within ``timeout`` raises ``TimeoutError``.
        """
        return await self._wait(
            simple_pipeline_id, timeout, poll_interval, verbose, raise_on_failure
        )
