"""Filling a pipeline element's diagnostics (``client.pipeline.element_result``): not part of
the public surface.

From the element's job: the metadata (once: the trace, the posterior and the plot manifest
are all in it), every plot the manifest lists, and every recorded series (each objective and
source), as the official client's lazy fetchers read them, but all at once. A job that
recorded nothing (404) gives empty diagnostics. The elements of a pipeline share its job, so
only the objectives this element recorded are kept (``<objective>``, or
``<element>/<objective>`` when another element has an objective of that name).
"""

from __future__ import annotations

from typing import Any

from ionworks.errors import NotFoundError
from ionworks.models.fit_results import ElementResult
from ionworks.resources.job import AsyncJobs

__all__ = ["DIAGNOSED", "fill"]

#: Element kinds (display labels, lower case) whose jobs record diagnostics.
DIAGNOSED = ("data fit", "validation")
POSTERIOR_KEYS = ("samples", "sample_costs", "sample_param_names", "sample_burnin")


def _own(name: str, result: dict[str, Any]) -> set[str]:
    """The series keys of this element's objectives."""
    objectives = result.get("validation_results")
    names = list(objectives) if isinstance(objectives, dict) else []
    return {*names, *(f"{name}/{objective}" for objective in names)}


async def _overlay(
    jobs: AsyncJobs, job_id: str, metadata: dict[str, Any], own: set[str]
) -> dict[str, Any]:
    manifest = (metadata.get("validation_plot_config") or {}).get("objectives") or {}
    overlay: dict[str, Any] = {}
    for objective, entry in manifest.items():
        if objective not in own:
            continue
        entry = entry if isinstance(entry, dict) else {}
        count = entry.get("plot_count")
        plots = []
        for index in range(count if isinstance(count, int) else 0):
            try:
                plots.append(await jobs.get_plot_data(job_id, objective, index))
            except NotFoundError:
                break
        if plots:
            overlay[objective] = {"type": entry.get("type"), "plots": plots}
    return overlay


async def _series(jobs: AsyncJobs, job_id: str, own: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for objective, sources in (await jobs.get_series_channels(job_id)).items():
        if objective not in own:
            continue
        got = {source: await jobs.get_series(job_id, objective, source) for source in sources}
        out[objective] = {source: series for source, series in got.items() if series}
    return out


async def fill(
    jobs: AsyncJobs, name: str, raw: Any, element: dict[str, Any] | None
) -> ElementResult:
    """The element's :class:`ElementResult` (``element``: its entry of ``GET
    /pipelines/{id}/elements``, for the job id and type)."""
    element = element or {}
    job_id = element.get("job_id") if isinstance(element.get("job_id"), str) else None
    kind = element.get("element_type") if isinstance(element.get("element_type"), str) else None
    result = dict(raw) if isinstance(raw, dict) else {}
    if job_id is None or (kind or "").lower() not in DIAGNOSED:
        return ElementResult(name, kind, job_id, result)
    try:
        metadata = await jobs.get_metadata(job_id)
    except NotFoundError:
        return ElementResult(name, kind, job_id, result)
    trace = metadata.get("intermediate_results") if kind == "Data Fit" else None
    sampled = isinstance(result.get("chains"), list) and isinstance(metadata.get("samples"), dict)
    own = _own(name, result)
    return ElementResult(
        name,
        kind,
        job_id,
        result,
        overlay=await _overlay(jobs, job_id, metadata, own),
        series=await _series(jobs, job_id, own),
        trace=[row for row in trace if isinstance(row, dict)] if isinstance(trace, list) else [],
        posterior={k: metadata.get(k) for k in POSTERIOR_KEYS} if sampled else {},
    )
