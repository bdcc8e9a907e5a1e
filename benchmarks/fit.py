"""Benchmark 8: a one-parameter SPM fit through a simple pipeline vs raw
``scipy.optimize.least_squares`` on a built-once PyBaMM simulation in this process."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import statistics
import time
from datetime import datetime
from typing import Any

import numpy as np

from benchmarks._common import D_N, KEY, LocalServer, report
from ionworks import AsyncIonworks

TRUE_D_N = 3.3e-14
BOUNDS = (1e-15, 1e-12)
POINTS = 300


def _pybamm() -> Any:
    import pybamm

    return pybamm


def synthetic(points: int = POINTS) -> dict[str, list[float]]:
    """SPM (Chen2020) with D_n = 3.3e-14 driven by a 1C discharge then a rest, 1 mV noise
    (the recipe of tests/server/test_fitting.py)."""
    pybamm = _pybamm()
    t = np.linspace(0.0, 3300.0, points)
    current = np.where(t < 2700.0, 5.0, 0.0)
    values = pybamm.ParameterValues("Chen2020")
    values[D_N] = TRUE_D_N
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values)
    voltage = sim.solve([0.0, t[-1]], t_interp=t)["Voltage [V]"].entries
    voltage = voltage + np.random.default_rng(0).normal(0.0, 1e-3, len(t))
    return {
        "Time [s]": t.tolist(),
        "Current [A]": current.tolist(),
        "Voltage [V]": voltage.tolist(),
    }


def fit_config(data: dict[str, list[float]]) -> dict[str, Any]:
    """Data inline in an entry element (what a user with the data in memory sends: one
    request, no upload); the fit uses the default optimizer (least squares)."""
    return {
        "elements": {
            "entry": {"element_type": "entry", "values": {"model": {"type": "SPM"}, "data": data}},
            "fit": {
                "element_type": "data_fit",
                "objectives": {"voltage": {"data": "entry.data"}},
                "parameters": {D_N: {"bounds": list(BOUNDS), "initial_value": 3 * TRUE_D_N}},
            },
        }
    }


def raw_fit(data: dict[str, list[float]], tuned: bool = False) -> tuple[float, float, int, int]:
    """Seconds, fitted D_n, scipy's nfev and model solves: build the SPM once (D_n an input,
    the measured current an Interpolant), least_squares on log10(D_n) from 3x the true
    value. ``tuned``: IDAKLU ``output_variables=["Voltage [V]"]`` and ``diff_step=1e-3``."""
    pybamm = _pybamm()
    from scipy.optimize import least_squares

    start = time.perf_counter()
    t = np.asarray(data["Time [s]"])
    current = np.asarray(data["Current [A]"])
    measured = np.asarray(data["Voltage [V]"])
    values = pybamm.ParameterValues("Chen2020")
    values[D_N] = "[input]"
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]"] if tuned else None)
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values, solver=solver)
    solves = 0

    def residual(x: np.ndarray) -> np.ndarray:
        nonlocal solves
        solves += 1
        solution = sim.solve([0.0, t[-1]], inputs={D_N: 10 ** x[0]}, t_interp=t)
        model: np.ndarray = np.interp(t, solution.t, solution["Voltage [V]"].entries)
        out: np.ndarray = model - measured
        return out

    res = least_squares(
        residual,
        [math.log10(3 * TRUE_D_N)],
        bounds=[math.log10(b) for b in BOUNDS],
        **({"diff_step": 1e-3} if tuned else {}),
    )
    return time.perf_counter() - start, float(10 ** res.x[0]), int(res.nfev), solves


async def _fit(url: str, config: dict[str, Any]) -> tuple[float, str, float]:
    """Seconds from submit to the fitted value in hand, the pipeline's job id, the value."""
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        await client.project.list()  # session and default project set up before timing
        start = time.perf_counter()
        created = await client.simple_pipeline.create(config)
        done = await client.simple_pipeline.wait_for_completion(
            created.id, timeout=300, poll_interval=0.05, verbose=False
        )
        assert done.result is not None
        fitted = float(done.result["parameter_values"][D_N])
        elapsed = time.perf_counter() - start
        assert created.job_id is not None
        return elapsed, created.job_id, fitted


async def _warm(url: str, config: dict[str, Any]) -> None:
    """Two fits at once, so both workers have run a fit (PyBaMM, scipy, the fitting code)."""
    await asyncio.gather(_fit(url, config), _fit(url, config))


def _in_worker(server: LocalServer, job_id: str) -> dict[str, Any]:
    """The pipeline job's started_at → finished_at and the fit element's own figures."""
    db = sqlite3.connect(server.data_dir / "ionworks.sqlite3")
    try:
        started, finished, result = db.execute(
            "SELECT started_at, finished_at, result FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    finally:
        db.close()
    start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (started, finished))
    fit = json.loads(result)["element_results"]["fit"]
    return {
        "job_s": (end - start).total_seconds(),
        "fit_element_s": fit["time_s"],
        "nfev": fit["evaluations"],  # every residual evaluation (model solve)
    }


def bench_fit(runs: int = 3) -> None:
    """8. One-parameter SPM fit through a simple pipeline vs raw least_squares."""
    data = synthetic()
    config = fit_config(data)
    raw_fit(data)  # first-use costs (scipy import, solver set-up paths) out of the way
    raw_runs = [raw_fit(data) for _ in range(runs)]
    tuned_runs = [raw_fit(data, tuned=True) for _ in range(runs)]
    with LocalServer(workers=2).run() as server:
        asyncio.run(_warm(server.url, config))
        server.settle()  # the server's own PyBaMM import done
        ours_runs = [asyncio.run(_fit(server.url, config)) for _ in range(runs)]
        workers = [_in_worker(server, job_id) for _, job_id, _ in ours_runs]
    ours = statistics.median(r[0] for r in ours_runs)
    baseline = statistics.median(r[0] for r in raw_runs)
    tuned = statistics.median(r[0] for r in tuned_runs)
    ours_fitted, raw_fitted = ours_runs[-1][2], raw_runs[-1][1]
    report(
        "fit_simple_pipeline_vs_raw_least_squares",
        ours,
        baseline,
        5.0,
        "s",
        kind="ratio",
        ours_runs_s=[r[0] for r in ours_runs],
        baseline_runs_s=[r[0] for r in raw_runs],
        ours_job_s=[w["job_s"] for w in workers],
        ours_fit_element_s=[w["fit_element_s"] for w in workers],
        ours_fitted=ours_fitted,
        baseline_fitted=raw_fitted,
        ours_model_solves=workers[-1]["nfev"],
        baseline_nfev=raw_runs[-1][2],
        baseline_model_solves=raw_runs[-1][3],
        tuned_baseline_s=tuned,
        ratio_vs_tuned_baseline=ours / tuned,
        tuned_baseline_model_solves=tuned_runs[-1][3],
        tuned_baseline_fitted=tuned_runs[-1][1],
        true_value=TRUE_D_N,
        within_5_percent=all(abs(v / TRUE_D_N - 1) <= 0.05 for v in (ours_fitted, raw_fitted)),
        points=len(data["Time [s]"]),
        data_form="inline columns in an entry element (entry.data)",
        note="ours: submit -> wait_for_completion(poll 0.05) -> fitted value, warm workers; "
        "baseline: ParameterValues + SPM + Simulation built once + default least_squares; "
        "tuned: the same with output_variables and diff_step=1e-3 (medians of runs)",
    )
