"""The simulation engine (catalog, quick model, run_simulation) with real PyBaMM."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import polars as pl
import pytest

pytest.importorskip("pybamm")

from ionworks.resources._results import add_step_columns, add_time_series_columns
from ionworks.server.engine import (
    BUILTIN_MODELS,
    EngineError,
    ModelSpec,
    SimulationOutput,
    SimulationRequest,
    UnknownModelError,
    build_model,
    model_from_spec,
    parameter_values,
    run_simulation,
    simulate,
)
from ionworks.server.engine.quick import CHEMISTRIES, canonical_chemistry
from ionworks.wire.arrow import ARROW_STREAM_MAGIC
from tests.ucp.protocols import SEED_INPUTS as PARAMETERIZED
from tests.ucp.protocols import SEED_SINGLE as SEED
from tests.ucp.protocols import cycling

pytestmark = pytest.mark.pybamm

THREE_STEPS = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}
  - Rest: {duration: 600}
  - Charge: {mode: C-rate, value: 0.5, ends: ["Voltage > 4.1"]}
"""
STEP_COLUMNS = [
    "Step count",
    "Cycle count",
    "Protocol step",
    "Step type",
    "Step name",
    "Step path",
    "Termination",
    "Start time [s]",
    "End time [s]",
    "Duration [s]",
    "Start voltage [V]",
    "End voltage [V]",
    "Minimum voltage [V]",
    "Maximum voltage [V]",
    "Start current [A]",
    "End current [A]",
    "Mean current [A]",
    "Discharge capacity [A.h]",
    "Charge capacity [A.h]",
    "Discharge energy [W.h]",
    "Charge energy [W.h]",
    "Delta capacity [A.h]",  # derived columns (wire.md §4.4), stored so clients skip them
    "Delta energy [W.h]",
]
METRIC_KEYS = {
    "Total time [s]",
    "Number of steps",
    "Skipped steps",
    "Planned steps",
    "Number of cycles",
    "Discharge capacity [A.h]",
    "Charge capacity [A.h]",
    "Discharge energy [W.h]",
    "Charge energy [W.h]",
    "Minimum voltage [V]",
    "Maximum voltage [V]",
    "Final voltage [V]",
}
THICKNESS = "Positive electrode thickness [m]"
FAST_BUILTINS = ["chen2020-spm", "chen2020-spme", "chen2020-dfn"] + [
    model_id
    for model_id, model in BUILTIN_MODELS.items()
    if model.model_type == "SPM" and model.parameter_set != "Chen2020"
]
SLOW_BUILTINS = [model_id for model_id in BUILTIN_MODELS if model_id not in FAST_BUILTINS]


def run(model: Any, protocol: str = SEED, **kwargs: Any) -> SimulationOutput:
    return run_simulation(SimulationRequest(model, protocol, **kwargs))


def frame(data: bytes) -> pl.DataFrame:
    """A stored table: an Arrow stream (small results) or parquet (large ones)."""
    if data.startswith(ARROW_STREAM_MAGIC):
        return pl.read_ipc_stream(io.BytesIO(data))
    assert data.startswith(b"PAR1")
    return pl.read_parquet(io.BytesIO(data))


def capacity(output: SimulationOutput) -> float:
    value = output.metrics["Discharge capacity [A.h]"]
    assert isinstance(value, float)
    return value


# --- catalog -------------------------------------------------------------------------------


def test_builtin_ids_resolve_and_names_include_set_and_model() -> None:
    assert {"chen2020-spm", "chen2020-spme", "chen2020-dfn"} <= set(BUILTIN_MODELS)
    assert len({m.parameter_set for m in BUILTIN_MODELS.values()}) >= 5
    for model_id, model in BUILTIN_MODELS.items():
        assert model_id == f"{model.parameter_set}-{model.model_type}".lower() == model.id
        assert model.parameter_set in model.name and model.model_type in model.name
        assert model.parameter_set in model.description
        spec = model_from_spec(model_id.upper())
        assert (spec.model_type, spec.parameter_set, spec.builtin_id) == (
            model.model_type,
            model.parameter_set,
            model_id,
        )
    assert BUILTIN_MODELS["chen2020-spme"].name == "Chen2020 SPMe"


def test_model_spec_forms_are_normalised_and_hashable() -> None:
    a = model_from_spec({"model_id": "chen2020-dfn", "parameters": {"b": 1, "a": 2.5}})
    b = model_from_spec({"parameters": {"a": 2.5, "b": 1}, "model_id": "Chen2020-DFN"})
    assert a == b and hash(a) == hash(b) and a.parameter_set == "Chen2020"
    assert model_from_spec({"model_id": "spme"}) == ModelSpec("SPMe")
    named = model_from_spec({"model_id": "DFN", "parameters": "prada2013"})
    assert named.parameter_set == "Prada2013"
    quick = model_from_spec({"quick_model": {"capacity": 5, "chemistry": "lfp/graphite"}})
    assert quick == model_from_spec({"capacity": 5.0, "chemistry": "LFP"})
    assert quick.quick is not None and quick.quick.chemistry == "LFP/Graphite"
    default = model_from_spec({"quick_model": {}})
    assert default.quick is not None and (default.quick.capacity, default.quick.chemistry) == (
        1.0,
        "NMC/Graphite",
    )
    assert len({a, b, named, quick, default}) == 4


def test_parameter_overrides_and_model_options_are_applied() -> None:
    spec = model_from_spec(
        {
            "model_id": "chen2020-spm",
            "parameters": {THICKNESS: 6e-5},
            "options": {"thermal": "lumped"},
        }
    )
    assert parameter_values(spec)[THICKNESS] == 6e-5
    assert parameter_values("chen2020-spm")[THICKNESS] != 6e-5
    assert build_model(spec).options["thermal"] == "lumped"
    with pytest.raises(EngineError, match="invalid model options"):
        build_model({"model_id": "SPM", "options": {"thermal": "bogus"}})


def test_full_parameter_values_json_matches_the_builtin() -> None:
    import pybamm

    values = json.loads(json.dumps(pybamm.ParameterValues("Chen2020").to_json()))
    custom = run({"model_id": "SPM", "parameters": values})
    builtin = run("chen2020-spm")
    assert capacity(custom) == pytest.approx(capacity(builtin), rel=1e-6)


def test_unknown_model_lists_valid_ids() -> None:
    with pytest.raises(UnknownModelError) as info:
        model_from_spec("chen2021-spm")
    assert isinstance(info.value, KeyError) and isinstance(info.value, EngineError)
    message = str(info.value)
    assert "'chen2021-spm'" in message and "chen2020-spm" in message and "prada2013-dfn" in message
    with pytest.raises(UnknownModelError, match="chen2020-spme"):
        model_from_spec({"model_id": "P2D"})
    with pytest.raises(EngineError, match="unknown PyBaMM parameter set 'Chen2099'"):
        model_from_spec({"model_id": "SPM", "parameters": "Chen2099"})
    with pytest.raises(EngineError, match="parameterized_model must be"):
        model_from_spec(42)
    with pytest.raises(EngineError, match="unknown quick_model key"):
        model_from_spec({"quick_model": {"capacity": 1, "voltage": 3}})
    with pytest.raises(EngineError, match="'capacity' must be positive"):
        model_from_spec({"quick_model": {"capacity": 0}})


def test_unknown_chemistry_lists_accepted_ones() -> None:
    with pytest.raises(EngineError, match="unknown quick-model chemistry 'NiMH'") as info:
        model_from_spec({"quick_model": {"capacity": 1, "chemistry": "NiMH"}})
    assert info.value.code == "unknown_chemistry"
    for chemistry in CHEMISTRIES.values():
        assert chemistry.name in str(info.value)
    assert canonical_chemistry(" nmc811 / graphite-SiOx ").name == "NMC/Graphite"
    assert canonical_chemistry("LiFePO4").name == "LFP/Graphite"


def test_ocv_curves_increase_and_invert() -> None:
    soc = np.linspace(0, 1, 501)
    for chemistry in CHEMISTRIES.values():
        ocv = chemistry.ocv(soc)
        assert np.all(np.diff(ocv) > 0)
        assert ocv[0] < chemistry.v_min < chemistry.v_max > ocv[-1]
        assert chemistry.soc_at(float(chemistry.ocv(0.4))) == pytest.approx(0.4, abs=1e-9)


def test_engine_error_pickles_with_its_code() -> None:
    error = pickle.loads(pickle.dumps(EngineError("boom", code="solver")))
    assert (str(error), error.code) == ("boom", "solver")
    unknown = pickle.loads(pickle.dumps(UnknownModelError("nope")))
    assert isinstance(unknown, KeyError) and str(unknown) == "nope"


def test_importing_the_engine_does_not_import_pybamm() -> None:
    code = "import sys, ionworks.server.engine; print('pybamm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- simulations -----------------------------------------------------------------------------


def check_discharge(output: SimulationOutput) -> pl.DataFrame:
    series = frame(output.time_series)
    voltage = series["Voltage [V]"].to_numpy()
    assert np.all(np.diff(voltage) <= 1e-6), "voltage must not rise during a discharge"
    assert abs(voltage[-1] - 2.5) < 0.05
    assert series["Step count"].unique().to_list() == [0]
    steps = frame(output.steps)
    assert steps.height == 1 and steps["Step type"][0] == "Discharge"
    assert "Voltage < 2.5" in steps["Termination"][0]
    return series


@pytest.mark.parametrize("model_id", FAST_BUILTINS)
def test_builtin_simulates_seed_discharge(model_id: str) -> None:
    output = run(model_id)
    check_discharge(output)
    nominal = parameter_values(model_id)["Nominal cell capacity [A.h]"]
    assert 0.7 * nominal < capacity(output) < 1.4 * nominal
    if model_id.startswith("chen2020"):
        assert 4.9 < capacity(output) < 5.1


@pytest.mark.slow
@pytest.mark.parametrize("model_id", SLOW_BUILTINS)
def test_every_builtin_simulates_seed_discharge(model_id: str) -> None:
    test_builtin_simulates_seed_discharge(model_id)


def test_step_table_time_series_and_metrics() -> None:
    output = run("chen2020-spm", THREE_STEPS, extra_variables=["X-averaged cell temperature [K]"])
    steps = frame(output.steps)
    assert steps.columns == STEP_COLUMNS
    assert steps["Step count"].to_list() == [0, 1, 2]
    assert steps["Step type"].to_list() == ["Discharge", "Rest", "Charge"]
    assert steps["Duration [s]"][1] == pytest.approx(600)
    assert steps["Discharge capacity [A.h]"][0] > 4.0 and steps["Charge capacity [A.h]"][0] == 0
    assert steps["Charge capacity [A.h]"][2] > 3.0 and steps["Discharge capacity [A.h]"][2] == 0
    series = frame(output.time_series)
    assert series["Step count"].unique().sort().to_list() == [0, 1, 2]
    assert series.schema["Step count"] == pl.Int64
    assert series.columns[-2:] == ["Step capacity [A.h]", "Capacity [A.h]"]
    # stored derived columns are what a client derives from a table without them, and what
    # the wire.md §4.4 formulas give written independently with polars expressions
    bare = series.drop(series.columns[-2:])
    assert add_time_series_columns(bare).equals(series)
    assert add_step_columns(steps.drop(steps.columns[-2:])).equals(steps)
    step_capacity = pl.col("Discharge capacity [A.h]") - pl.col("Charge capacity [A.h]")
    ends = bare.group_by("Step count", maintain_order=True).agg(step_capacity.last().alias("e"))
    offsets = ends.with_columns((pl.col("e").cum_sum() - pl.col("e")).alias("offset"))
    expected = bare.join(offsets, on="Step count").select(step_capacity + pl.col("offset"))
    assert series["Capacity [A.h]"].to_list() == pytest.approx(expected.to_series().to_list())
    assert series["Capacity [A.h]"][-1] == pytest.approx(
        steps["Delta capacity [A.h]"].sum(), abs=1e-9
    )
    for name in ("Time [s]", "Voltage [V]", "Current [A]", "Discharge capacity [A.h]"):
        assert series.schema[name] == pl.Float64
    assert series["X-averaged cell temperature [K]"].to_numpy() == pytest.approx(298.15)
    assert set(output.metrics) == METRIC_KEYS
    assert output.metrics["Number of steps"] == 3 and isinstance(
        output.metrics["Number of steps"], int
    )
    assert {"prepare", "build", "solve", "extract", "total", "cached"} <= set(output.timings)


def test_design_parameters_apply_and_reuse_one_build() -> None:
    simulate.cache.clear()
    thin = run("chen2020-spme", design_parameters={THICKNESS: 6e-5})
    thick = run("chen2020-spme", design_parameters={THICKNESS: 8e-5})
    assert (thin.timings["cached"], thick.timings["cached"]) == (0.0, 1.0)
    assert capacity(thick) > capacity(thin) + 0.3


def test_input_thickness_matches_a_rebuilt_model() -> None:
    """Regression test for the symbolic-mesh trap (pybamm-performance.md §4)."""
    simulate.cache.clear()
    run("chen2020-spme", design_parameters={THICKNESS: 7.5e-5})
    swept = run("chen2020-spme", design_parameters={THICKNESS: 6e-5})
    assert swept.timings["cached"] == 1.0
    rebuilt = run({"model_id": "chen2020-spme", "parameters": {THICKNESS: 6e-5}})
    assert capacity(swept) == pytest.approx(capacity(rebuilt), rel=1e-4)


def test_mesh_parameters_are_rebuilt_not_inputs() -> None:
    radius = "Positive particle radius [m]"
    first = run("chen2020-spm", design_parameters={radius: 4e-6})
    second = run("chen2020-spm", design_parameters={radius: 8e-6})
    assert second.timings["cached"] == 0.0
    again = run("chen2020-spm", design_parameters={radius: 8e-6})
    assert again.timings["cached"] == 1.0
    assert capacity(first) > capacity(second) == capacity(again)


def test_cache_hit_returns_identical_results_to_a_cold_build() -> None:
    simulate.cache.clear()
    params = {"Initial SOC": 1.0, "C-rate": 0.5}
    cold = run("chen2020-spm", PARAMETERIZED, experiment_parameters=params)
    hot = run("chen2020-spm", PARAMETERIZED, experiment_parameters=params)
    assert (cold.timings["cached"], hot.timings["cached"]) == (0.0, 1.0)
    assert frame(hot.time_series).equals(frame(cold.time_series))
    assert frame(hot.steps).equals(frame(cold.steps))
    assert hot.metrics == cold.metrics
    # A new initial SOC reuses the build (the initial state is not part of the key).
    half = run("chen2020-spm", PARAMETERIZED, experiment_parameters={**params, "Initial SOC": 0.5})
    assert half.timings["cached"] == 1.0
    simulate.cache.clear()
    half_cold = run(
        "chen2020-spm", PARAMETERIZED, experiment_parameters={**params, "Initial SOC": 0.5}
    )
    assert capacity(half) == pytest.approx(capacity(half_cold), rel=1e-6)
    assert capacity(half) == pytest.approx(capacity(cold) / 2, rel=0.1)


def test_a_new_protocol_on_a_seen_model_matches_a_cold_build() -> None:
    """The shared initial-state (eSOH) solver gives the same initial conditions."""
    two_c = SEED.replace("value: 1\n", "value: 2\n")
    simulate.cache.clear()
    cold = run("chen2020-spme", two_c)
    simulate.cache.clear()
    run("chen2020-spme", SEED)
    warm = run("chen2020-spme", two_c)
    assert (cold.timings["cached"], warm.timings["cached"]) == (0.0, 0.0)
    assert len(simulate.cache.esoh_solvers) == 1
    assert frame(warm.time_series).equals(frame(cold.time_series))


def test_unknown_design_parameter_suggests_close_matches() -> None:
    with pytest.raises(EngineError) as info:
        run("chen2020-spm", design_parameters={"Positive electrode thickness": 7e-5})
    assert info.value.code == "unknown_parameter"
    assert "'Positive electrode thickness'" in str(info.value)
    assert "did you mean 'Positive electrode thickness [m]'" in str(info.value)
    with pytest.raises(EngineError, match="must be a finite number"):
        run("chen2020-spm", design_parameters={THICKNESS: "thick"})


def test_unknown_extra_variable_is_refused() -> None:
    with pytest.raises(EngineError, match="unknown extra variable") as info:
        run("chen2020-spm", extra_variables=["Votlage [V]"])
    assert info.value.code == "unknown_variable"
    assert "'Votlage [V]' (did you mean 'Voltage [V]'" in str(info.value)
    with pytest.raises(EngineError, match="one value per time point") as info:
        run("chen2020-spme", extra_variables=["Electrolyte concentration [mol.m-3]"])
    assert info.value.code == "unknown_variable"


def test_protocol_errors_become_engine_errors() -> None:
    with pytest.raises(EngineError, match="unknown input reference 'C-rate'") as info:
        run("chen2020-spm", PARAMETERIZED, experiment_parameters={"Initial SOC": 1})
    assert info.value.code == "protocol"
    with pytest.raises(EngineError, match="invalid protocol"):
        run("chen2020-spm", "steps: []")


@pytest.mark.parametrize(
    ("chemistry", "ah"),
    [("LFP", 2.0), ("NMC/Graphite", 5.0), ("nca", 3.0), ("LCO", 1.0), ("LMO", 10.0)],
)
def test_quick_model_discharges_its_capacity_within_limits(chemistry: str, ah: float) -> None:
    curve = canonical_chemistry(chemistry)
    protocol = SEED.replace("value: 2.5", f"value: {curve.v_min}")
    output = run({"quick_model": {"capacity": ah, "chemistry": chemistry}}, protocol)
    assert capacity(output) == pytest.approx(ah, rel=0.15)
    voltage = frame(output.time_series)["Voltage [V]"].to_numpy()
    assert curve.v_min - 1e-6 <= voltage.min() and voltage.max() <= curve.v_max
    assert np.all(np.diff(voltage) <= 1e-6)


def test_quick_model_resistance_and_initial_state() -> None:
    spec = {"quick_model": {"capacity": 5, "chemistry": "NMC", "resistance_pct": 100}}
    protocol = SEED.replace("value: 2.5", "value: 3.0")
    base = run({"quick_model": {"capacity": 5, "chemistry": "NMC"}}, protocol)
    resistive = run(spec, protocol)
    start = [frame(o.time_series)["Voltage [V]"][0] for o in (base, resistive)]
    assert start[1] < start[0] - 0.02  # twice the resistance, a larger IR drop
    half = run(spec, protocol.replace("initial_soc: 1", "initial_soc: 50"))
    assert capacity(half) == pytest.approx(capacity(resistive) / 2, rel=0.15)


def test_pybamm_solver_failure_surfaces_its_text() -> None:
    with pytest.raises(EngineError) as info:
        run("chen2020-dfn", design_parameters={"Separator porosity": 0.0})
    assert info.value.code == "solver"
    assert "SolverError" in str(info.value) and "IDA" in str(info.value)


def test_a_safety_stop_returns_partial_results_with_a_message() -> None:
    protocol = SEED.replace("steps:", "safety_limits:\n  voltage_min: 3.3\nsteps:")
    output = run("chen2020-spm", protocol)
    assert output.metrics["Final voltage [V]"] == pytest.approx(3.3, abs=1e-3)
    messages = output.metrics["Messages"]
    assert isinstance(messages, list) and "Safety voltage_min" in messages[0]


def test_request_validation() -> None:
    with pytest.raises(EngineError, match="max_backward_jumps"):
        run("chen2020-spm", max_backward_jumps=-1)
    with pytest.raises(EngineError, match="extra_variables must be a list"):
        run("chen2020-spm", extra_variables="Voltage [V]")


LOOPED = cycling(3)


def test_looped_protocols_get_per_cycle_summaries() -> None:
    output = run("chen2020-spm", LOOPED)
    cycles = output.metrics["Cycles"]
    assert isinstance(cycles, list)
    assert [c["Cycle count"] for c in cycles] == [0, 1, 2]  # type: ignore[index]
    steps = frame(output.steps)
    for cycle in cycles:
        rows = steps.filter(pl.col("Cycle count") == cycle["Cycle count"])  # type: ignore[index]
        assert cycle["Discharge capacity [A.h]"] == pytest.approx(  # type: ignore[index]
            rows["Discharge capacity [A.h]"].sum()
        )
    # later cycles run between the same voltage limits: charge in ≈ charge out
    assert cycles[2]["Coulombic efficiency"] == pytest.approx(1.0, abs=1e-3)  # type: ignore[index]
    assert 0.8 < cycles[2]["Energy efficiency"] < 1.0  # type: ignore[index]
    assert "Cycles" not in run("chen2020-spm", THREE_STEPS).metrics
