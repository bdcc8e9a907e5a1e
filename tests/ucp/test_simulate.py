"""Every seed protocol and spec example simulated with PyBaMM (SPM, Chen2020), checked
physically, plus the step table / time series / metrics helpers."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks import ucp

from .protocols import (
    E1,
    E3,
    E4,
    E5,
    E6,
    E7,
    E8,
    E9,
    E10,
    E11,
    E12,
    SEED_CONVERT,
    SEED_INPUTS,
    SEED_INPUTS_PARAMETERS,
    SEED_SINGLE,
)

pybamm = pytest.importorskip("pybamm")
np = pytest.importorskip("numpy")
pytestmark = pytest.mark.pybamm

CAPACITY = 5.0  # Chen2020 nominal capacity [A.h]
VOLTAGE_TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def chen() -> Any:
    return pybamm.ParameterValues("Chen2020")


class Run:
    """A simulated protocol with its tables."""

    def __init__(
        self, text: str, chen: Any, inputs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        protocol = ucp.parse(text)
        if inputs is not None:
            protocol = ucp.resolve_inputs(protocol, inputs)
        self.plan = ucp.to_pybamm(protocol, chen, **kwargs)
        self.solution = self.plan.solve(pybamm.lithium_ion.SPM(), chen)
        self.steps = ucp.step_table(self.solution, self.plan).to_pydict()
        self.series = ucp.time_series_table(self.solution, self.plan).to_pydict()
        self.metrics = ucp.metrics(self.solution, self.plan)

    def column(self, name: str) -> Any:
        return np.asarray(self.series[name])

    def rows(self, step: int) -> Any:
        return self.column("Step count") == step


def _check_tables(run: Run) -> None:
    """Invariants every run must satisfy."""
    steps, series = run.steps, run.series
    count = len(steps["Step count"])
    assert steps["Step count"] == list(range(count))
    assert sorted(set(series["Step count"])) == list(range(count))
    assert np.all(np.diff(run.column("Time [s]")) >= 0)
    for name in ("Discharge capacity [A.h]", "Charge capacity [A.h]"):
        values = run.column(name)
        assert np.all(values >= 0)
        for step in range(count):
            rows = values[run.rows(step)]
            assert rows[0] == 0  # reset at each step boundary
            assert rows[-1] == pytest.approx(steps[name][step])
    for step in range(count):
        duration = steps["End time [s]"][step] - steps["Start time [s]"][step]
        assert steps["Duration [s]"][step] == pytest.approx(duration)
    assert run.metrics["Number of steps"] == count
    assert run.metrics["Discharge capacity [A.h]"] == pytest.approx(
        sum(steps["Discharge capacity [A.h]"])
    )
    assert run.metrics["Charge capacity [A.h]"] == pytest.approx(
        sum(steps["Charge capacity [A.h]"])
    )


def _check_discharge_row(run: Run, row: int, cutoff: float | None) -> None:
    voltage = run.column("Voltage [V]")[run.rows(row)]
    assert voltage[-1] < voltage[0]
    assert np.all(np.diff(voltage) < 1e-3)  # voltage falls during a constant discharge
    assert run.steps["Charge capacity [A.h]"][row] == 0
    assert run.steps["Discharge capacity [A.h]"][row] > 0
    if cutoff is not None:
        assert run.steps["End voltage [V]"][row] == pytest.approx(cutoff, abs=VOLTAGE_TOLERANCE)


def test_seed_single_discharge(chen: Any) -> None:
    run = Run(SEED_SINGLE, chen)
    _check_tables(run)
    assert run.steps["Step type"] == ["Discharge"]
    assert run.steps["Step name"] == ["steps[0].Discharge"]
    _check_discharge_row(run, 0, 2.5)
    assert run.steps["Mean current [A]"][0] == pytest.approx(CAPACITY)
    assert run.steps["Discharge capacity [A.h]"][0] == pytest.approx(
        CAPACITY * run.steps["Duration [s]"][0] / 3600, rel=1e-6
    )
    assert 4.5 < run.steps["Discharge capacity [A.h]"][0] < 5.2
    assert run.metrics["Minimum voltage [V]"] == pytest.approx(2.5, abs=VOLTAGE_TOLERANCE)


def test_seed_inputs_half_c(chen: Any) -> None:
    run = Run(SEED_INPUTS, chen, SEED_INPUTS_PARAMETERS)
    _check_tables(run)
    _check_discharge_row(run, 0, 2.5)
    assert run.steps["Mean current [A]"][0] == pytest.approx(CAPACITY / 2)
    assert run.steps["Duration [s]"][0] > 7000  # about two hours at C/2


def test_seed_convert_skips_infeasible_charges(chen: Any) -> None:
    # Initial SOC 100 %: "charge to 4.2 V" and the CV hold are infeasible at their start
    # and PyBaMM skips them; the rows still map back to the right protocol steps.
    run = Run(SEED_CONVERT, chen)
    _check_tables(run)
    assert run.metrics["Planned steps"] == 3
    executed = run.steps["Protocol step"]
    assert executed[-1] == 2
    assert run.steps["Step path"][-1] == "steps[2].Discharge.steps[0].Discharge, Discharge #1"
    assert run.steps["Cycle count"][-1] == 2
    assert run.metrics["Skipped steps"] == 3 - len(executed)
    _check_discharge_row(run, len(executed) - 1, 2.7)


def test_e1(chen: Any) -> None:
    run = Run(E1, chen)
    _check_tables(run)
    _check_discharge_row(run, 0, 2.5)


def test_e3_cccv_rest(chen: Any) -> None:
    run = Run(E3, chen)
    _check_tables(run)
    steps = run.steps
    assert steps["Step type"] == ["Charge", "CV Charge", "Rest"]
    assert steps["End voltage [V]"][0] == pytest.approx(4.2, abs=VOLTAGE_TOLERANCE)
    voltage = run.column("Voltage [V]")[run.rows(0)]
    assert np.all(np.diff(voltage) > -1e-3)  # voltage rises during a constant charge
    assert steps["Mean current [A]"][0] == pytest.approx(-CAPACITY / 2)
    hold = run.column("Voltage [V]")[run.rows(1)]
    assert np.allclose(hold, 4.2, atol=1e-6)
    assert abs(steps["End current [A]"][1]) == pytest.approx(0.05 * CAPACITY, rel=1e-3)
    assert steps["Duration [s]"][2] == pytest.approx(1800)
    assert steps["Charge capacity [A.h]"][0] > 0 and steps["Discharge capacity [A.h]"][0] == 0
    assert steps["Charge capacity [A.h]"][2] == steps["Discharge capacity [A.h]"][2] == 0
    assert steps["Charge energy [W.h]"][0] > 0


def test_e4_time_limit_wins(chen: Any) -> None:
    run = Run(E4, chen)
    _check_tables(run)
    assert run.steps["Duration [s]"] == [pytest.approx(600)]
    assert run.steps["Discharge capacity [A.h]"][0] == pytest.approx(2 * 600 / 3600)
    assert run.steps["End voltage [V]"][0] > 3.0
    _check_discharge_row(run, 0, None)


def test_e5_power(chen: Any) -> None:
    run = Run(E5, chen)
    _check_tables(run)
    _check_discharge_row(run, 0, 2.8)
    power = run.column("Power [W]")[run.rows(0)]
    assert np.allclose(power, 5.0, rtol=1e-3)
    hours = run.steps["Duration [s]"][0] / 3600
    assert run.steps["Discharge energy [W.h]"][0] == pytest.approx(5.0 * hours, rel=1e-3)
    assert run.steps["Step type"] == ["CP Discharge"]


def test_e6_cycles(chen: Any) -> None:
    run = Run(E6, chen)
    _check_tables(run)
    types = run.steps["Step type"]
    # the first charge of a full cell is infeasible and skipped
    assert types == ["Discharge", "Charge", "Discharge", "Charge", "Discharge"]
    assert run.steps["Cycle count"] == [0, 1, 1, 2, 2]
    assert run.steps["Protocol step"] == [1, 2, 3, 4, 5]
    for row in (0, 2, 4):
        _check_discharge_row(run, row, 3.0)
    for row in (1, 3):
        assert run.steps["End voltage [V]"][row] == pytest.approx(4.2, abs=VOLTAGE_TOLERANCE)
    assert sorted(set(run.series["Cycle count"])) == [0, 1, 2]


def test_e7_nested_blocks(chen: Any) -> None:
    run = Run(E7, chen)
    _check_tables(run)
    assert len(run.plan.step_labels) == 110
    steps = run.steps
    pulses = [row for row, kind in enumerate(steps["Step type"]) if kind == "Discharge"]
    assert len(pulses) == 50
    for row in pulses:
        assert steps["Duration [s]"][row] == pytest.approx(10)
        assert steps["Discharge capacity [A.h]"][row] == pytest.approx(2 * CAPACITY * 10 / 3600)
    assert run.metrics["Number of cycles"] == 10


def test_e8_step_temperature_and_resolution(chen: Any) -> None:
    run = Run(E8, chen)
    _check_tables(run)
    _check_discharge_row(run, 0, 2.5)
    times = run.column("Time [s]")
    assert np.median(np.diff(times)) == pytest.approx(1.0)  # step resolution 1 s
    assert run.column("Temperature [°C]") == pytest.approx(0.0)


def test_e9_initial_voltage(chen: Any) -> None:
    run = Run(E9, chen)
    _check_tables(run)
    assert run.steps["Start voltage [V]"][0] == pytest.approx(3.7, abs=1e-3)
    assert run.steps["Duration [s]"][0] == pytest.approx(60)


def test_e10_safety_limit_ends_the_test(chen: Any) -> None:
    run = Run(E10 + "  - Rest: {duration: 60}\n", chen)
    _check_tables(run)
    assert len(run.steps["Step count"]) == 1  # the rest never runs
    assert run.steps["Termination"] == ["event: Safety voltage_min < 2.5"]
    _check_discharge_row(run, 0, 2.5)
    assert run.steps["Duration [s]"][0] < 7200


def test_e11_capacity_end(chen: Any) -> None:
    run = Run(E11, chen)
    _check_tables(run)
    assert run.steps["Discharge capacity [A.h]"][0] == pytest.approx(1.0)
    assert run.steps["Duration [s]"][0] == pytest.approx(1800)


def test_e12_drive_cycle_with_both_signs(chen: Any) -> None:
    t = np.arange(0.0, 301.0)
    current = 3.0 * np.sin(2 * np.pi * t / 100) + 1.0
    run = Run(E12, chen, drive_cycles={"US06": np.column_stack([t + 5.0, current])})
    _check_tables(run)
    steps = run.steps
    assert steps["Step type"] == ["Drive"]
    assert steps["Duration [s]"][0] == pytest.approx(300)
    served = run.column("Current [A]")
    assert np.interp(150.0, run.column("Time [s]"), served) == pytest.approx(
        np.interp(150.0, t, current), abs=1e-6
    )
    positive = _integral(np.clip(current, 0, None), t) / 3600
    negative = _integral(np.clip(-current, 0, None), t) / 3600
    assert steps["Discharge capacity [A.h]"][0] == pytest.approx(positive, rel=0.05)
    assert steps["Charge capacity [A.h]"][0] == pytest.approx(negative, rel=0.05)
    assert steps["Mean current [A]"][0] == pytest.approx(1.0, abs=0.05)


def _integral(y: Any, t: Any) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(t)))


def test_goto_end_and_safety_next(chen: Any) -> None:
    text = """
safety_limits: {voltage_min: {value: 3.6, goto: next}}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}
  - Charge: {mode: C-rate, value: 0.5, duration: 600}
  - Discharge: {mode: C-rate, value: 1, ends: [{condition: "Voltage < 3.7", goto: End}]}
  - Rest: {duration: 60}
"""
    run = Run(text, chen)
    _check_tables(run)
    assert run.steps["Step type"] == ["Discharge", "Charge", "Discharge"]  # the rest never runs
    assert run.steps["End voltage [V]"][0] == pytest.approx(3.6, abs=VOLTAGE_TOLERANCE)
    assert run.steps["Termination"][0] == "event: Safety voltage_min < 3.6 [experiment]"
    assert run.steps["End voltage [V]"][2] == pytest.approx(3.7, abs=VOLTAGE_TOLERANCE)
    assert run.steps["Termination"][2] == "event: Voltage < 3.7 V"


def test_time_series_columns(chen: Any) -> None:
    protocol = ucp.parse(E3)
    plan = ucp.to_pybamm(protocol, chen)
    solution = plan.solve(pybamm.lithium_ion.SPM(), chen)
    table = ucp.time_series_table(
        solution, plan, variables=["Bulk open-circuit voltage [V]", "Time [s]"]
    )
    assert table.column_names == [
        "Time [s]",
        "Voltage [V]",
        "Current [A]",
        "Power [W]",
        "Step count",
        "Cycle count",
        "Discharge capacity [A.h]",
        "Charge capacity [A.h]",
        "Temperature [°C]",
        "Bulk open-circuit voltage [V]",
    ]
    types = {field.name: str(field.type) for field in table.schema}
    assert types["Step count"] == types["Cycle count"] == "int64"
    assert all(
        kind == "double"
        for name, kind in types.items()
        if name not in ("Step count", "Cycle count")
    )
    with pytest.raises(ValueError, match="one value per time point"):
        ucp.time_series_table(solution, plan, variables=["Negative electrode potential [V]"])
    with pytest.raises(ValueError, match="no experiment steps"):
        ucp.step_table(pybamm.Simulation(pybamm.lithium_ion.SPM()).solve([0, 10]), plan)


def test_legacy_mode_gives_the_same_step_table(chen: Any) -> None:
    plan = ucp.to_pybamm(ucp.parse(E3), chen)
    unified = ucp.step_table(plan.solve(pybamm.lithium_ion.SPM(), chen), plan).to_pydict()
    legacy_solution = plan.solve(pybamm.lithium_ion.SPM(), chen, experiment_model_mode="legacy")
    legacy = ucp.step_table(legacy_solution, plan).to_pydict()
    assert legacy["Step type"] == unified["Step type"]
    for name in ("Duration [s]", "End voltage [V]", "Charge capacity [A.h]"):
        assert legacy[name] == pytest.approx(unified[name], rel=1e-3)
