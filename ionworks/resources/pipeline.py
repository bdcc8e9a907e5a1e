"""``client.pipeline``: parameterisation pipelines (data fits, calculations, validations)."""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from typing import Any, ClassVar, overload

from ionworks.data_refs import prepare_outbound
from ionworks.errors import IonworksError, PermissionDeniedError
from ionworks.models import Page, Pipeline, PipelineElement, PipelineResult, structure
from ionworks.models.fit_results import ElementResult
from ionworks.resources._base import expect, seg
from ionworks.resources._fit_results import fill
from ionworks.resources._pipeline_base import AsyncPipelineBase, split_config
from ionworks.resources.job import AsyncJobs

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

    @property
    def _jobs(self) -> AsyncJobs:
        """The job requests the element helpers delegate to (``client.job``'s)."""
        return AsyncJobs(self._api)

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

    async def get(self, job_id: str) -> Pipeline:
        """The pipeline record (status, is_terminal, is_failed, error); ``job_id`` is the
        pipeline's id (the official client's name for it)."""
        return await self._get_record(job_id)

    async def list(
        self,
        project_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        id: str | None = None,
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
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Pipeline]:
        """Pipelines of a project, newest first (``order_by``/``order`` change that).

        The filters pass through as the server's query parameters: a plain value is an exact
        match, or write an operator (``status="in.(completed,failed)"``,
        ``name="ilike.%fit%"``, ``created_at="gte.2025-01-01"``); ``created_at_gt`` … are
        plain bounds. Without ``limit``, every matching pipeline (read in pages of 1,000).
        """
        filters = {
            "id": id, "name": name, "description": description, "status": status,
            "created_by_email": created_by_email, "created_at": created_at,
            "updated_at": updated_at, "created_at_gt": created_at_gt,
            "created_at_lt": created_at_lt, "updated_at_gt": updated_at_gt,
            "updated_at_lt": updated_at_lt, "order_by": order_by, "order": order,
        }  # fmt: skip
        params: dict[str, Any] = {
            "project_id": await self._api.default_project_id(project_id),
            "limit": limit,
            "skip": offset,
            **{key: value for key, value in filters.items() if value is not None},
        }
        return await self._list(
            "/pipelines", params, Pipeline, key="pipelines", offset_key="skip", what="pipeline list"
        )

    async def update(
        self, pipeline_id: str, name: str | None = None, description: str | None = None
    ) -> Pipeline:
        """Rename or describe a pipeline (at least one field)."""
        return await self._update_record(pipeline_id, name, description)

    async def result(self, job_id: str) -> PipelineResult:
        """The final result and each element's result (``element_results`` by element name);
        ``job_id`` is the pipeline's id (the official client's name for it)."""
        data = await self._api.get(f"/pipelines/{seg(job_id)}/result")
        return structure(data, PipelineResult, what="pipeline result")

    async def element_result(self, pipeline_id: str, element_name: str) -> ElementResult:
        """One element's result with its diagnostics filled: model-vs-data ``series`` and
        ``overlay`` plots (fits and validations), the ``trace`` (fits) and the ``posterior``
        samples (sampler fits). ``ValueError`` for an unknown element name."""
        results = await self.element_results(pipeline_id, [element_name])
        return results[element_name]

    async def element_results(
        self, pipeline_id: str, element_names: builtins.list[str] | None = None
    ) -> dict[str, ElementResult]:
        """:meth:`element_result` of every element (or of ``element_names``), by name."""
        result = await self.result(pipeline_id)
        listing = await self._api.get(f"/pipelines/{seg(pipeline_id)}/elements")
        elements = {
            e.get("name"): e for e in expect(listing, list, what="pipeline elements", items=dict)
        }
        names = list(result.element_results) if element_names is None else element_names
        unknown = [n for n in names if n not in result.element_results and n not in elements]
        if unknown:
            raise ValueError(f"No element named {unknown[0]!r} found in pipeline {pipeline_id}.")
        return {
            name: await fill(self._jobs, name, result.element_results.get(name), elements.get(name))
            for name in names
        }

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

    async def get_element_metadata(
        self,
        pipeline_id: str,
        element_name: str,
        elements: builtins.list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The metadata of the job behind the named element (``client.job.get_metadata``).
        ``elements``: the pipeline's elements, already fetched (``GET
        /pipelines/{id}/elements``), to save a request per call."""
        job_id = await self._element_job_id(pipeline_id, element_name, elements)
        return await self._jobs.get_metadata(job_id)

    async def get_element_series_channels(
        self,
        pipeline_id: str,
        element_name: str,
        elements: builtins.list[dict[str, Any]] | None = None,
    ) -> dict[str, dict[str, builtins.list[str]]]:
        """``{objective: {source: [channel, ...]}}`` of the series the named element's job
        recorded (``client.job.get_series_channels``)."""
        job_id = await self._element_job_id(pipeline_id, element_name, elements)
        return await self._jobs.get_series_channels(job_id)

    async def get_element_series(
        self,
        pipeline_id: str,
        element_name: str,
        objective: str,
        elements: builtins.list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> dict[str, builtins.list[Any]]:
        """One objective's model-vs-data series of the named element's job
        (``client.job.get_series``; ``kwargs``: its ``source``, ``columns``, ``x_column``,
        ``max_points``, ``x_min``, ``x_max``)."""
        job_id = await self._element_job_id(pipeline_id, element_name, elements)
        return await self._jobs.get_series(job_id, objective, **kwargs)

    async def _element_job_id(
        self,
        pipeline_id: str,
        element_name: str,
        elements: builtins.list[dict[str, Any]] | None,
    ) -> str:
        """The job id behind a named element (``ValueError`` for an unknown name or an
        element with no job)."""
        if elements is None:
            data = await self._api.get(f"/pipelines/{seg(pipeline_id)}/elements")
            elements = expect(data, list, what="pipeline elements", items=dict)
        for element in elements:
            if isinstance(element, dict) and element.get("name") == element_name:
                job_id = element.get("job_id")
                if not job_id or not isinstance(job_id, str):
                    raise ValueError(
                        f"Element {element_name!r} in pipeline {pipeline_id} has no associated "
                        "job; it may not have run yet."
                    )
                return job_id
        raise ValueError(f"No element named {element_name!r} found in pipeline {pipeline_id}.")

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
