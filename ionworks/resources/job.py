"""``client.job``: job records behind simulations and pipelines, and a fit's diagnostics
(recorded series, plots, parameter trace, posterior samples)."""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Mapping
from typing import Any

from ionworks.errors import NotFoundError
from ionworks.models import Job, structure
from ionworks.resources._base import AsyncResource, expect, seg

__all__ = ["AsyncJobs"]


class AsyncJobs(AsyncResource):
    """Read and cancel jobs. Read a fit's diagnostics: series, plots, trace, posterior."""

    async def create(self, payload: Any) -> Job:
        """Deprecated: submit a job directly (``{job_type, params, priority=5,
        callback_url?}``, a mapping or an object with ``model_dump()``). Servers reject direct
        submissions (an ``IonworksError`` with status 410): start work with
        ``client.pipeline``, ``client.simulation`` instead."""
        warnings.warn(
            "job.create is deprecated: servers reject direct job submissions; use "
            "client.pipeline or client.simulation to start work",
            DeprecationWarning,
            stacklevel=2,
        )
        dump = getattr(payload, "model_dump", None)
        body = dump(exclude_none=True) if callable(dump) else payload
        if not isinstance(body, Mapping) or not isinstance(body.get("job_type"), str):
            raise ValueError(
                "payload must be a mapping (or have model_dump()) with 'job_type' (str), "
                f"'params' (dict), 'priority' (int, default 5); got {type(payload).__name__}"
            )
        body = {"priority": 5, **{k: v for k, v in body.items() if v is not None}}
        return structure(await self._api.post("/jobs/", body), Job, what="job")

    async def get(self, job_id: str) -> Job:
        """The job record."""
        return structure(await self._api.get(f"/jobs/{seg(job_id)}"), Job, what="job")

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: queued work never starts; running work is stopped where possible."""
        return structure(await self._api.post(f"/jobs/{seg(job_id)}/cancel", {}), Job, what="job")

    async def list(self, limit: int | None = None, offset: int | None = None) -> builtins.list[Job]:
        """Jobs this key can see, newest first: every one (read in pages of 1,000), or at most
        ``limit`` from ``offset``."""
        params = {"limit": limit, "offset": offset}
        page = await self._list("/jobs/", params, Job, what="job", array=True)
        return page.items

    async def get_metadata(self, job_id: str) -> dict[str, Any]:
        """Free-form metadata of a job (e.g. fit traces)."""
        data = await self._api.get(f"/jobs/{seg(job_id)}/metadata")
        return data if isinstance(data, dict) else {}

    async def get_series_channels(self, job_id: str) -> dict[str, dict[str, builtins.list[str]]]:
        """The model-vs-data series a job recorded, names only: ``{objective: {source:
        [channel, ...]}}`` (``source``: ``"optimal"`` or ``"baseline"``); empty when it
        recorded none."""
        data = await self._api.get(f"/jobs/{seg(job_id)}/series/channels")
        return expect(data, dict, what="job series channels")

    async def get_series(
        self,
        job_id: str,
        objective: str,
        source: str = "optimal",
        columns: builtins.list[str] | None = None,
        x_column: str | None = None,
        max_points: int | None = None,
        x_min: float | None = None,
        x_max: float | None = None,
    ) -> dict[str, builtins.list[Any]]:
        """One objective's series, ``{channel: [values]}`` (equal lengths): ``x_column``
        (default: the objective's own x, ``"Time [s]"``) and ``columns`` (default: every
        channel), within ``x_min``..``x_max``, thinned to at most ``max_points`` rows."""
        params = {
            "objective": objective,
            "source": source,
            "columns": ",".join(columns) if columns else None,
            "x_column": x_column,
            "max_points": max_points,
            "x_min": x_min,
            "x_max": x_max,
        }
        data = await self._api.get(f"/jobs/{seg(job_id)}/series", params=params)
        return expect(data, dict, what="job series")

    async def get_plot_data(
        self,
        job_id: str,
        objective_name: str,
        plot_index: int = 0,
        max_points: int = 2000,
        x_min: float | None = None,
        x_max: float | None = None,
    ) -> dict[str, Any]:
        """One model-vs-data plot of a fit objective: ``{"traces": [{"name", "x", "y"}],
        "layout": ...}`` (plot 0: data, fit and baseline; plot 1: the error), each trace
        windowed to ``x_min``..``x_max`` and thinned to at most ``max_points`` points
        (100..80,000). ``NotFoundError`` when the job has no such objective or plot."""
        window = {"max_points": max_points, "x_min": x_min, "x_max": x_max}
        params = {"objective_name": objective_name, "plot_index": plot_index, **window}
        data = await self._api.get(f"/pipelines/datafits/{seg(job_id)}/plot_data", params=params)
        return expect(data, dict, what="job plot data")

    async def get_parameter_trace(self, job_id: str) -> builtins.list[dict[str, Any]]:
        """A fit's per-iteration trace, oldest first: ``iteration``, ``evaluations``,
        ``cost`` (the iteration's best), ``best_cost`` (so far), ``inputs`` (unit-scaled)
        and ``inputs_unscaled`` (parameter values) of the iteration's best point, and
        ``parameter_values`` (the best so far). Thinned evenly to at most 500 rows; empty
        when the job recorded none."""
        trace = (await self.get_metadata(job_id)).get("intermediate_results")
        return [row for row in trace if isinstance(row, dict)] if isinstance(trace, list) else []

    async def get_posterior_samples(self, job_id: str) -> dict[str, Any]:
        """A sampler fit's chains: ``samples`` (``{parameter: [[draw, ...] per walker]}``),
        ``sample_costs`` (negative log-likelihood per draw, same shape),
        ``sample_param_names`` and ``sample_burnin`` (draws per walker to discard). Empty for
        a fit by an optimiser, any other job, and an unknown job (404)."""
        try:
            metadata = await self.get_metadata(job_id)
        except NotFoundError:
            return {}
        samples = metadata.get("samples")
        if not isinstance(samples, dict):
            return {}
        keys = ("sample_costs", "sample_param_names", "sample_burnin")
        return {"samples": samples, **{key: metadata.get(key) for key in keys}}
