"""``client.pipeline``: parameterisation pipelines (data fits, calculations, validations)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Any, ClassVar, overload

from ionworks.data_refs import prepare_outbound
from ionworks.errors import IonworksError, PermissionDeniedError
from ionworks.models import Page, Pipeline, PipelineElement, PipelineResult, structure
from ionworks.resources._base import expect, seg
from ionworks.resources._pipeline_base import AsyncPipelineBase, split_config

__all__ = ["AsyncPipelines", "split_config"]

PIPELINE_KEYS = ("elements", "output_file", "name", "description")


class AsyncPipelines(AsyncPipelineBase[Pipeline]):
    """Create, inspect and manage pipelines."""

    _record = Pipeline
    _path: ClassVar[str] = "/pipelines"
    _what: ClassVar[str] = "pipeline"
    _label: ClassVar[str] = "Pipeline"
    _argument: ClassVar[str] = "pipeline_id"
    _config_keys: ClassVar[tuple[str, ...] | None] = PIPELINE_KEYS

    async def create(
        self,
        config: Any,
        *,
        project_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> Pipeline:
        """Submit a pipeline. ``project_id``, ``name``, ``description`` and ``options`` may also
        sit in the config dict; explicit arguments win. PyBaMM models, ``file:``/``folder:``
        references and small DataFrames in the config are serialised client-side."""
        base, lifted = self._lift(config, project_id, name, description, options)
        pid = await self._api.default_project_id(lifted["project_id"])
        body = prepare_outbound(base)
        body.update({k: lifted[k] for k in ("name", "description") if lifted[k] is not None})
        body["project_id"] = pid
        body["options"] = dict(lifted["options"] or {})
        try:
            data = await self._api.post("/pipelines", body)
        except PermissionDeniedError as exc:
            raise ValueError(
                f"Access denied: The project {pid!r} is not accessible with these credentials "
                f"({exc.message})"
            ) from exc
        except IonworksError as exc:
            match = re.search(r'invalid input syntax for type uuid: "([^"]*)"', str(exc.message))
            if match:
                raise ValueError(
                    f"Invalid project_id format: {match.group(1)!r} is not a valid project id"
                ) from exc
            raise
        return self._structure(data)

    async def get(self, pipeline_id: str) -> Pipeline:
        """The pipeline record (status, is_terminal, is_failed, error)."""
        return await self._get_record(pipeline_id)

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        **filters: str,
    ) -> Page[Pipeline]:
        """Pipelines of a project, newest first. Filters (``status="in.(completed,failed)"``,
        ``name="ilike.%fit%"``, ``created_at_gt=…``, ``order_by``, ``order``) pass through.
        Without ``limit``, every matching pipeline (read in pages of 1,000)."""
        params: dict[str, Any] = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "skip": offset,
            **filters,
        }
        return await self._list(
            "/pipelines", params, Pipeline, key="pipelines", offset_key="skip", what="pipeline list"
        )

    async def update(
        self, pipeline_id: str, name: str | None = None, description: str | None = None
    ) -> Pipeline:
        """Rename or describe a pipeline (at least one field)."""
        return await self._update_record(pipeline_id, name, description)

    async def result(self, pipeline_id: str) -> PipelineResult:
        """The final result and each element's result (``element_results`` by element name)."""
        data = await self._api.get(f"/pipelines/{seg(pipeline_id)}/result")
        return structure(data, PipelineResult, what="pipeline result")

    async def elements(self, pipeline_id: str) -> builtins.list[PipelineElement]:
        """The pipeline's elements with their job ids, types and progress."""
        data = await self._api.get(f"/pipelines/{seg(pipeline_id)}/elements")
        items = expect(data, list, what="pipeline elements")
        return [structure(item, PipelineElement, what="pipeline element") for item in items]

    async def cancel(self, pipeline_id: str) -> Pipeline:
        """Cancel a pending or running pipeline."""
        return await self._cancel_record(pipeline_id)

    async def delete(self, pipeline_id: str) -> None:
        """Delete a pipeline."""
        await self._delete_record(pipeline_id)

    @overload
    async def wait_for_completion(
        self,
        pipeline_id: str,
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> Pipeline: ...
    @overload
    async def wait_for_completion(
        self,
        pipeline_id: Sequence[str],
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> builtins.list[Pipeline]: ...
    async def wait_for_completion(
        self,
        pipeline_id: str | Sequence[str],
        timeout: float | None = 600,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> Pipeline | builtins.list[Pipeline]:
        """Poll until the pipeline(s) are terminal; return the final record(s).

        ``failed``/``canceled`` raise an ``IonworksError`` with the server's message unless
        ``raise_on_failure=False``; a timeout raises ``TimeoutError``.
        """
        return await self._wait(pipeline_id, timeout, poll_interval, verbose, raise_on_failure)
