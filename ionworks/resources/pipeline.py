"""``client.pipeline``: parameterisation pipelines (data fits, calculations, validations)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from typing import Any, overload

from ionworks._waiting import wait_records
from ionworks.data_refs import prepare_outbound
from ionworks.errors import APIResponseValidationError, IonworksError, PermissionDeniedError
from ionworks.models import Page, Pipeline, PipelineElement, PipelineResult, structure
from ionworks.resources._base import AsyncResource, seg

__all__ = ["AsyncPipelines", "split_config"]

PIPELINE_KEYS = ("elements", "output_file", "name", "description")


def split_config(
    config: Any, explicit: Mapping[str, Any], lifted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lift ``lifted`` keys out of a config dict; explicit (non-None) arguments win."""
    to_config = getattr(config, "to_config", None)
    if callable(to_config):
        base: dict[str, Any] = dict(to_config())
        defaults = {k: getattr(config, k, None) for k in lifted}
    elif isinstance(config, Mapping):
        base = dict(config)
        defaults = {k: base.pop(k, None) for k in lifted}
    else:
        raise ValueError(
            f"config must be a dict (or a schema object with to_config()), "
            f"got {type(config).__name__}"
        )
    values = {
        k: explicit.get(k) if explicit.get(k) is not None else defaults.get(k) for k in lifted
    }
    return base, values


def check_elements(config: Mapping[str, Any]) -> None:
    elements = config.get("elements")
    if not isinstance(elements, Mapping):
        raise ValueError(
            "Pipeline elements must be a dictionary (not a list): "
            '{"<element name>": {"element_type": ..., ...}}; '
            f"got {type(elements).__name__}"
        )
    for name, element in elements.items():
        if not isinstance(element, Mapping):
            raise ValueError(
                f"Pipeline element {name!r} must be a dict, got {type(element).__name__}"
            )


class AsyncPipelines(AsyncResource):
    """Create, inspect and manage pipelines."""

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
        base, lifted = split_config(
            config,
            {
                "project_id": project_id,
                "name": name,
                "description": description,
                "options": options,
            },
            ("project_id", "name", "description", "options"),
        )
        unknown = sorted(set(base) - set(PIPELINE_KEYS))
        if unknown:
            raise ValueError(
                f"Invalid pipeline configuration: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(PIPELINE_KEYS)}, project_id, options"
            )
        check_elements(base)
        pid = await self._project_id(lifted["project_id"])
        body = prepare_outbound(base)
        body.update({k: lifted[k] for k in ("name", "description") if lifted[k] is not None})
        body["project_id"] = pid
        body["options"] = dict(lifted["options"] or {})
        try:
            data = await self._post("/pipelines", body)
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
        return structure(data, Pipeline, what="pipeline")

    async def get(self, pipeline_id: str) -> Pipeline:
        """The pipeline record (status, is_terminal, is_failed, error)."""
        return structure(
            await self._get(f"/pipelines/{seg(pipeline_id)}"), Pipeline, what="pipeline"
        )

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
            "project_id": await self._project_id(project_id),
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
        body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        if not body:
            raise ValueError("update() needs at least one of name or description")
        data = await self._patch(f"/pipelines/{seg(pipeline_id)}", body)
        return structure(data, Pipeline, what="pipeline")

    async def result(self, pipeline_id: str) -> PipelineResult:
        """The final result and each element's result (``element_results`` by element name)."""
        data = await self._get(f"/pipelines/{seg(pipeline_id)}/result")
        return structure(data, PipelineResult, what="pipeline result")

    async def elements(self, pipeline_id: str) -> builtins.list[PipelineElement]:
        """The pipeline's elements with their job ids, types and progress."""
        data = await self._get(f"/pipelines/{seg(pipeline_id)}/elements")
        if not isinstance(data, list):
            raise APIResponseValidationError(
                f"Unexpected response for pipeline elements: {type(data).__name__}"
            )
        return [structure(item, PipelineElement, what="pipeline element") for item in data]

    async def cancel(self, pipeline_id: str) -> Pipeline:
        """Cancel a pending or running pipeline."""
        data = await self._post(f"/pipelines/{seg(pipeline_id)}/cancel", {})
        return structure(data, Pipeline, what="pipeline")

    async def delete(self, pipeline_id: str) -> None:
        """Delete a pipeline."""
        await self._delete(f"/pipelines/{seg(pipeline_id)}")

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
        result: Pipeline | builtins.list[Pipeline] = await wait_records(
            pipeline_id,
            self.get,
            timeout=timeout,
            poll_interval=poll_interval,
            verbose=verbose,
            raise_on_failure=raise_on_failure,
            label="Pipeline",
            argument="pipeline_id",
        )
        return result
