"""Official-client checks of ``client.job`` and the fit diagnostics of ``client.pipeline``
(issue 19): a real least-squares fit and a sampler fit (synthetic SPM data, D_n = 3.3e-14)
read back through ``job.get_series_channels/get_series/get_plot_data/get_parameter_trace/
get_posterior_samples/get_metadata``, ``pipeline.get_element_*``, and the ``ionworks_schema``
typed results (``OptimizationResult``/``PosteriorResult`` with overlay, series, trace and
posterior filled). Loaded by ``drive_official.py`` in the official client's venv.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

D_N = "Negative particle diffusivity [m2.s-1]"
TRUE_D_N = 3.3e-14
WAIT = 180
CHANNELS = ["Time [s]", "Measured voltage [V]", "Model voltage [V]"]


def _fit(data: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    return {
        "elements": {
            "fit": {
                "element_type": "data_fit",
                "objectives": {
                    "voltage": {
                        "type": "CurrentDriven",
                        "data": data,
                        "options": {"model": {"type": "SPM"}},
                    }
                },
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "initial_value": 9.9e-14}},
                **extra,
            }
        }
    }


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state
    client = driver.require_client

    def run(key: str, config: dict[str, Any]) -> str:
        c = client()
        created = c.pipeline.create(config, name=f"official {key}")
        done = c.pipeline.wait_for_completion(
            created.id, timeout=WAIT, poll_interval=1, verbose=False
        )
        assert done.status == "completed", f"status {done.status}: {done.error}"
        job_id = c.pipeline.get_element_metadata(created.id, "fit")["job_id"]
        state[key] = (created.id, job_id)
        return job_id

    def create_is_gone() -> str:
        from ionworks.job import JobCreationPayload

        from ionworks import IonworksError

        c = client()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                c.job.create(JobCreationPayload(job_type="pipeline", params={}))
            except IonworksError as exc:
                assert exc.status_code == 410, exc
            else:
                raise AssertionError("direct job submission was accepted")
        assert any(w.category is DeprecationWarning for w in caught), caught
        return "410 and a DeprecationWarning"

    def fit_diagnostics() -> str:
        c = client()
        job_id = run("fit_job", _fit(driver._fit_data()))
        job = c.job.get(job_id)
        assert job.is_terminal and not job.is_failed, job
        assert job_id in [j.job_id for j in c.job.list()], "fit job not listed"
        channels = c.job.get_series_channels(job_id)
        assert channels == {"voltage": {"optimal": CHANNELS, "baseline": CHANNELS}}, channels
        series = c.job.get_series(job_id, "voltage", columns=["Model voltage [V]"], max_points=50)
        assert list(series) == ["Time [s]", "Model voltage [V]"], list(series)
        assert 25 <= len(series["Time [s]"]) <= 50, len(series["Time [s]"])
        plot = c.job.get_plot_data(job_id, "voltage", 0, 100, 0.0, 3000.0)
        names = [t["name"] for t in plot["traces"]]
        assert names == ["Data", "Fit", "Baseline (initial guess)"], names
        assert all(len(t["x"]) == len(t["y"]) <= 100 for t in plot["traces"])
        assert max(plot["traces"][0]["x"]) <= 3000.0
        error = c.job.get_plot_data(job_id, "voltage", plot_index=1)
        assert [t["name"] for t in error["traces"]] == ["Error"], error["traces"]
        trace = c.job.get_parameter_trace(job_id)
        best = [row["best_cost"] for row in trace]
        assert trace and all(b <= a for a, b in itertools.pairwise(best)), best
        assert all(D_N in row["inputs_unscaled"] for row in trace), trace[0]
        assert c.job.get_posterior_samples(job_id) == {}, "an optimiser has no posterior"
        assert c.job.get_posterior_samples("00000000-0000-0000-0000-000000000000") == {}
        return f"{len(trace)} trace rows, best cost {best[-1]:.3g} V"

    def element_helpers() -> str:
        c = client()
        pipeline_id, job_id = driver.need("fit_job")[0]
        metadata = c.pipeline.get_element_metadata(pipeline_id, "fit")
        manifest = metadata["validation_plot_config"]["objectives"]
        assert manifest == {"voltage": {"plot_count": 2, "type": "CurrentDriven"}}, manifest
        assert c.pipeline.get_element_series_channels(pipeline_id, "fit") == (
            c.job.get_series_channels(job_id)
        )
        base = c.pipeline.get_element_series(pipeline_id, "fit", "voltage", source="baseline")
        best = c.pipeline.get_element_series(pipeline_id, "fit", "voltage")
        assert base["Measured voltage [V]"] == best["Measured voltage [V]"]
        assert base["Model voltage [V]"] != best["Model voltage [V]"]
        return "metadata manifest, channels, optimal and baseline series"

    def typed_fit_result() -> str:
        import ionworks_schema as iws
        from ionworks_schema.plots import PlotConfig

        c = client()
        pipeline_id, _ = driver.need("fit_job")[0]
        typed = c.pipeline.result(pipeline_id).element("fit")
        assert isinstance(typed, iws.OptimizationResult), type(typed)
        assert abs(typed.x[0] / TRUE_D_N - 1) < 0.1 and typed.success, typed.x
        overlay = typed.overlay
        plots = overlay["voltage"]["plots"]
        assert overlay["voltage"]["type"] == "CurrentDriven" and len(plots) == 2, overlay
        panel = PlotConfig.from_wire(plots[0])
        assert panel.x_label == "Time [s]" and panel.y_label == "Voltage [V]", panel
        assert [t.label for t in panel.traces][:2] == ["Data", "Fit"], panel.traces
        series = typed.series["voltage"]
        assert set(series) == {"optimal", "baseline"} and len(series["optimal"]["Time [s]"]) > 0
        assert typed.trace and "inputs_unscaled" in typed.trace[-1], typed.trace
        assert not typed.posterior, typed.posterior
        return f"OptimizationResult: overlay {len(plots)} plots, series, {len(typed.trace)} rows"

    def sampler_fit() -> str:
        import ionworks_schema as iws
        import numpy as np

        c = client()
        config = _fit(
            driver._fit_data(),
            optimizer={"type": "PintsSampler", "max_iterations": 60, "burnin_iterations": 20},
            cost={"type": "GaussianLogLikelihood", "sigma": {"Voltage [V]": 0.002}},
        )
        job_id = run("sampler_job", config)
        posterior = c.job.get_posterior_samples(job_id)
        assert posterior["sample_param_names"] == [D_N], posterior.keys()
        chains = np.asarray(posterior["samples"][D_N], dtype=float)
        assert chains.shape == (8, 60), chains.shape
        assert np.asarray(posterior["sample_costs"], dtype=float).shape == chains.shape
        assert posterior["sample_burnin"] == 20
        typed = c.pipeline.result(state["sampler_job"][0]).element("fit")
        assert isinstance(typed, iws.PosteriorResult), type(typed)
        marginal = typed.marginal(D_N)
        assert marginal.shape == (8 * 40,), marginal.shape
        assert marginal.min() <= TRUE_D_N <= marginal.max(), (marginal.min(), marginal.max())
        assert typed.posterior["samples"][D_N] == posterior["samples"][D_N]
        assert typed.overlay["voltage"]["plots"] and typed.series["voltage"]["optimal"]
        low, high = typed.credible_interval(D_N, 0.9)
        return f"8 walkers x 60 steps; 90% interval {low:.3g}..{high:.3g}"

    return [
        ("job.create (deprecated: 410)", create_is_gone),
        ("job.get/list/get_series*/get_plot_data/get_parameter_trace (fit)", fit_diagnostics),
        ("pipeline.get_element_metadata/series_channels/series (fit)", element_helpers),
        ("iws typed fit result: overlay, series, trace", typed_fit_result),
        ("job.get_posterior_samples + iws PosteriorResult (sampler fit)", sampler_fit),
    ]
