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
requested cost function (RMSE by default; SSE, MSE, MAE, Max, ``GaussianLogLikelihood``: the
negative log-likelihood of Gaussian noise of standard deviation ``sigma``).

Samplers (``PintsSampler``): an affine-invariant ensemble MCMC (emcee, see :mod:`.sampler`)
of the ``GaussianLogLikelihood`` posterior, flat priors within the bounds;
``max_iterations`` steps per walker (burn-in included), ``burnin_iterations`` (default a
tenth), ``walkers`` (default ``max(8, 2 × parameters + 2)``; at most the server's
``max_population_size``). Walkers × (steps + 1) — the initial walkers are evaluated too — are
capped at :data:`MAX_SAMPLER_EVALUATIONS`.

The :class:`Tracker` keeps the trace: one row per iteration (thinned to at most
:data:`TRACE_LIMIT` rows, the last always kept) with the iteration's best ``cost`` and point
(``inputs``: unit coordinates, ``inputs_unscaled``: parameter values), the ``best_cost`` so
far and its values (``parameter_values``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import numpy as np

__all__ = [
    "COSTS",
    "MAX_SAMPLER_EVALUATIONS",
    "OPTIMIZERS",
    "FitOutcome",
    "FitParameter",
    "Tracker",
    "optimize",
]

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
    "PintsSampler": "sampler",
}
#: Rows kept in a fit's trace; a longer run keeps every 2nd, 4th, … iteration.
TRACE_LIMIT: Final = 500
#: Walkers × (steps + 1) of one sampler fit (each is one model evaluation).
MAX_SAMPLER_EVALUATIONS: Final = 20_000
LIKELIHOOD: Final = "GaussianLogLikelihood"


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
    burnin: int | None = None
    walkers: int | None = None

    def sampler_walkers(self, parameters: int) -> int:
        """A sampler fit's walkers (given, or the default for ``parameters``)."""
        return self.walkers or max(8, 2 * parameters + 2)

    def sampler_shape(self, parameters: int) -> tuple[int, int, int]:
        """``(walkers, steps, burn-in steps)`` of a sampler fit; ``ValueError`` naming the
        option when they are out of bounds (the initial walkers are evaluated too: walkers
        × (steps + 1) model evaluations)."""
        walkers = self.sampler_walkers(parameters)
        steps = self.max_iterations or 1000
        burnin = steps // 10 if self.burnin is None else self.burnin
        if walkers < 2 * parameters or walkers % 2:
            raise ValueError(
                f"optimizer walkers must be an even number >= 2 x parameters "
                f"({2 * parameters}), got {walkers}"
            )
        if walkers * (steps + 1) > MAX_SAMPLER_EVALUATIONS:
            raise ValueError(
                f"optimizer walkers x (max_iterations + 1): {walkers} x ({steps} + 1) = "
                f"{walkers * (steps + 1)} model evaluations exceed the limit of "
                f"{MAX_SAMPLER_EVALUATIONS}"
            )
        if burnin >= steps:
            raise ValueError(
                f"optimizer burnin_iterations must be less than max_iterations ({steps}), "
                f"got {burnin}"
            )
        return walkers, steps, burnin

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
            burnin=_count(options, "burnin_iterations"),
            walkers=_positive_int(options, "walkers"),
        )


def _positive_int(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ValueError(f"optimizer {key} must be a positive integer, got {value!r}")
    return int(value)


def _count(options: Mapping[str, Any], key: str) -> int | None:
    """A whole number >= 0 (``None`` when absent)."""
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**31:
        raise ValueError(f"optimizer {key} must be a whole number >= 0, got {value!r}")
    return int(value)


def _sigma(spec: Mapping[str, Any]) -> float:
    """The noise standard deviation of a ``GaussianLogLikelihood`` cost (one voltage σ)."""
    raw = spec.get("sigma")
    if isinstance(raw, Mapping):
        if len(raw) != 1:
            raise ValueError(
                f"cost sigma: one entry expected (the voltage), got {len(raw)}: "
                f"{', '.join(map(repr, list(raw)[:5]))}"
            )
        raw = next(iter(raw.values()))
    if isinstance(raw, str):
        raise ValueError(
            f"cost sigma {raw!r}: a fitted noise parameter is not supported; give a number"
        )
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < math.inf:
        raise ValueError(
            'cost GaussianLogLikelihood needs sigma: a positive number, e.g. {"Voltage [V]": '
            f"0.005}}; got {raw!r}"
        )
    return float(raw)


def cost_function(spec: Any) -> tuple[str, Callable[[np.ndarray], float]]:
    name = spec.get("type") if isinstance(spec, Mapping) else spec
    name = str(name or "RMSE")
    if name == LIKELIHOOD:
        sigma = _sigma(spec if isinstance(spec, Mapping) else {})
        log_norm = math.log(2 * math.pi * sigma**2)

        def negative_log_likelihood(r: np.ndarray) -> float:
            return float(0.5 * (len(r) * log_norm + np.sum(r**2) / sigma**2))

        return name, negative_log_likelihood
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; accepted: {', '.join([*COSTS, LIKELIHOOD])}")
    return name, COSTS[name]


@attrs.define
class Tracker:
    """Counts evaluations, keeps the best point and the trace (see the module docstring) and
    reports throttled checkpoints."""

    params: list[FitParameter]
    cost: Callable[[np.ndarray], float]
    report: Callable[[dict[str, Any]], None] | None = None
    interval: float = 0.25
    evaluations: int = 0
    iteration: int = 0
    best_cost: float = math.inf
    best_u: np.ndarray | None = None
    #: The residuals at the best point (model − data, all objectives concatenated).
    best_residuals: np.ndarray | None = None
    trace: list[dict[str, Any]] = attrs.field(factory=list)
    _stride: int = 1
    _step_cost: float = math.inf
    _step_u: np.ndarray | None = None
    _last: float = 0.0

    def values(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: p.value(x) for p, x in zip(self.params, u, strict=True)}

    def seen(self, u: np.ndarray, residuals: np.ndarray) -> float:
        self.evaluations += 1
        value = self.cost(residuals)
        if value < self._step_cost:
            self._step_cost, self._step_u = value, np.array(u, dtype=np.float64)
        if value < self.best_cost:
            self.best_cost, self.best_u = value, np.array(u, dtype=np.float64)
            self.best_residuals = np.array(residuals, dtype=np.float64)
        return value

    def _row(self) -> dict[str, Any]:
        assert self.best_u is not None
        u = self._step_u if self._step_u is not None else self.best_u
        cost = self._step_cost if math.isfinite(self._step_cost) else self.best_cost
        return {
            "iteration": self.iteration,
            "evaluations": self.evaluations,
            "cost": cost,
            "best_cost": self.best_cost,
            "inputs": {p.name: float(x) for p, x in zip(self.params, u, strict=True)},
            "inputs_unscaled": self.values(u),
            "parameter_values": self.values(self.best_u),
        }

    def _keep(self, row: dict[str, Any], force: bool) -> None:
        if not force and self.iteration % self._stride:
            return
        if len(self.trace) >= TRACE_LIMIT:  # keep the first row and every 2 × stride-th
            self._stride *= 2
            first, *rest = self.trace
            self.trace[:] = [first, *(r for r in rest if r["iteration"] % self._stride == 0)]
            if not force and self.iteration % self._stride:
                return
        self.trace.append(row)

    def step(self, force: bool = False) -> None:
        """One iteration done (``force``: the last one, always kept and reported)."""
        self.iteration += 1
        if self.best_u is None:
            return
        point = self._row()
        self._step_cost, self._step_u = math.inf, None
        self._keep(point, force)
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
    #: A sampler's chains (see :func:`.sampler.sample`); ``None`` for optimisers.
    posterior: dict[str, Any] | None = None


Residuals = Callable[[list[dict[str, float]]], list[np.ndarray]]
Batch = Callable[[np.ndarray], list[np.ndarray]]


def batch_of(residuals: Residuals, tracker: Tracker) -> Batch:
    """Unit points ``(S, n)`` → their residuals (failed solves: :data:`FAILED_RESIDUAL`),
    each one counted by ``tracker``."""

    def batch(units: np.ndarray) -> list[np.ndarray]:
        points = [tracker.values(u) for u in units]
        out = []
        for u, r in zip(units, residuals(points), strict=True):
            r = np.where(np.isfinite(r), r, FAILED_RESIDUAL)
            tracker.seen(u, r)
            out.append(r)
        return out

    return batch


def optimize(
    residuals: Residuals, params: list[FitParameter], spec: OptimizerSpec, tracker: Tracker
) -> FitOutcome:
    """Minimise the cost of ``residuals`` (model − data, NaN where a solve failed), or sample
    its posterior (a sampler, see :mod:`.sampler`)."""
    from scipy import optimize as so

    batch = batch_of(residuals, tracker)
    if spec.kind == "sampler":
        from .sampler import sample

        return sample(batch, params, spec, tracker)
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
