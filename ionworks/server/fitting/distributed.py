"""Pipelines across the executor's workers: the driver's :class:`FanOutRemote` and the
sub-job functions it submits.

The pipeline job runs its element loop in the server (a thread, see :func:`.job.drive_pipeline`).
Entries are applied there; every other element is one sub-job (:func:`run_element_job`),
except differential evolution fits: their optimizer loop stays in the driver and each
generation is split into one chunk per worker, each chunk a sub-job
(:func:`evaluate_chunk`) solved as one batch. A worker keeps the simulators of the last few
fits it evaluated (keyed by the fit's problem), so only its first chunk of a fit builds them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np

from .config import Element, parse_elements
from .model import ModelState
from .runner import Context, LocalObjectives, RemoteError, run_element

if TYPE_CHECKING:
    from ionworks.server.execution.fanout import FanOut

__all__ = ["FanOutRemote", "evaluate_chunk", "run_element_job"]

#: Built fits kept per worker process.
CACHE_SIZE: Final = 4
_objectives: OrderedDict[str, LocalObjectives] = OrderedDict()


def _context(payload: Mapping[str, Any], report: Any = None) -> tuple[Context, Element]:
    ctx = Context(parse_elements(payload["config"]), payload.get("measurements") or {}, report)
    ctx.state = ModelState(**payload["state"])
    element = next(e for e in ctx.elements if e.name == payload["element"])
    return ctx, element


def _failure(exc: Exception) -> RuntimeError:
    cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
    return RuntimeError(f"{type(cause).__name__}: {exc}")


# --- sub-jobs (worker processes) ---------------------------------------------------------


def run_element_job(payload: dict[str, Any]) -> dict[str, Any]:
    """One element of a pipeline: ``{"result", "values"}`` (the threaded values after it)."""
    from .job import checkpoint_writer

    checkpoint = payload.get("checkpoint")
    report = checkpoint_writer(checkpoint["db"], checkpoint["job_id"]) if checkpoint else None
    try:
        ctx, element = _context(payload, report)
        result = run_element(ctx, element)
    except Exception as exc:
        raise _failure(exc) from None
    return {"result": result, "values": dict(ctx.state.values)}


def _local_objectives(key: str, problem: dict[str, Any]) -> LocalObjectives:
    objectives = _objectives.get(key)
    if objectives is None:
        ctx, element = _context(problem)
        objectives = LocalObjectives(ctx.simulators(element, list(problem["inputs"])))
        _objectives[key] = objectives
        while len(_objectives) > CACHE_SIZE:
            _objectives.popitem(last=False)
    _objectives.move_to_end(key)
    return objectives


def evaluate_chunk(payload: dict[str, Any]) -> dict[str, Any]:
    """Residuals of a chunk of a population (or, with ``curves``, the fit's statistics and
    curves at each point); ``pid`` is the worker process's id."""
    problem = payload["problem"]
    try:
        objectives = _local_objectives(payload["key"], problem)
        if payload.get("curves"):
            out: dict[str, Any] = {"curves": objectives.curves(payload["points"])}
        else:
            out = {"residuals": objectives.residuals(payload["points"])}
    except Exception as exc:
        raise RuntimeError(
            f"{type(exc).__name__}: element {problem['element']!r} (data_fit): {exc}"
        ) from None
    return {"pid": os.getpid(), **out}


# --- the driver's side (a thread in the server) --------------------------------------------


class FanOutRemote:
    """:class:`.runner.Remote` on a job's :class:`~ionworks.server.execution.fanout.FanOut`."""

    def __init__(self, fan: FanOut, payload: Mapping[str, Any]) -> None:
        self.fan = fan
        self.config = payload["config"]
        self.measurements = payload.get("measurements") or {}
        self.checkpoint = payload.get("checkpoint")

    def _call(self, func: Any, payload: Any) -> Any:
        from ionworks.server.execution.executor import WorkerError

        try:
            return self.fan.run_sync(func, payload)
        except WorkerError as exc:
            raise RemoteError(str(exc)) from None

    def run_element(self, element: Element, state: ModelState) -> dict[str, Any]:
        payload = {
            "config": self.config,
            "measurements": self.measurements,
            "checkpoint": self.checkpoint,
            "element": element.name,
            "state": attrs.asdict(state),
        }
        out: dict[str, Any] = self._call(run_element_job, payload)
        return out

    def objectives(self, element: Element, state: ModelState, inputs: list[str]) -> Chunked:
        problem = {
            "config": self.config,
            "measurements": self.measurements,
            "element": element.name,
            "state": attrs.asdict(state),
            "inputs": inputs,
        }
        return Chunked(self, problem)


class Chunked:
    """A fit's objectives evaluated by the workers, a population split into chunks."""

    def __init__(self, remote: FanOutRemote, problem: dict[str, Any]) -> None:
        self.remote = remote
        self.problem = problem
        text = json.dumps(problem, sort_keys=True, default=str)
        self.key = hashlib.sha256(text.encode()).hexdigest()
        self.sub_jobs = 0
        self.pids: set[int] = set()

    def _payload(self, points: list[dict[str, float]], curves: bool = False) -> dict[str, Any]:
        return {"key": self.key, "problem": self.problem, "points": points, "curves": curves}

    def _seen(self, reply: Mapping[str, Any]) -> None:
        self.sub_jobs += 1
        self.pids.add(int(reply["pid"]))

    def residuals(self, points: list[dict[str, float]]) -> list[np.ndarray]:
        from ionworks.server.execution.executor import WorkerError
        from ionworks.server.execution.fanout import chunks

        payloads = [self._payload(part) for part in chunks(points, self.remote.fan.width)]
        try:
            replies = self.remote.fan.map_sync(evaluate_chunk, payloads)
        except WorkerError as exc:
            raise RemoteError(str(exc)) from None
        out: list[np.ndarray] = []
        for reply in replies:
            self._seen(reply)
            out.extend(np.asarray(r, dtype=np.float64) for r in reply["residuals"])
        return out

    def curves(self, points: list[dict[str, float]]) -> list[dict[str, Any]]:
        reply = self.remote._call(evaluate_chunk, self._payload(points, curves=True))
        self._seen(reply)
        curves: list[dict[str, Any]] = reply["curves"]
        return curves

    @property
    def fan_out(self) -> dict[str, int]:
        """Sub-jobs of this fit and the distinct worker processes that ran them."""
        return {"sub_jobs": self.sub_jobs, "worker_processes": len(self.pids)}
