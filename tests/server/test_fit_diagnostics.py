"""Integration: a fit's diagnostics against the local server — recorded series (optimal and
baseline), plot data, the parameter trace, posterior samples of a sampler fit, and live
progress of a running fit (then canceled)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import NotFoundError
from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import KEY_A
from tests.server.test_fitting import D_N, TRUE_D_N, synthetic_data

WAIT = {"timeout": 120, "poll_interval": 0.2, "verbose": False}
CHANNELS = ["Time [s]", "Measured voltage [V]", "Model voltage [V]"]
POINTS = 200
LIKELIHOOD = {"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": 0.001}}


def fit_pipeline(optimizer: dict[str, Any] | None = None, cost: Any = None) -> dict[str, Any]:
    fit: dict[str, Any] = {
        "element_type": "data_fit",
        "objectives": {"voltage": {"type": "CurrentDriven", "data": "entry.data"}},
        "parameters": {D_N: {"bounds": [1e-15, 1e-12], "initial_value": 3 * TRUE_D_N}},
    }
    if optimizer is not None:
        fit["optimizer"] = optimizer
    if cost is not None:
        fit["cost"] = cost
    entry = {"model": {"type": "SPM"}, "data": synthetic_data(POINTS)}
    return {"elements": {"entry": {"element_type": "entry", "values": entry}, "fit": fit}}


def _run(server: EmbeddedServer, config: dict[str, Any]) -> tuple[str, str]:
    """(pipeline id, job id) of a completed pipeline."""
    with Ionworks(api_key=KEY_A, api_url=server.url) as client:
        created = client.pipeline.create(config, name="diagnostics")
        client.pipeline.wait_for_completion(created.id, **WAIT)
        job_id = client.pipeline.elements(created.id)[0].job_id
        assert job_id
        return created.id, job_id


@pytest.fixture(scope="module")
def least_squares(server: EmbeddedServer) -> Iterator[tuple[str, str]]:
    yield _run(server, fit_pipeline())


@pytest.fixture(scope="module")
def sampled(server: EmbeddedServer) -> Iterator[tuple[str, str]]:
    optimizer = {"type": "PintsSampler", "max_iterations": 60, "burnin_iterations": 20}
    yield _run(server, fit_pipeline(optimizer, LIKELIHOOD))


def _fresh_voltage(d_n: float) -> np.ndarray:
    """A new PyBaMM solve of the synthetic experiment at ``d_n``."""
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    data = synthetic_data(POINTS)
    t, current = np.array(data["Time [s]"]), np.array(data["Current [A]"])
    values = pybamm.ParameterValues("Chen2020")
    values[D_N] = d_n
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t, interpolator="linear")
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values)
    return np.asarray(sim.solve([0.0, t[-1]], t_interp=t)["Voltage [V]"].entries)


async def test_fit_series_match_a_fresh_simulation(
    api: AsyncIonworks, least_squares: tuple[str, str]
) -> None:
    pipeline_id, job_id = least_squares
    channels = await api.job.get_series_channels(job_id)
    assert channels == {"voltage": {"optimal": CHANNELS, "baseline": CHANNELS}}
    assert await api.pipeline.get_element_series_channels(pipeline_id, "fit") == channels
    fitted = (await api.pipeline.result(pipeline_id)).element_results["fit"]
    d_n = fitted["parameter_values"][D_N]
    assert abs(d_n / TRUE_D_N - 1) < 0.1
    optimal = await api.job.get_series(job_id, "voltage")
    assert len(optimal["Time [s]"]) == POINTS
    model = np.array(optimal["Model voltage [V]"], dtype=float)
    rms = float(np.sqrt(np.mean((model - _fresh_voltage(d_n)) ** 2)))
    assert rms < 1e-3, f"final model curve differs from a fresh solve by {rms * 1e3:.3f} mV RMS"
    baseline = await api.pipeline.get_element_series(
        pipeline_id, "fit", "voltage", source="baseline"
    )
    initial = _fresh_voltage(3 * TRUE_D_N)
    assert np.sqrt(np.mean((np.array(baseline["Model voltage [V]"]) - initial) ** 2)) < 1e-3
    assert baseline["Measured voltage [V]"] == optimal["Measured voltage [V]"]
    assert fitted["type"] == "OptimizationResult" and fitted["x"] == [d_n]
    assert fitted["fit_summary_stats"]["voltage"]["RMSE [V]"] < 2e-3


async def test_trace_keeps_the_best_so_far(
    api: AsyncIonworks, least_squares: tuple[str, str]
) -> None:
    pipeline_id, job_id = least_squares
    trace = await api.job.get_parameter_trace(job_id)
    assert len(trace) >= 3
    best = [row["best_cost"] for row in trace]
    assert all(b <= a for a, b in itertools.pairwise(best)), best
    assert all(row["cost"] >= row["best_cost"] for row in trace)
    assert all(set(row["inputs_unscaled"]) == {D_N} for row in trace)
    assert all(0.0 <= row["inputs"][D_N] <= 1.0 for row in trace)
    result = (await api.pipeline.result(pipeline_id)).element_results["fit"]
    assert best[-1] == result["cost"] and best[0] > best[-1]
    assert trace[-1]["parameter_values"] == result["parameter_values"]
    # an optimiser has no posterior; neither has an unknown job
    assert await api.job.get_posterior_samples(job_id) == {}
    assert await api.job.get_posterior_samples("no-such-job") == {}


async def test_plot_data_and_metadata(api: AsyncIonworks, least_squares: tuple[str, str]) -> None:
    _, job_id = least_squares
    curves = await api.job.get_plot_data(job_id, "voltage", max_points=100)
    assert [t["name"] for t in curves["traces"]] == ["Data", "Fit", "Baseline (initial guess)"]
    assert all(len(t["x"]) == len(t["y"]) == 100 for t in curves["traces"])
    assert curves["layout"]["yaxis"]["title"]["text"] == "Voltage [V]"
    assert (curves["plot_count"], curves["total_points"]) == (2, POINTS)
    error = await api.job.get_plot_data(job_id, "voltage", 1, x_min=1000, x_max=2000)
    (trace,) = error["traces"]
    assert trace["name"] == "Error" and all(1000 <= x <= 2000 for x in trace["x"])
    assert max(abs(y) for y in trace["y"]) < 5e-3
    with pytest.raises(NotFoundError, match=r"plot_index 0\.\.1"):
        await api.job.get_plot_data(job_id, "voltage", 2)
    with pytest.raises(NotFoundError, match="no series for objective 'nope'"):
        await api.job.get_plot_data(job_id, "nope")
    metadata = await api.job.get_metadata(job_id)
    manifest = metadata["validation_plot_config"]["objectives"]
    assert manifest == {"voltage": {"plot_count": 2, "type": "CurrentDriven"}}
    assert list(metadata["baseline_validation_results"]["voltage"]) == CHANNELS


async def test_sampler_returns_posterior_samples(
    api: AsyncIonworks, sampled: tuple[str, str]
) -> None:
    pipeline_id, job_id = sampled
    posterior = await api.job.get_posterior_samples(job_id)
    assert posterior["sample_param_names"] == [D_N]
    chains = np.array(posterior["samples"][D_N], dtype=float)
    assert chains.shape == (8, 60)  # default walkers for one parameter x max_iterations
    assert np.array(posterior["sample_costs"], dtype=float).shape == chains.shape
    burnin = posterior["sample_burnin"]
    assert burnin == 20
    kept = chains[:, burnin:]
    assert kept.min() <= TRUE_D_N <= kept.max()
    fit = (await api.pipeline.result(pipeline_id)).element_results["fit"]
    assert fit["type"] == "PosteriorResult" and fit["method"] == "emcee"
    assert 0 < fit["acceptance_rate"] < 1
    assert abs(fit["parameter_values"][D_N] / TRUE_D_N - 1) < 0.2
    thinned = await api.job.get_series(job_id, "voltage", max_points=10)
    assert 5 <= len(thinned["Time [s]"]) <= 10


async def test_running_fit_shows_progress_and_cancels(api: AsyncIonworks) -> None:
    optimizer = {"type": "PintsSampler", "max_iterations": 2400, "walkers": 8}
    created = await api.pipeline.create(fit_pipeline(optimizer, LIKELIHOOD), name="live")
    job_id = (await api.pipeline.elements(created.id))[0].job_id
    assert job_id
    try:
        with anyio.fail_after(60):
            while True:
                job = await api.job.get(job_id)
                progress = job.extra.get("progress") or {}
                if (progress.get("iteration") or 0) >= 2:
                    break
                assert not job.is_terminal, job.error
                await anyio.sleep(0.2)
        assert progress["element"] == "fit" and progress["best_cost"] is not None
        first = len(await api.job.get_parameter_trace(job_id))
        live = await api.job.get_series(job_id, "voltage")
        assert len(live["Model voltage [V]"]) == POINTS
        with anyio.fail_after(60):
            while len(await api.job.get_parameter_trace(job_id)) <= first:
                await anyio.sleep(0.2)
        await api.pipeline.cancel(created.id)
        with anyio.fail_after(20):
            while not (job := await api.job.get(job_id)).is_terminal:
                await anyio.sleep(0.1)
        assert job.status == "canceled"
    finally:
        await api.pipeline.delete(created.id)


async def test_element_results_carry_their_diagnostics(
    api: AsyncIonworks, least_squares: tuple[str, str], sampled: tuple[str, str]
) -> None:
    fit = await api.pipeline.element_result(least_squares[0], "fit")
    assert (
        fit.type == "OptimizationResult" and fit.parameter_values == fit.result["parameter_values"]
    )
    assert [len(p["traces"]) for p in fit.overlay["voltage"]["plots"]] == [3, 1]
    assert set(fit.series["voltage"]) == {"optimal", "baseline"} and fit.trace and not fit.posterior
    assert fit.to_schema_config()["type"] == "OptimizationResult"
    every = await api.pipeline.element_results(sampled[0])
    assert set(every) == {"entry", "fit"} and not every["entry"].series
    posterior = every["fit"].posterior
    assert every["fit"].type == "PosteriorResult" and posterior["sample_param_names"] == [D_N]
    with pytest.raises(ValueError, match="No element named 'ghost'"):
        await api.pipeline.element_result(sampled[0], "ghost")


def test_checkpoints_carry_the_trace_and_live_curves() -> None:
    from ionworks.server.fitting.runner import run_config

    checkpoints: list[dict[str, Any]] = []
    run_config(fit_pipeline(), report=checkpoints.append)
    assert len(checkpoints) >= 2
    last = checkpoints[-1]
    assert last["element"] == "fit" and last["checkpoint"]["best_cost"] < 2e-3
    live = last["validation_results"]["voltage"]
    assert list(live) == CHANNELS and len(live["Time [s]"]) == POINTS
    error = np.array(live["Model voltage [V]"]) - np.array(live["Measured voltage [V]"])
    assert np.sqrt(np.mean(error**2)) == pytest.approx(last["checkpoint"]["best_cost"])


def test_trace_is_thinned_evenly_and_keeps_the_last_row() -> None:
    from ionworks.server.fitting.optimize import TRACE_LIMIT, FitParameter, Tracker, cost_function

    tracker = Tracker([FitParameter.parse("x", {"bounds": [0, 1]})], cost_function("SSE")[1])
    for i in range(1300):
        tracker.seen(np.array([0.5]), np.array([1.0 / (i + 1)]))
        tracker.step(force=i == 1299)
    iterations = [row["iteration"] for row in tracker.trace]
    assert len(iterations) <= TRACE_LIMIT and iterations[-1] == 1300
    assert iterations[0] == 1  # the first row stays
    gaps = {b - a for a, b in itertools.pairwise(iterations[1:-1])}
    assert gaps == {4}, gaps  # 1,300 rows thinned twice
    nll = cost_function({"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": 0.5}})[1]
    expected = 0.5 * (2 * np.log(2 * np.pi * 0.25) + (1 + 4) / 0.25)
    assert nll(np.array([1.0, 2.0])) == pytest.approx(expected)


async def test_population_fit_on_the_workers_records_series(
    api: AsyncIonworks, server: EmbeddedServer
) -> None:
    """A differential evolution fit (driven in the server, populations on the workers) gets
    its curves from the workers too."""
    optimizer = {"type": "DifferentialEvolution", "max_iterations": 3, "population_size": 8}
    pipeline_id, job_id = await anyio.to_thread.run_sync(_run, server, fit_pipeline(optimizer))
    try:
        assert await api.job.get_series_channels(job_id) == {
            "voltage": {"optimal": CHANNELS, "baseline": CHANNELS}
        }
        fit = (await api.pipeline.result(pipeline_id)).element_results["fit"]
        assert fit["fan_out"]["sub_jobs"] >= 4
        optimal = await api.job.get_series(job_id, "voltage")
        error = np.array(optimal["Model voltage [V]"]) - np.array(optimal["Measured voltage [V]"])
        assert np.sqrt(np.mean(error**2)) == pytest.approx(fit["cost"])
    finally:
        await api.pipeline.delete(pipeline_id)


async def test_element_result_plots_draw(
    api: AsyncIonworks, least_squares: tuple[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    fit = await api.pipeline.element_result(least_squares[0], "fit")
    _, axes = fit.plot_fit(tmp_path / "fit.png")
    assert axes.shape == (1, 2) and (tmp_path / "fit.png").stat().st_size > 1000
    assert [axes[0][0].get_ylabel(), axes[0][1].get_ylabel()] == ["Voltage [V]", "Error [V]"]
    assert axes[0][0].get_xlabel() == "Time [s]"
    assert [line.get_label() for line in axes[0][0].get_lines()][:2] == ["Data", "Fit"]
    _, trace_axes = fit.plot_trace(tmp_path / "trace.png")
    assert [ax.get_ylabel() for ax in trace_axes[:, 0]] == ["best cost", D_N]
    assert (tmp_path / "trace.png").stat().st_size > 1000
    entry = (await api.pipeline.element_results(least_squares[0]))["entry"]
    with pytest.raises(ValueError, match="no overlay plots"):
        entry.plot_fit()


def test_sampler_stops_at_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from ionworks.server.fitting import sampler
    from ionworks.server.fitting.runner import run_config

    monkeypatch.setattr(sampler, "MAX_SECONDS", 0.0)
    optimizer = {"type": "PintsSampler", "max_iterations": 500}
    fit = run_config(fit_pipeline(optimizer, LIKELIHOOD))["element_results"]["fit"]
    assert np.array(fit["chains"]).shape == (8, 1, 1) and fit["burnin"] == 0
    assert not fit["success"] and "time limit" in fit["message"] and fit["iterations"] == 1
