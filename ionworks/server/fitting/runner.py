"""Run a pipeline config: elements in order, parameter values threaded between them.

- ``entry``: ``values`` — numbers set parameters; ``model``, ``parameter_set`` and
  ``parameterized_model`` select the model; anything else (e.g. ``data``) is only there to
  be referenced (``"entry.data"``).
- ``data_fit``: ``objectives`` (``{"name": {"data": ...}}``, voltage driven by the measured
  current; or typed ``{"type": "CurrentDriven", "data": ..., "options": {"model": ...}}``),
  ``parameters`` (bounds, initial_value), ``cost``, ``optimizer`` (see :mod:`.optimize`;
  a sampler: :mod:`.sampler`). Its result carries the trace (``intermediate_results``) and,
  per objective, the measured and model curves at the fitted values
  (``validation_results``) and at the initial guess (``baseline_validation_results``); while
  it runs, its checkpoints carry the trace and the curves at the best values so far.
- ``calculation``: ``expressions`` ``{"<new parameter>": "<expression>"}`` (see
  :mod:`.expressions`) or a built-in ``type`` from :data:`CALCULATIONS`.
- ``validation``: simulate the objectives with the current values; ``summary_stats`` per
  objective: RMSE, MAE and max absolute error of the voltage.

Recorded curves are ``Time [s]``, ``Measured voltage [V]``, ``Model voltage [V]``, thinned
evenly to at most :data:`MAX_SERIES` rows (the full curve enters the statistics).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import numpy as np

from .config import Element, parse_elements, resolve_reference
from .data import Measured, load_measured
from .expressions import evaluate
from .model import ModelState, Simulator
from .optimize import (
    FAILED_RESIDUAL,
    FitParameter,
    OptimizerSpec,
    Tracker,
    cost_function,
    optimize,
)
from .sampler import check_sampler_cost

__all__ = ["CALCULATIONS", "Remote", "RemoteError", "run_config", "run_element"]

#: Built-in calculation types → expressions.
CALCULATIONS: Final[Mapping[str, Mapping[str, str]]] = {
    "AreaToSquareWidthHeight": {
        "Electrode height [m]": "sqrt({Electrode area [m2]})",
        "Electrode width [m]": "sqrt({Electrode area [m2]})",
    },
    "DiameterToSquareWidthHeight": {
        "Electrode height [m]": "{Electrode diameter [m]} * sqrt(3.141592653589793) / 2",
        "Electrode width [m]": "{Electrode diameter [m]} * sqrt(3.141592653589793) / 2",
    },
}
OBJECTIVE_TYPES: Final = ("CurrentDriven",)
#: Rows of a recorded curve (longer ones are thinned evenly).
MAX_SERIES: Final = 1000
Report = Callable[[dict[str, Any]], None]


class RemoteError(Exception):
    """An element failed in a sub-job; the message already names the element and error."""


class Objectives(Protocol):
    """The model-minus-data residuals of a fit's objectives."""

    def residuals(self, points: list[dict[str, float]]) -> list[np.ndarray]: ...

    def curves(self, points: list[dict[str, float]]) -> list[dict[str, Any]]:
        """Per point ``{objective: {"stats": ..., "series": ...}}`` (see :func:`curves_of`)."""
        ...


class Remote(Protocol):
    """Runs elements away from the driving process (the server's sub-jobs, see
    :mod:`.distributed`): every element but entries, and the population evaluations of
    differential evolution fits, whose optimizer loop stays in the driver."""

    def run_element(self, element: Element, state: ModelState) -> dict[str, Any]:
        """``{"result": <element result>, "values": <threaded values after it>}``."""
        ...

    def objectives(self, element: Element, state: ModelState, inputs: list[str]) -> Objectives:
        """The fit's objectives, evaluated in chunks across the workers."""
        ...


class LocalObjectives:
    """The objectives of a fit, simulated in this process."""

    def __init__(self, sims: list[tuple[str, Simulator]]) -> None:
        self.sims = sims

    def residuals(self, points: list[dict[str, float]]) -> list[np.ndarray]:
        per_objective = [sim.voltages(points) for _, sim in self.sims]
        return [
            np.concatenate(
                [
                    v[i] - sim.measured.voltage
                    for v, (_, sim) in zip(per_objective, self.sims, strict=True)
                ]
            )
            for i in range(len(points))
        ]

    def curves(self, points: list[dict[str, float]]) -> list[dict[str, Any]]:
        per_objective = [(name, sim.measured, sim.voltages(points)) for name, sim in self.sims]
        return [curves_of((n, m, v[i]) for n, m, v in per_objective) for i in range(len(points))]


def curves_of(solved: Any) -> dict[str, Any]:
    """``(name, measured, model voltage)`` triples → ``{name: {"stats", "series"}}``."""
    return {
        name: {"stats": _stats(measured, voltage), "series": _series(measured, voltage)}
        for name, measured, voltage in solved
    }


class Context:
    """One run: the elements, the threaded state, server-resolved measurements."""

    def __init__(
        self,
        elements: list[Element],
        measurements: Mapping[str, Mapping[str, str | None]],
        report: Report | None,
        remote: Remote | None = None,
    ) -> None:
        self.elements = elements
        self.measurements = measurements
        self.report = report
        self.remote = remote
        self.state = ModelState()

    def objectives(self, element: Element) -> list[tuple[str, Measured, Any]]:
        raw = element.config.get("objectives")
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError('needs \'objectives\': {"<name>": {"data": ...}}')
        out = []
        for name, spec in raw.items():
            if not isinstance(spec, Mapping) or "data" not in spec:
                raise ValueError(f"objective {name!r} needs 'data'")
            kind = spec.get("type", "CurrentDriven")
            if kind not in OBJECTIVE_TYPES:
                raise ValueError(
                    f"objective {name!r}: unsupported type {kind!r}; accepted: "
                    f"{', '.join(OBJECTIVE_TYPES)}"
                )
            data = resolve_reference(spec["data"], self.elements)
            try:
                measured = load_measured(data, self.measurements)
            except ValueError as exc:
                raise ValueError(f"objective {name!r}: {exc}") from None
            options = spec.get("options") or {}
            out.append((str(name), measured, options.get("model")))
        return out

    def simulators(self, element: Element, inputs: list[str]) -> list[tuple[str, Simulator]]:
        values = self.state.parameter_values()
        return [
            (name, Simulator(self.state.build_model(model), values, measured, inputs))
            for name, measured, model in self.objectives(element)
        ]


def _stats(measured: Measured, voltage: np.ndarray) -> dict[str, Any]:
    error = voltage - measured.voltage
    finite = np.isfinite(error)
    if not finite.any():
        return {"RMSE [V]": None, "MAE [V]": None, "Max absolute error [V]": None, "points": 0}
    e = error[finite]
    return {
        "RMSE [V]": float(np.sqrt(np.mean(e**2))),
        "MAE [V]": float(np.mean(np.abs(e))),
        "Max absolute error [V]": float(np.max(np.abs(e))),
        "points": int(finite.sum()),
    }


def _series(measured: Measured, voltage: np.ndarray) -> dict[str, list[float | None]]:
    step = max(1, math.ceil(len(measured.t) / MAX_SERIES))

    def clean(a: np.ndarray) -> list[float | None]:
        return [float(x) if math.isfinite(x) else None for x in a[::step]]

    return {
        "Time [s]": clean(measured.t),
        "Measured voltage [V]": clean(measured.voltage),
        "Model voltage [V]": clean(voltage),
    }


def run_entry(ctx: Context, element: Element) -> dict[str, Any]:
    values = element.config.get("values", element.config.get("parameters", {}))
    if not isinstance(values, Mapping):
        raise ValueError("'values' must be an object of parameter name -> value")
    return {"parameter_values": ctx.state.apply_entry(values)}


def run_data_fit(ctx: Context, element: Element) -> dict[str, Any]:
    raw = element.config.get("parameters")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError('needs \'parameters\': {"<name>": {"bounds": [lo, hi]}}')
    params = [FitParameter.parse(str(k), v) for k, v in raw.items()]
    cost_name, cost = cost_function(element.config.get("cost"))
    spec = OptimizerSpec.parse(element.config.get("optimizer"))
    check_sampler_cost(spec, cost_name)
    started = time.perf_counter()
    inputs = [p.name for p in params]
    objectives: Objectives
    if ctx.remote is not None:  # a population fit driven here, evaluated by the workers
        objectives = ctx.remote.objectives(element, ctx.state, inputs)
    else:
        objectives = LocalObjectives(ctx.simulators(element, inputs))
    # the measured curves, for the live series of the checkpoints (cheap: read, not solved)
    measured = [(n, m) for n, m, _ in ctx.objectives(element)] if ctx.report is not None else []
    tracker = Tracker(params, cost)

    def report(checkpoint: dict[str, Any]) -> None:
        if ctx.report is not None:
            live = _live_series(measured, tracker.best_residuals)
            ctx.report({"element": element.name, **checkpoint, "validation_results": live})

    tracker.report = report if ctx.report is not None else None
    outcome = optimize(objectives.residuals, params, spec, tracker)
    ctx.state.values.update(outcome.values)
    initial = {p.name: p.initial for p in params}
    optimal, baseline = objectives.curves([outcome.values, initial])
    out = {
        "type": "PosteriorResult" if outcome.posterior is not None else "OptimizationResult",
        "parameter_values": outcome.values,
        "initial_guess": initial,
        "x": [outcome.values[name] for name in inputs],
        "fun": outcome.cost,
        "cost": outcome.cost,
        "cost_function": cost_name,
        "optimizer": spec.name,
        "iterations": outcome.iterations,
        "evaluations": outcome.evaluations,
        "success": outcome.success,
        "message": outcome.message,
        "log_scaled": [p.name for p in params if p.log],
        "fit_summary_stats": {name: c["stats"] for name, c in optimal.items()},
        "validation_results": {name: c["series"] for name, c in optimal.items()},
        "baseline_validation_results": {name: c["series"] for name, c in baseline.items()},
        "time_s": time.perf_counter() - started,
        "intermediate_results": tracker.trace,
        **(outcome.posterior or {}),
    }
    fan_out = getattr(objectives, "fan_out", None)
    if fan_out is not None:
        out["fan_out"] = fan_out
    return out


def _live_series(
    measured: list[tuple[str, Measured]], residuals: np.ndarray | None
) -> dict[str, Any]:
    """The curves at the best values so far, from their residuals (model − data)."""
    if residuals is None or len(residuals) != sum(len(m.t) for _, m in measured):
        return {}
    out, at = {}, 0
    for name, m in measured:
        r = residuals[at : at + len(m.t)]
        at += len(m.t)
        out[name] = _series(m, np.where(r == FAILED_RESIDUAL, np.nan, r + m.voltage))
    return out


def run_calculation(ctx: Context, element: Element) -> dict[str, Any]:
    expressions = element.config.get("expressions")
    kind = element.config.get("type")
    if expressions is None and kind is not None:
        if kind not in CALCULATIONS:
            raise ValueError(
                f"unsupported calculation type {kind!r}; supported: "
                f'{", ".join(CALCULATIONS)}, or \'expressions\': {{"<name>": "<expression>"}}'
            )
        expressions = CALCULATIONS[kind]
    if not isinstance(expressions, Mapping) or not expressions:
        raise ValueError(
            "needs 'expressions': {\"<new parameter>\": \"<expression>\"} or a calculation 'type'"
        )
    known = ctx.state.numeric_values()
    out: dict[str, float] = {}
    for name, text in expressions.items():
        value = evaluate(text, known)
        if not math.isfinite(value):
            raise ValueError(f"{name!r} = {text!r} is not finite ({value})")
        out[str(name)] = known[str(name)] = value
    ctx.state.values.update(out)
    return {"parameter_values": out}


def run_validation(ctx: Context, element: Element) -> dict[str, Any]:
    stats, series = {}, {}
    for name, sim in ctx.simulators(element, []):
        voltage = sim.voltages([{}])[0]
        if not np.isfinite(voltage).any():
            raise ValueError(f"objective {name!r}: the model could not be solved")
        stats[name] = _stats(sim.measured, voltage)
        series[name] = _series(sim.measured, voltage)
    return {
        "type": "ValidationResult",
        "parameter_values": dict(ctx.state.values),
        "summary_stats": stats,
        "validation_results": series,
    }


RUNNERS: Final[Mapping[str, Callable[[Context, Element], dict[str, Any]]]] = {
    "entry": run_entry,
    "data_fit": run_data_fit,
    "calculation": run_calculation,
    "validation": run_validation,
}


def runs_in_driver(element: Element) -> bool:
    """With a :class:`Remote`: entries and differential evolution fits run in the driver
    (the fit's populations are evaluated remotely); every other element is one sub-job."""
    if element.kind == "entry":
        return True
    if element.kind != "data_fit":
        return False
    try:
        return OptimizerSpec.parse(element.config.get("optimizer")).kind == "de"
    except ValueError:
        return False  # the sub-job reports it


def run_element(ctx: Context, element: Element) -> dict[str, Any]:
    """Run one element; errors name it: ``ValueError("element 'fit' (data_fit): ...")``."""
    try:
        return RUNNERS[element.kind](ctx, element)
    except RemoteError:
        raise
    except Exception as exc:
        raise ValueError(f"element {element.name!r} ({element.kind}): {exc}") from exc


def run_config(
    config: Any,
    measurements: Mapping[str, Mapping[str, str | None]] | None = None,
    report: Report | None = None,
    remote: Remote | None = None,
) -> dict[str, Any]:
    """Run every element; ``{"parameter_values", "element_results", "summary_stats"?}``.

    ``report`` receives checkpoints (element name, iteration, best cost, current values).
    Errors name the element: ``ValueError("element 'fit' (data_fit): ...")``. With
    ``remote``, elements run as sub-jobs (see :class:`Remote`).
    """
    ctx = Context(parse_elements(config), measurements or {}, report, remote)
    results: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for element in ctx.elements:
        if remote is not None and not runs_in_driver(element):
            done = remote.run_element(element, ctx.state)
            results[element.name] = done["result"]
            ctx.state.values = dict(done["values"])
        else:
            results[element.name] = run_element(ctx, element)
        if element.kind == "validation":
            summary.update(results[element.name]["summary_stats"])
    out: dict[str, Any] = {
        "parameter_values": dict(ctx.state.values),
        "element_results": results,
    }
    if summary:
        out["summary_stats"] = summary
    return out
