"""Bounds of a sampler fit, without a model: walkers capped like a population at submit, the
initial walkers counted, the time limit checked between batches of walkers, and a posterior
that always keeps a step after its burn-in (a fake ``batch`` stands in for the solves)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ionworks.server.fitting import sampler
from ionworks.server.fitting.checks import check_pipeline
from ionworks.server.fitting.optimize import (
    FitParameter,
    OptimizerSpec,
    Tracker,
    cost_function,
)
from ionworks.server.limits import Limits

pytest.importorskip("emcee")

LIKELIHOOD = {"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": 0.1}}


def _params(n: int) -> list[FitParameter]:
    return [FitParameter.parse(f"p{i}", {"bounds": [0.0, 1.0]}) for i in range(n)]


def _tracker(n: int) -> Tracker:
    return Tracker(_params(n), cost_function(LIKELIHOOD)[1])


def _batch(tracker: Tracker, calls: list[int] | None = None) -> Any:
    """Residuals ``u - 0.3`` per walker, each one counted (``calls``: the batch sizes)."""

    def batch(units: np.ndarray) -> list[np.ndarray]:
        if calls is not None:
            calls.append(len(units))
        out = [np.asarray(u, dtype=np.float64) - 0.3 for u in units]
        for u, r in zip(units, out, strict=True):
            tracker.seen(u, r)
        return out

    return batch


def _sample(n: int, **options: Any) -> Any:
    tracker = _tracker(n)
    spec = OptimizerSpec.parse({"type": "PintsSampler", **options})
    return sampler.sample(_batch(tracker), _params(n), spec, tracker), tracker


def _fit(**optimizer: Any) -> dict[str, Any]:
    return {
        "fit": {
            "element_type": "data_fit",
            "parameters": {"p0": {"bounds": [0.0, 1.0]}},
            "optimizer": {"type": "PintsSampler", **optimizer},
            "cost": LIKELIHOOD,
        }
    }


@pytest.mark.parametrize(
    ("optimizer", "limit"),
    [
        ({"walkers": 20_000, "max_iterations": 1}, 1000),
        ({"walkers": 1002, "max_iterations": 2}, 1000),
        ({"walkers": 52, "max_iterations": 10}, 50),
    ],
)
def test_walkers_are_capped_like_a_population(optimizer: dict[str, Any], limit: int) -> None:
    with pytest.raises(ValueError, match=r"elements\.fit\.optimizer\.walkers") as caught:
        check_pipeline(_fit(**optimizer), Limits(max_population_size=limit))
    assert f"limit of {limit} (max_population_size)" in str(caught.value)


def test_walkers_within_the_cap_pass() -> None:
    check_pipeline(_fit(walkers=50, max_iterations=10), Limits(max_population_size=50))
    check_pipeline(_fit(walkers=1000, max_iterations=19), Limits())  # 1000 x 20 = 20000


def test_initial_walkers_count_as_evaluations() -> None:
    with pytest.raises(ValueError, match=r"100 x \(200 \+ 1\) = 20100 model evaluations"):
        check_pipeline(_fit(walkers=100, max_iterations=200), Limits())


def test_walkers_are_evaluated_in_bounded_batches() -> None:
    tracker = _tracker(1)
    calls: list[int] = []
    spec = OptimizerSpec.parse({"type": "PintsSampler", "walkers": 300, "max_iterations": 3})
    outcome = sampler.sample(_batch(tracker, calls), _params(1), spec, tracker)
    assert max(calls) <= sampler.CHUNK
    assert tracker.evaluations == 300 * (3 + 1) and outcome.posterior is not None


def test_burnin_near_the_end_keeps_a_sample_after_thinning() -> None:
    # 150 steps x 100 walkers x 10 parameters: thinned by 2, 75 kept steps; a burn-in of 149
    # steps was ceil(149 / 2) = 75 kept steps, leaving nothing to summarise
    outcome, _ = _sample(10, walkers=100, max_iterations=150, burnin_iterations=149)
    posterior = outcome.posterior
    assert posterior["thin"] == 2 and posterior["burnin"] == 74
    assert np.array(posterior["chains"]).shape == (100, 75, 10)
    summary = posterior["posterior_summary"]["p0"]
    assert all(np.isfinite(v) for v in summary.values())


class _Clock:
    """A monotonic clock that jumps past any deadline once ``expired`` is set."""

    def __init__(self) -> None:
        self.expired = False

    def monotonic(self) -> float:
        return 1e12 if self.expired else 0.0


def _timed(
    monkeypatch: pytest.MonkeyPatch, n: int, walkers: int, expire_after: int, **options: Any
) -> tuple[Any, Tracker]:
    """A run whose clock passes the deadline once ``expire_after`` walkers were evaluated."""
    clock = _Clock()
    monkeypatch.setattr(sampler, "time", clock)
    tracker = _tracker(n)
    inner = _batch(tracker)

    def batch(units: np.ndarray) -> list[np.ndarray]:
        out = inner(units)
        clock.expired = tracker.evaluations >= expire_after
        return out

    spec = OptimizerSpec.parse({"type": "PintsSampler", "walkers": walkers, **options})
    return sampler.sample(batch, _params(n), spec, tracker), tracker


def test_time_limit_is_checked_inside_a_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # 256 walkers: the initial ones and 2 steps are 768 evaluations; the limit passes after
    # the first batch of step 3, which then stops at once with the 2 completed steps
    outcome, tracker = _timed(monkeypatch, 1, 256, 768 + sampler.CHUNK, max_iterations=50)
    assert tracker.evaluations == 768 + sampler.CHUNK
    assert outcome.iterations == 2 and not outcome.success and "time limit" in outcome.message
    assert np.array(outcome.posterior["chains"]).shape == (256, 2, 1)


def test_early_stop_keeps_a_sample_after_burnin(monkeypatch: pytest.MonkeyPatch) -> None:
    # stopped after 4 steps of 400 walkers x 64 parameters: thinned by 2 (2 kept steps), the
    # burn-in clamped to 3 steps was ceil(3 / 2) = 2 kept steps, leaving nothing
    outcome, _ = _timed(monkeypatch, 64, 400, 400 * 5, max_iterations=40, burnin_iterations=30)
    posterior = outcome.posterior
    assert outcome.iterations == 4 and posterior["thin"] == 2 and posterior["burnin"] == 1
    assert all(np.isfinite(v) for v in posterior["posterior_summary"]["p63"].values())


def test_other_errors_still_end_the_run() -> None:
    """A canceled fan-out raises from the batch: the sampler does not swallow it."""
    tracker = _tracker(1)
    calls: list[int] = []
    inner = _batch(tracker, calls)

    def batch(units: np.ndarray) -> list[np.ndarray]:
        if len(calls) >= 3:
            raise RuntimeError("job canceled")
        return inner(units)

    spec = OptimizerSpec.parse({"type": "PintsSampler", "max_iterations": 50})
    with pytest.raises(RuntimeError, match="job canceled"):
        sampler.sample(batch, _params(1), spec, tracker)
