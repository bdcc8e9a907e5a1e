"""Posterior sampling of a data fit: emcee's affine-invariant ensemble MCMC.

A fit whose ``optimizer`` is a sampler (``PintsSampler``, the official element type; the
engine here is emcee whatever its ``method``) and whose ``cost`` is ``GaussianLogLikelihood``
samples ``log p(θ | data) = −NLL(θ)`` with flat priors within the parameters' bounds. Walkers
move in the unit coordinates of :class:`~.optimize.FitParameter` (so a log-scaled parameter
has a flat prior in its logarithm); every step evaluates the walkers in batch solves of at
most :data:`CHUNK` walkers (so the residual arrays held at once are bounded whatever the
walker count). Walkers start in a small ball (1 % of each range) around the initial guess.

The chains are returned in physical units, ``(walker, step, parameter)``, with the per-draw
log-likelihood; at most :data:`MAX_STORED_VALUES` numbers are kept (steps thinned evenly,
the burn-in count scaled with them, at least one kept step always after it).
``parameter_values`` is the best draw (the MAP under the flat prior). Walkers (the server's
``max_population_size``) and walkers × (steps + 1) (:data:`~.optimize.MAX_SAMPLER_EVALUATIONS`)
are capped when the pipeline is submitted, and the run by :data:`MAX_SECONDS` of wall-clock
time, checked between batches: once the first step is done, a slow model stops early (the
chains hold the completed steps, and ``message`` says so). Cancellation is unchanged: a
canceled job's worker is killed, and a fanned-out batch raises, which ends the run.
"""

from __future__ import annotations

import math
import time
from typing import Any, Final

import numpy as np

from .optimize import LIKELIHOOD, Batch, FitOutcome, FitParameter, OptimizerSpec, Tracker

__all__ = ["CHUNK", "MAX_STORED_VALUES", "sample"]

#: Numbers of a stored chain (walkers × kept steps × parameters).
MAX_STORED_VALUES: Final = 100_000
#: The starting ball's radius, in unit coordinates.
BALL: Final = 0.01
QUANTILES: Final = {"q05": 0.05, "median": 0.5, "q95": 0.95}
#: Wall-clock budget of one sampler run, in seconds.
MAX_SECONDS: Final = 1800.0
#: Walkers evaluated in one batch solve.
CHUNK: Final = 64


class _OutOfTime(Exception):
    """The time limit passed during a step (the steps done before it are kept)."""


def sample(
    batch: Batch, params: list[FitParameter], spec: OptimizerSpec, tracker: Tracker
) -> FitOutcome:
    """Run the sampler; a :class:`~.optimize.FitOutcome` with ``posterior`` set."""
    try:
        import emcee
    except ImportError:  # the server extra installs it
        raise ValueError(
            f"optimizer {spec.name} needs the emcee package on the server: pip install "
            "'ionworks[server]'"
        ) from None
    n = len(params)
    walkers, steps, burnin = spec.sampler_shape(n)
    rng = np.random.default_rng(spec.seed)
    x0 = np.array([p.unit(p.initial) for p in params])
    start = np.clip(x0 + BALL * rng.standard_normal((walkers, n)), 0.0, 1.0)

    def log_probability(units: np.ndarray) -> np.ndarray:
        units = np.atleast_2d(units)
        out = np.full(len(units), -np.inf)
        inside = np.flatnonzero(np.all((units >= 0.0) & (units <= 1.0), axis=1))
        for first in range(0, len(inside), CHUNK):
            if ensemble.iteration and time.monotonic() > deadline:
                raise _OutOfTime
            part = inside[first : first + CHUNK]
            out[part] = [-tracker.cost(r) for r in batch(units[part])]
        return out

    ensemble = emcee.EnsembleSampler(walkers, n, log_probability, vectorize=True)
    ensemble.random_state = np.random.RandomState(spec.seed).get_state()
    deadline = time.monotonic() + MAX_SECONDS
    try:
        for _ in ensemble.sample(start, iterations=steps):
            tracker.step()
            if time.monotonic() > deadline:
                break
    except _OutOfTime:
        pass  # the chains hold the steps completed before the limit
    tracker.step(force=True)
    done = ensemble.iteration
    chain = ensemble.get_chain()  # (step, walker, parameter), unit coordinates
    log_pdfs = ensemble.get_log_prob()  # (step, walker)
    posterior = _posterior(params, chain, log_pdfs, min(burnin, done - 1))
    posterior["acceptance_rate"] = float(np.mean(ensemble.acceptance_fraction))
    posterior["walkers"], posterior["steps"] = walkers, done
    best = tracker.best_u if tracker.best_u is not None else x0
    message = f"emcee: {walkers} walkers x {done} steps ({burnin} burn-in)"
    if done < steps:
        message += f"; stopped at the {MAX_SECONDS:.0f} s time limit before {steps} steps"
    return FitOutcome(
        tracker.values(best), tracker.best_cost, tracker.evaluations, done, done == steps,
        message, posterior=posterior,
    )  # fmt: skip


def _physical(params: list[FitParameter], chain: np.ndarray) -> np.ndarray:
    out = np.empty_like(chain)
    for i, p in enumerate(params):
        out[..., i] = np.vectorize(p.value, otypes=[np.float64])(chain[..., i])
    return out


def _posterior(
    params: list[FitParameter], chain: np.ndarray, log_pdfs: np.ndarray, burnin: int
) -> dict[str, Any]:
    steps, walkers, n = chain.shape
    thin = max(1, math.ceil(steps * walkers * n / MAX_STORED_VALUES))
    kept = np.transpose(_physical(params, chain[::thin]), (1, 0, 2))  # (walker, step, param)
    kept_log = np.transpose(log_pdfs[::thin])
    kept_burnin = min(math.ceil(burnin / thin), kept.shape[1] - 1)  # one kept step at least
    after = kept[:, kept_burnin:, :].reshape(-1, n)
    summary = {
        p.name: {
            "mean": float(np.mean(after[:, i])),
            "std": float(np.std(after[:, i])),
            **{k: float(np.quantile(after[:, i], q)) for k, q in QUANTILES.items()},
        }
        for i, p in enumerate(params)
    }
    return {
        "chains": kept.tolist(),
        "log_pdfs": [[float(v) if math.isfinite(v) else None for v in w] for w in kept_log],
        "parameter_names": [p.name for p in params],
        "burnin": kept_burnin,
        "thin": thin,
        "method": "emcee",
        "posterior_summary": summary,
    }


def check_sampler_cost(spec: OptimizerSpec, cost_name: str) -> None:
    """A sampler needs the likelihood cost (``ValueError`` naming both otherwise)."""
    if spec.kind == "sampler" and cost_name != LIKELIHOOD:
        raise ValueError(
            f"optimizer {spec.name} samples a posterior: it needs cost {{'type': "
            f"'{LIKELIHOOD}', 'sigma': {{'Voltage [V]': <noise std>}}}}, got {cost_name!r}"
        )
