"""Translation of protocols into PyBaMM experiments (no solving here)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks import ucp

from .protocols import (
    E1,
    E3,
    E4,
    E6,
    E8,
    E9,
    E11,
    E12,
    SAFETY_EXAMPLE,
    SEED_INPUTS,
    SEED_INPUTS_PARAMETERS,
)

pybamm = pytest.importorskip("pybamm")
np = pytest.importorskip("numpy")
pytestmark = pytest.mark.pybamm


@pytest.fixture(scope="module")
def chen() -> Any:
    return pybamm.ParameterValues("Chen2020")


def _plan(text: str, parameters: Any = None, **kwargs: Any) -> ucp.PyBaMMPlan:
    return ucp.to_pybamm(ucp.parse(text), parameters, **kwargs)


def _termination(step: Any) -> list[str]:
    return [term.get_event_name(step) for term in step.termination]


def test_import_does_not_load_pybamm() -> None:
    code = (
        "import sys, ionworks.ucp; print([m for m in sys.modules if m.split('.')[0] == 'pybamm'])"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_e1_discharge(chen: Any) -> None:
    plan = _plan(E1, chen)
    (step,) = plan.experiment.steps
    assert isinstance(step, pybamm.step.CRate) and step.value == 1.0
    assert _termination(step) == ["Voltage < 2.5 V [experiment]"]
    assert plan.initial_soc == 1.0
    assert plan.ambient_temperature_k == plan.initial_temperature_k == pytest.approx(298.15)
    assert plan.period_s == 60
    assert len(plan.experiment.cycles) == 1
    (label,) = plan.step_labels
    assert (label.path, label.step_type, label.cycle) == ("steps[0].Discharge", "Discharge", 0)


def test_e2_needs_resolved_inputs(chen: Any) -> None:
    with pytest.raises(ucp.UCPError) as raised:
        _plan(SEED_INPUTS, chen)
    assert raised.value.codes == ["input"]
    assert "'Initial SOC', 'C-rate'" in str(raised.value)
    plan = ucp.to_pybamm(ucp.resolve_inputs(ucp.parse(SEED_INPUTS), SEED_INPUTS_PARAMETERS), chen)
    assert plan.initial_soc == 1.0
    assert plan.experiment.steps[0].value == 0.5


def test_e3_cccv_rest() -> None:
    plan = _plan(E3)
    charge, hold, rest = plan.experiment.steps
    assert isinstance(charge, pybamm.step.CRate) and charge.value == -0.5
    assert isinstance(hold, pybamm.step.Voltage) and hold.value == 4.2
    assert _termination(hold) == ["|C-rate| < 0.05 C [experiment]"]
    assert isinstance(rest, pybamm.step.Rest) and rest.duration == 1800
    assert plan.initial_soc == 0.0
    assert [label.step_type for label in plan.step_labels] == ["Charge", "CV Charge", "Rest"]
    assert [label.cycle for label in plan.step_labels] == [0, 1, 2]


def test_e4_duration_or_voltage() -> None:
    (step,) = _plan(E4).experiment.steps
    assert isinstance(step, pybamm.step.Current) and step.value == 2.0 and step.duration == 600
    assert _termination(step) == ["Voltage < 3 V [experiment]"]


def test_e6_blocks_unroll_into_one_pybamm_cycle() -> None:
    plan = _plan(E6)
    assert len(plan.experiment.steps) == 6
    assert plan.experiment.cycle_lengths == [6]
    assert [label.cycle for label in plan.step_labels] == [0, 0, 1, 1, 2, 2]
    assert [step.value for step in plan.experiment.steps] == [-1.0, 1.0] * 3


def test_e8_temperatures_and_periods(chen: Any) -> None:
    plan = _plan(E8)
    (step,) = plan.experiment.steps
    assert step.temperature == pytest.approx(273.15)
    assert step.period == 1
    assert plan.period_s == 10
    values = plan.apply_to(chen.copy())
    assert values["Ambient temperature [K]"] == pytest.approx(298.15)
    assert values["Initial temperature [K]"] == pytest.approx(298.15)


def test_e9_initial_voltage() -> None:
    assert _plan(E9).initial_soc == "3.7 V"


def test_e11_capacity_end_becomes_duration(chen: Any) -> None:
    (step,) = _plan(E11).experiment.steps
    assert step.duration == pytest.approx(1800)
    crate = "steps: [{Discharge: {mode: C-rate, value: 0.5, ends: ['Capacity > 1']}}]"
    assert _plan(crate, chen).experiment.steps[0].duration == pytest.approx(1 / 2.5 * 3600)
    with pytest.raises(ucp.UCPError, match="Nominal cell capacity"):
        _plan(crate)


def test_e12_drive_cycle_samples() -> None:
    with pytest.raises(ucp.UCPError) as raised:
        _plan(E12)
    assert raised.value.codes == ["drive cycle"]
    assert "missing drive cycle 'US06'" in str(raised.value)
    samples = [[10.0, 1.0], [11.0, 2.0], [12.0, 1.5]]
    (step,) = _plan(E12, drive_cycles={"US06": samples}).experiment.steps
    assert step.is_drive_cycle
    assert step.input_value[:, 0].tolist() == [0.0, 1.0, 2.0]
    # every form the exporters accept (ionworks.ucp.samples) works here too
    for same in (
        "time,value\n10,1\n11,2\n12,1.5\n",
        {"Time [s]": [10, 11, 12], "Current [A]": [1, 2, 1.5]},
        np.array(samples),
    ):
        (other,) = _plan(E12, drive_cycles={"US06": same}).experiment.steps
        assert other.input_value.tolist() == step.input_value.tolist()
    with pytest.raises(ucp.UCPError, match="strictly increasing"):
        _plan(E12, drive_cycles={"US06": [[0, 1], [0, 2]]})
    with pytest.raises(ucp.UCPError, match="invalid drive-cycle samples: list samples must be"):
        _plan(E12, drive_cycles={"US06": [1, 2, 3]})


def test_waveform_and_ambient_temperature_steps() -> None:
    text = """
steps:
  - Ambient temperature: {value: 10}
  - Waveform: {mode: Power, waveform: {time: [0, 5, 10], value: [1, -1, 1]}, duration: 10}
  - Ambient temperature: {temperature: 40, duration: 60}
  - Rest: {duration: 5, temperature: 20}
  - Rest: {duration: 5}
"""
    plan = _plan(text)
    waveform, soak, override, rest = plan.experiment.steps
    assert isinstance(waveform, pybamm.step.Power) and waveform.is_drive_cycle
    assert waveform.temperature == pytest.approx(283.15)
    assert soak.duration == 60 and soak.temperature == pytest.approx(313.15)
    assert override.temperature == pytest.approx(293.15)
    assert rest.temperature == pytest.approx(313.15)
    assert [label.step_type for label in plan.step_labels] == [
        "Waveform",
        "Ambient temperature",
        "Rest",
        "Rest",
    ]


def test_modes_and_signs() -> None:
    text = """
steps:
  - Charge: {mode: Current, value: 2, duration: 1}
  - Charge: {mode: Power, value: 3, duration: 1}
  - Discharge: {mode: Resistance, value: 0.5, duration: 1}
  - Discharge: {mode: Voltage, value: 3.0, duration: 1}
"""
    steps = _plan(text).experiment.steps
    assert [type(s).__name__ for s in steps] == ["Current", "Power", "Resistance", "Voltage"]
    assert [s.value for s in steps] == [-2.0, -3.0, 0.5, 3.0]


def test_end_conditions_map_to_terminations() -> None:
    text = """
steps:
  - Charge:
      mode: Voltage
      value: 4.2
      ends: ["Current < 50 mA", "Current > 10", "Temperature > 45", "Time > 1 h", "C-rate > 3"]
"""
    (step,) = _plan(text).experiment.steps
    assert _termination(step) == [
        "|Current| < 0.05 A [experiment]",
        "|Current| > 10 A [experiment]",
        "Temperature > 45 °C [experiment]",
        "|C-rate| > 3 C [experiment]",
    ]
    assert step.duration == 3600


def test_safety_limits_become_terminations() -> None:
    text = """
safety_limits: {voltage_min: 2.5, charge_current_max: 6, temperature_max: {value: 60, goto: next}}
steps:
  - Discharge: {mode: Current, value: 3, ends: ["Voltage < 2.5", "Voltage < 2.8"]}
"""
    (step,) = _plan(text).experiment.steps
    assert _termination(step) == [
        "Voltage < 2.8 V [experiment]",  # the step's own 2.5 V end is replaced by the limit
        "Safety voltage_min < 2.5",  # untagged: a breach stops the experiment
        "Safety temperature_max > 60 [experiment]",  # goto next: only ends the step
        "Safety charge_current_max > 6",
    ]


def test_set_point_beyond_a_safety_limit_ends_the_test(chen: Any) -> None:
    text = """
safety_limits: {charge_current_max: 2}
steps:
  - Rest: {duration: 10}
  - Charge: {mode: C-rate, value: 1, ends: ["Voltage > 4.1"]}
  - Rest: {duration: 10}
"""
    plan = _plan(text, chen)
    assert len(plan.experiment.steps) == 1
    assert plan.stopped_early == (
        "steps[1].Charge breaches safety limit charge_current_max (5 A vs 2 A); the test ends before this step"
    )


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (
            "steps: [{EIS: {start_frequency: 1000, end_frequency: 1, points_per_decade: 5, amplitude: 0.01}}]",
            "unsupported",
            "steps[0] 'EIS' (line 1, column 15): EIS has no time-domain equivalent",
        ),
        (
            "steps: [{Rest: {ends: ['d/dt(Voltage) < 0.0001']}}]",
            "ends",
            "steps[0] 'Rest' (line 1, column 16): end condition 'd/dt(Voltage) < 0.0001': d/dt end conditions",
        ),
        (
            "steps: [{Rest: {name: A, ends: [{condition: 'Time > 5', goto: A}]}}]",
            "goto",
            "goto 'A' cannot be simulated",
        ),
        (
            "steps: [{Charge: {mode: Voltage, value: 4.2, ends: ['Capacity > 1']}}]",
            "ends",
            "a Capacity end can only be simulated on a constant-current",
        ),
        (
            "steps: [{Charge: {mode: Resistance, value: 1, duration: 10}}]",
            "mode",
            "a resistive load only discharges",
        ),
        (
            SAFETY_EXAMPLE,
            "goto",
            "goto 'Recovery' on safety limit 'voltage_max' cannot be simulated",
        ),
        (
            "steps: [{Rest: {ends: [{condition: 'Time > 5', goto: End}]}}]",
            "goto",
            "goto 'End' on a Time end",
        ),
    ],
)
def test_refused_constructs_name_the_step(text: str, code: str, message: str) -> None:
    assert ucp.validate(text)["valid"]
    with pytest.raises(ucp.UCPError) as raised:
        _plan(text)
    assert code in raised.value.codes
    assert message in str(raised.value)


def test_every_refusal_is_reported_once_per_source_step() -> None:
    text = """
steps:
  - Loop:
      repeat: 3
      steps:
        - EIS: {start_frequency: 1000, end_frequency: 1, points_per_decade: 5, amplitude: 0.01}
        - Rest: {ends: ['d/dt(Voltage) < 0.0001']}
"""
    with pytest.raises(ucp.UCPError) as raised:
        _plan(text)
    assert raised.value.codes == ["unsupported", "ends"]


def test_accepts_text_directly() -> None:
    assert len(ucp.to_pybamm(E1).experiment.steps) == 1
