"""The typed model: normalisation, units, blocks and unrolling."""

from __future__ import annotations

import pytest

from ionworks import ucp

from .protocols import E3, E6, E7, FLAT_BLOCK, SAFETY_EXAMPLE, SEED_CONVERT


def _ends(text: str) -> list[ucp.EndCondition]:
    return [end for step in ucp.parse(text).steps() for end in step.ends]


def test_end_conditions_are_in_base_units() -> None:
    text = """
steps:
  - Charge: {mode: Voltage, value: 4.2, ends: ["Current < 50 mA", "Time > 2 h", "C-rate < 0.05"]}
  - Discharge: {mode: Current, value: 1, ends: ["Voltage < 2900 mV", "Capacity > 250 mAh", "Temperature > 323.15 K"]}
  - Rest: {ends: ["d/dt(Voltage) < 0.1 mV/s"]}
"""
    found = [(e.quantity, e.operator, e.value.number, e.unit, e.derivative) for e in _ends(text)]
    assert found == [
        ("Current", "<", pytest.approx(0.05), "mA", False),
        ("Time", ">", 7200.0, "h", False),
        ("C-rate", "<", 0.05, None, False),
        ("Voltage", "<", pytest.approx(2.9), "mV", False),
        ("Capacity", ">", pytest.approx(0.25), "mAh", False),
        ("Temperature", ">", pytest.approx(50.0), "K", False),
        ("Voltage", "<", pytest.approx(1e-4), "mV/s", True),
    ]
    assert _ends(text)[-1].base_unit == "V/s"


def test_operators_are_implied_in_the_mapping_form() -> None:
    text = """
steps:
  - {direction: Charge, mode: C-rate, value: 1, ends: [{variable: Voltage [V], value: 4.2}]}
  - {direction: Charge, mode: Voltage, value: 4.2, ends: [{variable: Current [A], value: 0.05}, {variable: C-rate, value: 0.02}]}
  - {direction: Discharge, mode: Current, value: 1, ends: [{variable: Discharge capacity [A.h], value: 1}, {variable: Time [s], value: 5}]}
"""
    assert [(e.quantity, e.operator) for e in _ends(text)] == [
        ("Voltage", ">"),
        ("Current", "<"),
        ("C-rate", "<"),
        ("Capacity", ">"),
        ("Time", ">"),
    ]


def test_step_fields_for_exporters() -> None:
    protocol = ucp.parse(SAFETY_EXAMPLE)
    discharge, block = protocol.items
    assert isinstance(discharge, ucp.Step) and isinstance(block, ucp.Block)
    assert (discharge.kind, discharge.mode, discharge.unit) == ("Discharge", "C-rate", "1/h")
    assert block.name == "Recovery" and block.repeat.number == 1
    safety = protocol.safety
    assert safety is not None
    assert [key for key, _ in safety.limits()] == [
        "voltage_min",
        "voltage_max",
        "discharge_current_max",
    ]
    assert safety.voltage_max is not None and safety.target(safety.voltage_max) == "Recovery"
    assert safety.voltage_min is not None and safety.target(safety.voltage_min) == "End"


def test_global_settings() -> None:
    settings = ucp.parse(E3).settings
    assert settings.initial_state == ucp.InitialState(
        "soc", settings.initial_state.value, "percent", "initial_state_value"
    )  # type: ignore[union-attr]
    assert settings.initial_state is not None and settings.initial_state.soc_fraction() == 0.0
    flat = ucp.parse(
        "global: {initial_soc: 1, temperature: 30}\nsteps: [{Rest: {duration: 1}}]"
    ).settings
    assert flat.initial_state is not None and flat.initial_state.soc_fraction() == 1.0
    assert flat.effective_temperature is not None and flat.effective_temperature.number == 30
    percent = ucp.parse("global: {initial_soc: 40}\nsteps: [{Rest: {duration: 1}}]").settings
    assert percent.initial_state is not None and percent.initial_state.soc_fraction() == 0.4


def test_keyed_blocks_of_the_convert_seed() -> None:
    protocol = ucp.parse(SEED_CONVERT)
    names = [item.name for item in protocol.items if isinstance(item, ucp.Block)]
    assert names == ["CC Charge", "CV Charge", "Discharge"]
    kinds = [(step.kind, step.mode) for step in protocol.steps()]
    assert kinds == [("Charge", "C-rate"), ("Charge", "Voltage"), ("Discharge", "C-rate")]


def test_repeated_block_unrolls_into_cycles() -> None:
    protocol = ucp.parse(E6)
    assert protocol.unrolled_count() == 6
    unrolled = protocol.unrolled()
    assert [u.cycle for u in unrolled] == [0, 0, 1, 1, 2, 2]
    assert [u.step.kind for u in unrolled] == ["Charge", "Discharge"] * 3
    assert unrolled[3].description == "steps[0].Cycle.steps[1].Discharge, Cycle #2"


def test_nested_blocks() -> None:
    protocol = ucp.parse(E7)
    assert protocol.unrolled_count() == 110
    unrolled = protocol.unrolled()
    assert len(unrolled) == 110
    assert unrolled[10].step.kind == "Charge" and unrolled[10].cycle == 0
    assert unrolled[11].cycle == 1
    assert unrolled[13].iteration == (1, 1)
    assert unrolled[13].blocks == ("Ageing", "Pulse train")
    assert [b.name for b in protocol.blocks()] == ["Ageing", "Pulse train"]


def test_flat_block_and_spellings() -> None:
    protocol = ucp.parse(FLAT_BLOCK)
    (block,) = protocol.items
    assert isinstance(block, ucp.Block) and block.name == "Cycle" and block.repeat.number == 3
    assert [(s.kind, s.mode) for s in block.items] == [
        ("Charge", "C-rate"),
        ("Discharge", "C-rate"),
    ]  # type: ignore[union-attr]


def test_loose_top_level_steps_are_one_cycle_each() -> None:
    assert [u.cycle for u in ucp.parse(E3).unrolled()] == [0, 1, 2]


def test_issue_and_error_rendering() -> None:
    issue = ucp.Issue("steps[0].Charge.mode", "mode", "bad", 2, 5, "steps[0] 'Charge'", "mode")
    assert str(issue) == "steps[0] 'Charge' (line 2, column 5): mode: bad"
    assert str(ucp.Issue("protocol", "yaml", "oops")) == "protocol: oops"
    error = ucp.UCPError([issue, issue])
    assert str(error) == f"{issue}\n{issue}" and error.codes == ["mode", "mode"]
    assert isinstance(error, ValueError)
    import pickle

    assert pickle.loads(pickle.dumps(error)).issues == error.issues
