"""Unit tests of ionworks.server.fitting (no server): configs, expressions, data, fits."""

from __future__ import annotations

import functools
import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from ionworks.server.execution.executor import JobCanceled, ProcessExecutor
from ionworks.server.execution.fanout import FanOut, chunks
from ionworks.server.fitting.config import (
    check_simple_pipeline,
    element_type,
    parse_elements,
    resolve_reference,
)
from ionworks.server.fitting.data import load_measured
from ionworks.server.fitting.expressions import evaluate, names_in
from ionworks.server.fitting.job import checkpoint_writer, run_pipeline_job
from ionworks.server.fitting.optimize import FitParameter, OptimizerSpec, cost_function

D_N = "Negative particle diffusivity [m2.s-1]"
TRUE_D_N = 3.3e-14


@functools.cache
def _synthetic(points: int) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    t = np.linspace(0.0, 3300.0, points)
    current = np.where(t < 2700.0, 5.0, 0.0)  # 1C discharge, then a rest
    values = pybamm.ParameterValues("Chen2020")
    values[D_N] = TRUE_D_N
    values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values)
    voltage = sim.solve([0.0, t[-1]], t_interp=t)["Voltage [V]"].entries
    voltage = voltage + np.random.default_rng(0).normal(0.0, 1e-3, len(t))  # 1 mV noise
    return tuple(t), tuple(current), tuple(voltage)


def synthetic_data(points: int = 300) -> dict[str, list[float]]:
    """SPM (Chen2020) with D_n = 3.3e-14 driven by a 1C discharge and rest, 1 mV noise."""
    t, current, voltage = _synthetic(points)
    return {"Time [s]": list(t), "Current [A]": list(current), "Voltage [V]": list(voltage)}


def fit_config(data: Any, optimizer: dict[str, Any] | None = None) -> dict[str, Any]:
    fit: dict[str, Any] = {
        "element_type": "data_fit",
        "objectives": {"voltage": {"data": "entry.data"}},
        "parameters": {D_N: {"bounds": [1e-15, 1e-12], "initial_value": 3 * TRUE_D_N}},
    }
    if optimizer:
        fit["optimizer"] = optimizer
    return {
        "elements": {
            "entry": {"element_type": "entry", "values": {"model": {"type": "SPM"}, "data": data}},
            "fit": fit,
        }
    }


# --- config ------------------------------------------------------------------------------


def test_element_types_and_aliases() -> None:
    assert element_type("Direct Entry") == "entry"
    assert element_type("datafit") == element_type("Data Fit") == "data_fit"
    assert element_type("Validation") == "validation"
    with pytest.raises(ValueError, match="accepted values: entry, data_fit, calculation"):
        element_type("fitting", "x")


def test_simple_pipeline_rule_and_references() -> None:
    two = {"elements": {"a": {"element_type": "data_fit"}, "b": {"element_type": "Validation"}}}
    with pytest.raises(ValueError, match="at most one data_fit or validation"):
        check_simple_pipeline(two)
    elements = parse_elements(
        {"elements": {"entry": {"element_type": "entry", "values": {"d": 1}}}}
    )
    assert resolve_reference("entry.d", elements) == 1
    assert resolve_reference("db:abc", elements) == "db:abc"
    with pytest.raises(ValueError, match="unknown element 'nope'"):
        resolve_reference("nope.d", elements)
    with pytest.raises(ValueError, match="has no value 'x'"):
        resolve_reference("entry.x", elements)
    with pytest.raises(ValueError, match="elements"):
        parse_elements({"elements": []})


# --- expressions -----------------------------------------------------------------------------


def test_expressions_are_safe_arithmetic() -> None:
    assert evaluate("{a [m]} * 2 + 3^2 - -1", {"a [m]": 1.5}) == 13.0
    assert evaluate("sqrt('x') / max(1, 2)", {"x": 16.0}) == 2.0
    assert names_in("{a} + {b} * exp(1)") == ["a", "b"]
    deep = "(" * 900 + "1" + ")" * 900  # within MAX_LENGTH, deeper than the recursion limit
    for bad in ('__import__("os")', "1 +", "{missing}", "open(1)", "2 ** 5000", "1/0", deep):
        with pytest.raises(ValueError):
            evaluate(bad, {})
    with pytest.raises(ValueError, match="nested too deeply"):
        names_in(deep)


# --- parameters, costs, optimizers -----------------------------------------------------------


def test_fit_parameters_log_scale_when_bounds_span_decades() -> None:
    p = FitParameter.parse(D_N, {"bounds": [1e-16, 1e-12], "initial_value": 1e-14})
    assert p.log and math.isclose(p.unit(1e-14), 0.5) and math.isclose(p.value(0.5), 1e-14)
    linear = FitParameter.parse("x", {"bounds": [1.0, 2.0]})
    assert not linear.log and linear.initial == 1.5
    assert FitParameter.parse("y", {"initial_value": 2.0}).lo == 0.02
    with pytest.raises(ValueError, match="outside"):
        FitParameter.parse("z", {"bounds": [0, 1], "initial_value": 3})
    assert cost_function(None)[0] == "RMSE"
    assert cost_function({"type": "MAE"})[1](np.array([1.0, -3.0])) == 2.0
    with pytest.raises(ValueError, match="unknown cost 'L7'"):
        cost_function({"type": "L7"})
    spec = OptimizerSpec.parse({"type": "DifferentialEvolution", "max_iterations": 5})
    assert (spec.kind, spec.max_iterations) == ("de", 5)
    assert OptimizerSpec.parse(None).kind == "least_squares"
    with pytest.raises(ValueError, match=r"unknown optimizer 'Magic'.*ScipyMinimize"):
        OptimizerSpec.parse({"type": "Magic"})


# --- data ------------------------------------------------------------------------------------


def test_measured_data_forms() -> None:
    cols = {
        "Time [s]": [5.0, 6.0, 6.0, 7.0],
        "Current [A]": [1, 1, 1, 1],
        "Voltage [V]": [4, 3.9, 3.9, None],
    }
    with pytest.raises(ValueError, match="at least 3 distinct"):
        load_measured({"data": cols})  # repeated stamp and None row dropped: 2 rows left
    cols["Time [s]"][-1], cols["Voltage [V]"][-1] = 8.0, 3.8
    assert load_measured(cols).t.tolist() == [0.0, 1.0, 3.0]
    full = {"Time [s]": [0, 1, 2], "Current [A]": [1, 1, 1], "Voltage [V]": [4, 3.9, 3.8]}
    assert len(load_measured({"time_series": full, "steps": {}}).t) == 3
    with pytest.raises(ValueError, match="no 'Voltage \\[V\\]' column"):
        load_measured({"Time [s]": [0, 1, 2], "Current [A]": [1, 1, 1]})
    with pytest.raises(ValueError, match="measurement 'm1' not found"):
        load_measured("db:m1", {})
    with pytest.raises(ValueError, match="read by the client"):
        load_measured("file:x.csv")


# --- fits ------------------------------------------------------------------------------------


def test_least_squares_fit_recovers_diffusivity() -> None:
    from ionworks.server.fitting.runner import run_config

    config = fit_config(synthetic_data())
    config["elements"]["double"] = {
        "element_type": "calculation",
        "expressions": {"Double D [m2.s-1]": f"2 * {{{D_N}}}"},
    }
    config["elements"]["check"] = {
        "element_type": "Validation",
        "objectives": {"voltage": {"type": "CurrentDriven", "data": "entry.data"}},
    }
    checkpoints: list[dict[str, Any]] = []
    out = run_config(config, report=checkpoints.append)
    fitted = out["element_results"]["fit"]["parameter_values"][D_N]
    assert abs(fitted / TRUE_D_N - 1) < 0.1
    assert out["parameter_values"]["Double D [m2.s-1]"] == pytest.approx(2 * fitted)
    stats = out["summary_stats"]["voltage"]
    assert stats["RMSE [V]"] < 2e-3 and stats["MAE [V]"] <= stats["Max absolute error [V]"]
    assert out["element_results"]["fit"]["log_scaled"] == [D_N]
    assert checkpoints and checkpoints[-1]["element"] == "fit"
    assert checkpoints[-1]["checkpoint"]["best_cost"] == out["element_results"]["fit"]["cost"]


def test_differential_evolution_fit() -> None:
    from ionworks.server.fitting.runner import run_config

    config = fit_config(
        synthetic_data(),
        {"type": "DifferentialEvolution", "max_iterations": 8, "population_size": 8},
    )
    out = run_config(config)
    assert abs(out["parameter_values"][D_N] / TRUE_D_N - 1) < 0.1
    assert out["element_results"]["fit"]["optimizer"] == "DifferentialEvolution"


def test_job_errors_name_the_element_and_type() -> None:
    config = fit_config(synthetic_data(), {"type": "Magic"})
    with pytest.raises(RuntimeError, match="ValueError: element 'fit' \\(data_fit\\): unknown opt"):
        run_pipeline_job({"config": config})
    bad = {"elements": {"x": {"element_type": "Fit"}}}
    with pytest.raises(RuntimeError, match="ValueError: unknown element_type 'Fit'"):
        run_pipeline_job({"config": bad})


def test_checkpoint_writer_updates_only_a_running_job(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE jobs (id TEXT, status TEXT, result TEXT)")
        conn.execute("INSERT INTO jobs VALUES ('j1', 'running', NULL), ('j2', 'canceled', NULL)")
    conn.close()
    checkpoint_writer(str(db), "j1")({"element": "fit", "checkpoint": {"best_cost": 0.5}})
    checkpoint_writer(str(db), "j2")({"element": "fit"})
    checkpoint_writer(str(tmp_path / "missing" / "db"), "j1")({})  # never raises
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT id, result FROM jobs").fetchall())
    conn.close()
    assert json.loads(rows["j1"])["checkpoint"]["best_cost"] == 0.5 and rows["j2"] is None


# --- fan-out of sub-jobs ----------------------------------------------------------------------


def test_chunks_split_evenly_in_order() -> None:
    assert chunks(list(range(5)), 2) == [[0, 1, 2], [3, 4]]
    assert chunks([1, 2], 4) == [[1], [2]] and chunks([], 3) == []


async def test_fan_out_maps_in_order_and_cancel_stops_the_sub_jobs() -> None:
    executor = ProcessExecutor(2)
    fan = FanOut(executor, "job")
    try:
        assert fan.width == 2
        assert await fan.map(abs, [-1, -2, 3]) == [1, 2, 3]

        async def cancel_soon() -> None:
            await anyio.sleep(1.0)
            fan.cancel()

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            with pytest.raises(JobCanceled):
                await fan.map(time.sleep, [60, 60])  # both workers busy until canceled
        assert time.monotonic() - started < 15
        with pytest.raises(JobCanceled):
            await fan.run(abs, 1)
        # the pool still works (the killed workers were replaced)
        assert await FanOut(executor, "next").map(abs, [-4, -5]) == [4, 5]
    finally:
        await executor.aclose()
