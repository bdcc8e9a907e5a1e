"""``client.simulation``: run UCP protocols, list/get/delete, wait, and fetch results."""

from __future__ import annotations

import builtins
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any, overload

import anyio.to_thread

from ionworks import doe as _doe
from ionworks._concurrency import task_group
from ionworks._config import resolve_project_id
from ionworks._waiting import (
    Outcome,
    failure_error,
    gather_limited,
    id_list,
    poll_outcomes,
    wait_all,
)
from ionworks.errors import APIResponseValidationError, NotFoundError
from ionworks.models import Page, SimulationResponse, SimulationResult, structure
from ionworks.resources._base import expect, seg
from ionworks.resources._requests import Requests
from ionworks.resources._result_batches import ResultBatcher
from ionworks.resources._results import RESULT_ACCEPT, build_result, is_quick_to_decode
from ionworks.resources._simulation_config import (
    expected_count,
    normalize_parameterized_model,
    validate_config,
)
from ionworks.resources._simulation_results import AsyncSimulationResults

__all__ = ["AsyncSimulations"]

METRICS_CACHE = 20_000
STATUS_CHUNK = 1000
FAILED_STATUSES = frozenset({"failed", "canceled", "cancelled", "error"})
RESULT_PARTS = ("metrics", "time_series", "steps")  # of the result bundle


class AsyncSimulations(AsyncSimulationResults):
    """Run simulations of UCP protocols on parameterized models (many results at once:
    :meth:`get_results`, :meth:`iter_results`)."""

    def __init__(self, api: Requests) -> None:
        super().__init__(api)
        # Metrics of simulations a wait saw completed: a completed record never changes, so
        # get_result right after a wait needs two downloads, not a third request.
        self._completed_metrics: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._batcher = ResultBatcher(api)

    def _remember_metrics(self, simulation_id: str, record: dict[str, Any]) -> None:
        metrics = record.get("metrics")
        if isinstance(metrics, dict):
            self._completed_metrics[simulation_id] = metrics
            while len(self._completed_metrics) > METRICS_CACHE:
                self._completed_metrics.popitem(last=False)

    async def protocol(self, config: dict[str, Any]) -> SimulationResponse:
        """Submit one simulation.

        ``design_parameters`` (a flat ``{name: value}`` dict) becomes a one-row discrete DOE.
        ``design_parameters`` together with ``design_parameters_doe``, ``conditions``, or a DOE
        that expands to anything but one simulation raise ``ValueError`` before any request.
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"Invalid simulation config: expected a dict, got {config!r}")
        cfg = dict(config)
        if "conditions" in cfg:
            raise ValueError(
                "protocol() does not take 'conditions'; use protocol_batch() for several "
                "simulations"
            )
        design = cfg.pop("design_parameters", None)
        if design:
            if cfg.get("design_parameters_doe") is not None:
                raise ValueError(
                    "design_parameters and design_parameters_doe are mutually exclusive in "
                    "protocol(); use one of them"
                )
            cfg["design_parameters_doe"] = _doe.design_parameters_to_doe(design)
        cfg = validate_config(cfg)
        count = expected_count(cfg)
        if count != 1:
            raise ValueError(
                f"protocol() is single-simulation, but the supplied DOE would produce {count} "
                "simulations. Use protocol_batch() for multi-simulation sweeps."
            )
        responses = await self._submit(cfg)
        if len(responses) != 1:
            raise APIResponseValidationError(
                f"protocol() expected 1 simulation from the server, got {len(responses)}"
            )
        return responses[0]

    async def protocol_batch(self, config: dict[str, Any]) -> builtins.list[SimulationResponse]:
        """Submit many simulations: a DOE (``design_parameters_doe``) or explicit ``conditions``.

        The DOE is checked and counted locally (see :mod:`ionworks.doe` for the cap) and
        expanded by the server.
        """
        if isinstance(config, Mapping) and "design_parameters" in config:
            raise ValueError(
                "protocol_batch() does not take 'design_parameters'; use 'conditions' or "
                "'design_parameters_doe'"
            )
        cfg = validate_config(config)
        count = expected_count(cfg)
        if count > _doe.MAX_SIMULATIONS:
            raise ValueError(
                f"this request would create {count} simulations; the limit per request is "
                f"{_doe.MAX_SIMULATIONS}. Split the sweep into several requests."
            )
        return await self._submit(cfg)

    async def _submit(self, cfg: dict[str, Any]) -> builtins.list[SimulationResponse]:
        top_params: dict[str, Any] = cfg.get("experiment_parameters") or {}
        conditions = cfg.get("conditions")
        if cfg.get("protocol_experiment") is not None:
            project_id = await self._api.default_project_id(
                cfg.get("project_id") or self._api.config.project_id or resolve_project_id(None)
            )
            merged: dict[str, Any] = {}
            for cond in conditions or []:
                for key, value in cond["experiment_parameters"].items():
                    merged.setdefault(key, value)
            merged.update(top_params)
            template = await self._api.post(
                "/protocols/parse-to-template",
                {
                    "protocol_experiment": cfg["protocol_experiment"],
                    "experiment_parameters": merged,
                    "project_id": project_id,
                },
            )
            expect(template, dict, what="parse-to-template", keys={"template_id": object})
            template_id = str(template["template_id"])
        else:
            project_id = cfg.get("project_id") or ""
            template_id = str(cfg["protocol_id"])
        body: dict[str, Any] = {
            "parameterized_model": normalize_parameterized_model(cfg["parameterized_model"]),
            "experiment_template_id": template_id,
            "experiment_parameter_sets": [top_params],
            "design_parameters_doe": cfg.get("design_parameters_doe"),
            "max_backward_jumps": cfg.get("max_backward_jumps"),
            "study_id": cfg.get("study_id"),
            "extra_variables": cfg.get("extra_variables"),
            "project_id": project_id or None,
        }
        if conditions:
            body["conditions"] = [
                {
                    "experiment_parameters": {**top_params, **c["experiment_parameters"]},
                    "design_parameters": c["design_parameters"],
                }
                for c in conditions
            ]
        body = {k: v for k, v in body.items() if v is not None}
        data = await self._api.post("/simulations/with-template/batch", body)
        out = []
        for item in expect(data, list, what="/simulations/with-template/batch"):
            response = structure(item, SimulationResponse, what="simulation batch item")
            out.append(
                SimulationResponse(
                    simulation_id=response.simulation_id,
                    job_id=response.job_id,
                    protocol_id=template_id,
                    already_existed=response.already_existed,
                    extra=response.extra,
                )
            )
        return out

    async def list(
        self,
        parameterized_model_id: str | None = None,
        study_id: str | None = None,
        *,
        protocol_id: str | None = None,
        state: str | None = None,
        summary: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        project_id: str | None = None,
    ) -> builtins.list[dict[str, Any]] | Page[dict[str, Any]]:
        """List simulations, newest first.

        With no scope argument, lists the default project's simulations (or every simulation
        this key can see when no project is configured). Without ``limit``, every matching
        simulation is returned (read in pages of 1,000); with it, at most ``limit``. Returns a
        plain list, or a :class:`Page` with ``.total`` when ``limit`` or ``offset`` is given.
        """
        if parameterized_model_id and study_id:
            raise ValueError("pass parameterized_model_id or study_id, not both")
        scoped = parameterized_model_id or study_id or protocol_id
        params = {
            "parameterized_model_id": parameterized_model_id,
            "study_id": study_id,
            "experiment_template_id": protocol_id,
            "project_id": None if scoped else (project_id or self._api.config.project_id),
            "state": state,
            "summary": True if summary else None,
            "limit": limit,
            "offset": offset,
        }
        page = await self._list(
            "/simulations", params, None, key="simulations", what="simulation list"
        )
        if limit is None and offset is None:
            return page.items
        return page

    async def get(self, simulation_id: str) -> dict[str, Any]:
        """The simulation record as a dict (``simulation_data`` is null until completed)."""
        data = await self._api.get(f"/simulations/{seg(simulation_id)}")
        return expect(data, dict, what="simulation")

    async def delete(self, simulation_id: str) -> None:
        """Delete a simulation and its stored results."""
        await self._api.delete(f"/simulations/{seg(simulation_id)}")

    async def get_statuses(
        self, simulation_ids: str | Sequence[str]
    ) -> builtins.list[dict[str, Any]]:
        """Statuses of simulations (one id, or a list or tuple of ids): one request per 1,000
        ids, chunks sent concurrently."""
        return await self._statuses(id_list(simulation_ids, "simulation_ids"))

    async def _statuses(
        self, ids: builtins.list[str], finished_only: bool = False
    ) -> builtins.list[dict[str, Any]]:
        """:meth:`get_statuses`; ``finished_only`` (our server's ``statuses-finished-only``):
        items of finished simulations and ``{"simulation_id", "missing": true}`` ones only."""
        chunks = [ids[i : i + STATUS_CHUNK] for i in range(0, len(ids), STATUS_CHUNK)]
        extra = {"finished_only": True} if finished_only else {}

        async def one(chunk: builtins.list[str]) -> builtins.list[dict[str, Any]]:
            data = await self._api.post(
                "/simulations/statuses", {"simulation_ids": chunk, "limit": len(chunk), **extra}
            )
            return expect(data, list, what="/simulations/statuses")

        results = await gather_limited(one, chunks, limit=8)
        return [item for chunk in results for item in chunk]

    async def get_result(self, simulation_id: str) -> SimulationResult:
        """Time series, steps (DataFrames) and metrics of a completed simulation."""
        metrics = self._completed_metrics.pop(simulation_id, None)
        capabilities = await self._api.capabilities()
        # Arrow streams are asked for only where the server offers them (ours); other
        # servers see exactly the official client's requests.
        accept = RESULT_ACCEPT if "arrow-stream" in capabilities else None
        batched = None
        if "result-bundles" in capabilities:  # concurrent calls share requests
            batched = await self._batcher.get(simulation_id, accept)
        if batched is not None:
            time_series, steps, metrics = batched
        elif "result-bundle" in capabilities:
            time_series, steps, metrics = await self._bundle(seg(simulation_id), accept)
        else:
            time_series, steps, metrics = await self._downloads(seg(simulation_id), metrics, accept)
        args = (time_series, steps, metrics, self._api.config.dataframe_backend)
        if is_quick_to_decode(time_series, steps):
            return build_result(*args)  # tens of µs: cheaper than a thread hop
        # Decoding parquet is CPU work (polars releases the GIL): off the event loop, so many
        # concurrent get_result calls decode in parallel while the loop keeps serving I/O.
        return await anyio.to_thread.run_sync(build_result, *args)

    async def _downloads(
        self, sid: str, metrics: dict[str, Any] | None, accept: str | None
    ) -> tuple[bytes, bytes, dict[str, Any]]:
        """The API's way (wire.md §4.4): both downloads, plus the record unless the metrics
        came with a wait — concurrently."""
        parts: dict[str, Any] = {}

        async def fetch(name: str, path: str) -> None:
            if name == "record":
                parts[name] = await self._api.get(path)
            else:
                parts[name] = await self._api.download(path, accept=accept)

        async with task_group() as tg:
            tg.start_soon(fetch, "time_series", f"/simulations/{sid}/time_series/download")
            tg.start_soon(fetch, "steps", f"/simulations/{sid}/steps/download")
            if metrics is None:
                tg.start_soon(fetch, "record", f"/simulations/{sid}")
        if metrics is None:
            record = parts["record"]
            metrics = (record.get("metrics") if isinstance(record, dict) else None) or {}
        return parts["time_series"], parts["steps"], metrics

    async def _bundle(self, sid: str, accept: str | None) -> tuple[bytes, bytes, dict[str, Any]]:
        """Our local server's one-request form: ``GET /simulations/{id}/result``."""
        path = f"/simulations/{sid}/result"
        parts = await self._api.download_parts(path, accept=accept)
        missing = [name for name in RESULT_PARTS if name not in parts]
        if missing:
            raise APIResponseValidationError(
                f"Unexpected response for GET {path}: no {', '.join(missing)} part in the "
                f"multipart body (parts: {', '.join(parts) or 'none'})"
            )
        try:
            metrics = json.loads(parts["metrics"][1]) or {}
        except ValueError as exc:
            raise APIResponseValidationError(
                f"Unexpected response for GET {path}: the metrics part is not JSON: {exc}"
            ) from None
        metrics = expect(metrics, dict, what=f"GET {path} (the metrics part)")
        return parts["time_series"][1], parts["steps"][1], metrics

    async def _fetch_outcomes(self, ids: builtins.list[str]) -> builtins.list[Outcome]:
        # A long sweep's polls carry only what finished (a poll's cost does not grow with it).
        # Asking the server what it offers costs a request: made once a poll takes several.
        offers = await self._api.capabilities(ask=len(ids) > STATUS_CHUNK)
        finished_only = "statuses-finished-only" in offers
        statuses = await self._statuses(ids, finished_only)
        by_id = {str(s.get("simulation_id")): s for s in statuses if isinstance(s, Mapping)}
        if finished_only:
            missing = [i for i in ids if by_id.get(i, {}).get("missing") is True]
        else:
            missing = [i for i in ids if i not in by_id]
        if missing:
            await self.get(missing[0])  # 404 → NotFoundError naming the id
            raise NotFoundError(f"simulation {missing[0]} has no status", 404)
        status = {i: str(by_id[i].get("status", "")).lower() for i in ids if i in by_id}
        candidates = [i for i in ids if status.get(i) == "completed"] + [
            i for i in ids if status.get(i) in FAILED_STATUSES
        ]
        # Servers that include the finished record in the status item (ours) save a GET each.
        inline: dict[str, Any] = {i: by_id[i].get("simulation") for i in candidates}
        fetch = [i for i in candidates if not isinstance(inline[i], dict)]
        fetched = dict(zip(fetch, await gather_limited(self.get, fetch, limit=16), strict=True))
        records: builtins.list[dict[str, Any]] = [
            inline[i] if isinstance(inline[i], dict) else fetched[i] for i in candidates
        ]
        outcomes = []
        for sid, record in zip(candidates, records, strict=True):
            if status[sid] in FAILED_STATUSES:
                error = by_id[sid].get("error") or record.get("error")
                record = {**record, "status": status[sid], "error": error}
                if by_id[sid].get("error_code") is not None:
                    record["error_code"] = by_id[sid]["error_code"]
                outcomes.append(Outcome(sid, True, record, status[sid], error))
            elif record.get("storage_folder") or record.get("simulation_data"):
                outcomes.append(Outcome(sid, False, record))
                self._remember_metrics(sid, record)
        return outcomes

    @overload
    async def wait_for_completion(
        self,
        simulation_id: str,
        timeout: float | None = 60,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> dict[str, Any]: ...
    @overload
    async def wait_for_completion(
        self,
        simulation_id: Sequence[str],
        timeout: float | None = 60,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> builtins.list[dict[str, Any]]: ...
    async def wait_for_completion(
        self,
        simulation_id: str | Sequence[str],
        timeout: float | None = 60,
        poll_interval: float = 2,
        verbose: bool = True,
        raise_on_failure: bool = True,
    ) -> dict[str, Any] | builtins.list[dict[str, Any]]:
        """Wait until the simulation(s) finish and return their records (input order).

        One bulk status request per ``poll_interval`` per 1,000 ids. A failed or canceled
        simulation raises :class:`~ionworks.errors.JobFailedError` (an ``IonworksError``) at
        once unless ``raise_on_failure=False``, which returns its record with ``status`` and
        ``error``. On timeout a ``TimeoutError`` names the pending ids and carries the finished
        records in ``.results``.
        """
        single = isinstance(simulation_id, str)
        ids = id_list(simulation_id, "simulation_id")
        records = await wait_all(
            ids,
            self._fetch_outcomes,
            timeout=timeout,
            poll_interval=poll_interval,
            verbose=verbose,
            raise_on_failure=raise_on_failure,
            label="Simulation",
        )
        return records[0] if single else records

    async def as_completed(
        self,
        simulation_ids: str | Sequence[str],
        timeout: float | None = None,
        poll_interval: float = 2,
        raise_on_failure: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each simulation's record as soon as it finishes (completion order);
        ``simulation_ids`` is one id or a list or tuple of ids."""
        outcomes = poll_outcomes(
            id_list(simulation_ids, "simulation_ids"),
            self._fetch_outcomes,
            timeout=timeout,
            poll_interval=poll_interval,
            kind="simulations",
        )
        async with aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.failed and raise_on_failure:
                    raise failure_error("Simulation", [outcome])
                yield outcome.record
