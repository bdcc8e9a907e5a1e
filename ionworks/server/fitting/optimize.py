"""Fit parameters, costs, optimizers (scipy.optimize) and progress checkpoints.

Parameters are optimised in unit coordinates ``u ∈ [0, 1]`` over their bounds. A positive
parameter whose bounds span at least a decade (``hi / lo ≥ 10``) is mapped in **log10**
space (diffusivities, rate constants), otherwise linearly. Without bounds, a positive
``initial_value`` gets ``[initial / 100, initial × 100]``.

Optimizers (``optimizer.type``): least squares (default; ``ScipyLeastSquares``,
``LeastSquares``), ``ScipyMinimize`` (``method``, default L-BFGS-B),
``DifferentialEvolution`` / ``ScipyDifferentialEvolution`` (``population_size`` = total
population; each generation is one vectorised batch — on the server split into one chunk
per worker, each chunk a batch solve, see :mod:`.distributed`). ``max_iterations``
bounds iterations (generations for DE; model evaluations ÷ (n + 1) for least squares).
Least squares always minimises the sum of squared residuals; the reported ``cost`` is the
requested cost function (RMSE by default; SSE, MSE, MAE, Max).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import numpy as np

__all__ = ["COSTS", "OPTIMIZERS", "FitOutcome", "FitParameter", "Tracker", "optimize"]

#: Residual assigned to model points where the solver failed.
FAILED_RESIDUAL: Final = 10.0
COSTS: Final[Mapping[str, Callable[[np.ndarray], float]]] = {
    "RMSE": lambda r: float(np.sqrt(np.mean(r**2))),
    "MSE": lambda r: float(np.mean(r**2)),
    "SSE": lambda r: float(np.sum(r**2)),
    "MAE": lambda r: float(np.mean(np.abs(r))),
    "Max": lambda r: float(np.max(np.abs(r))),
}
OPTIMIZERS: Final[Mapping[str, str]] = {
    "LeastSquares": "least_squares",
    "ScipyLeastSquares": "least_squares",
    "ScipyMinimize": "minimize",
    "DifferentialEvolution": "de",
    "ScipyDifferentialEvolution": "de",
}
TRACE_LIMIT: Final = 500


@attrs.frozen
class FitParameter:
    name: str
    lo: float
    hi: float
    initial: float
    log: bool

    @classmethod
    def parse(cls, name: str, spec: Any) -> FitParameter:
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            spec = {"initial_value": spec}
        if not isinstance(spec, Mapping):
            raise ValueError(f"parameter {name!r} must be an object with bounds/initial_value")
        initial, bounds = spec.get("initial_value"), spec.get("bounds")
        if bounds is None:
            if not isinstance(initial, int | float) or initial <= 0:
                raise ValueError(f"parameter {name!r} needs 'bounds': [lower, upper]")
            bounds = [initial / 100, initial * 100]
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name!r}: 'bounds' must be [lower, upper]") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"parameter {name!r}: bounds {bounds!r} need finite lower < upper")
        log = lo > 0 and hi / lo >= 10
        if initial is None:
            initial = math.sqrt(lo * hi) if log else (lo + hi) / 2
        initial = float(initial)
        if not lo <= initial <= hi:
            raise ValueError(f"parameter {name!r}: initial_value {initial:g} outside {bounds!r}")
        return cls(name, lo, hi, initial, log)

    def value(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            return float(10 ** (math.log10(self.lo) + u * (math.log10(self.hi / self.lo))))
        return self.lo + u * (self.hi - self.lo)

    def unit(self, value: float) -> float:
        if self.log:
            return math.log10(value / self.lo) / math.log10(self.hi / self.lo)
        return (value - self.lo) / (self.hi - self.lo)


@attrs.frozen
class OptimizerSpec:
    kind: str
    name: str
    max_iterations: int | None
    population_size: int | None
    method: str
    seed: int
    tolerance: float

    @classmethod
    def parse(cls, spec: Any) -> OptimizerSpec:
        spec = {} if spec is None else spec
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping):
            raise ValueError("optimizer must be an object like {'type': 'ScipyMinimize'}")
        name = str(spec.get("type") or "ScipyLeastSquares")
        if name not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZERS)} "
                "(default: least squares)"
            )
        options = dict(spec.get("options") or {}) | dict(spec)
        return cls(
            kind=OPTIMIZERS[name],
            name=name,
            max_iterations=_positive_int(options, "max_iterations"),
            population_size=_positive_int(options, "population_size"),
            method=str(options.get("method") or "L-BFGS-B"),
            seed=int(options.get("seed") or 0),
            tolerance=float(options.get("relative_tolerance") or 0.01),
        )


def _positive_int(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ValueError(f"optimizer {key} must be a positive integer, got {value!r}")
    return int(value)


def cost_function(spec: Any) -> tuple[str, Callable[[np.ndarray], float]]:
    name = spec.get("type") if isinstance(spec, Mapping) else spec
    name = str(name or "RMSE")
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; accepted: {', '.join(COSTS)}")
    return name, COSTS[name]


@attrs.define
class Tracker:
    """Counts evaluations, keeps the best point and reports throttled checkpoints."""

    params: list[FitParameter]
    cost: Callable[[np.ndarray], float]
    report: Callable[[dict[str, Any]], None] | None = None
    interval: float = 0.25
    evaluations: int = 0
    iteration: int = 0
    best_cost: float = math.inf
    best_u: np.ndarray | None = None
    trace: list[dict[str, Any]] = attrs.field(factory=list)
    _last: float = 0.0

    def values(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: p.value(x) for p, x in zip(self.params, u, strict=True)}

    def seen(self, u: np.ndarray, residuals: np.ndarray) -> float:
        self.evaluations += 1
        value = self.cost(residuals)
        if value < self.best_cost:
            self.best_cost, self.best_u = value, np.array(u, dtype=np.float64)
        return value

    def step(self, force: bool = False) -> None:
        self.iteration += 1
        if self.best_u is None:
            return
        point = {
            "iteration": self.iteration,
            "evaluations": self.evaluations,
            "best_cost": self.best_cost,
            "parameter_values": self.values(self.best_u),
        }
        if len(self.trace) < TRACE_LIMIT:
            self.trace.append(point)
        now = time.monotonic()
        if self.report is not None and (force or now - self._last >= self.interval):
            self._last = now
            self.report({"checkpoint": point, "intermediate_results": self.trace})


@attrs.frozen
class FitOutcome:
    values: dict[str, float]
    cost: float
    evaluations: int
    iterations: int
    success: bool
    message: str


Residuals = Callable[[list[dict[str, float]]], list[np.ndarray]]


def optimize(
    residuals: Residuals, params: list[FitParameter], spec: OptimizerSpec, tracker: Tracker
) -> FitOutcome:
    """Minimise the cost of ``residuals`` (model − data, NaN where a solve failed)."""
    from scipy import optimize as so

    def batch(units: np.ndarray) -> list[np.ndarray]:
        points = [tracker.values(u) for u in units]
        out = []
        for u, r in zip(units, residuals(points), strict=True):
            r = np.where(np.isfinite(r), r, FAILED_RESIDUAL)
            tracker.seen(u, r)
            out.append(r)
        return out

    n = len(params)
    x0 = np.array([p.unit(p.initial) for p in params])
    bounds = [(0.0, 1.0)] * n
    if spec.kind == "least_squares":

        def fun(u: np.ndarray) -> np.ndarray:
            r = batch(np.atleast_2d(u))[0]
            tracker.step()
            return r

        max_nfev = None if spec.max_iterations is None else spec.max_iterations * (n + 1)
        res = so.least_squares(
            fun, x0, bounds=([0.0] * n, [1.0] * n), max_nfev=max_nfev, diff_step=1e-3
        )
        success, message, iterations = bool(res.success), str(res.message), int(res.nfev)
    elif spec.kind == "minimize":

        def scalar(u: np.ndarray) -> float:
            return tracker.cost(batch(np.atleast_2d(u))[0])

        options = {} if spec.max_iterations is None else {"maxiter": spec.max_iterations}
        res = so.minimize(
            scalar, x0, method=spec.method, bounds=bounds, options=options,
            callback=lambda *_: tracker.step(),
        )  # fmt: skip
        success, message, iterations = bool(res.success), str(res.message), int(res.nit)
    else:

        def population(units: np.ndarray) -> np.ndarray:  # units: (n, S)
            return np.array([tracker.cost(r) for r in batch(np.asarray(units).T)])

        popsize = max(1, math.ceil((spec.population_size or 10 * n) / n))
        res = so.differential_evolution(
            population, bounds, maxiter=spec.max_iterations or 30, popsize=popsize,
            vectorized=True, updating="deferred", polish=False, seed=spec.seed, x0=x0,
            tol=spec.tolerance, callback=lambda *_: tracker.step(),
        )  # fmt: skip
        success, message, iterations = bool(res.success), str(res.message), int(res.nit)
    tracker.step(force=True)
    best = tracker.best_u if tracker.best_u is not None else x0
    return FitOutcome(
        tracker.values(best), tracker.best_cost, tracker.evaluations, iterations, success, message
    )
