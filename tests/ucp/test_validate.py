"""validate()/parse(): a table of valid and invalid protocols in both syntaxes."""

from __future__ import annotations

import pytest

from ionworks import ucp

from .protocols import E13, E14, EXAMPLES, SEED_REFERENCES_SNIPPET, SEEDS

VALID = {
    **{f"seed {name}": text for name, text in SEEDS.items()},
    **EXAMPLES,
    "numeric string and note": """
steps:
  - Charge: {mode: C-rate, value: "0.6", note: first charge, ends: ["Voltage > 4.2"]}
""",
    "expression value": """
steps:
  - Discharge: {mode: Current, value: '2 * input["I"] + 0.5', duration: 60}
""",
    "anchors and merge keys": """
steps:
  - Charge: &cc {mode: C-rate, value: 1, ends: ["Voltage > 4.1"]}
  - Discharge: {<<: *cc, ends: ["Voltage < 3.0"]}
""",
    "mixed syntaxes, labels and goto": """
steps:
  - direction: Discharge
    name: Main discharge
    mode: Current
    value: 1
    ends:
      - {variable: Voltage [V], value: 3.0, goto: End}
      - {condition: "Time > 2 h", goto: next}
  - Rest: {duration: 10, label: Pause}
  - Discharge: {mode: Power, value: 2, ends: ["Voltage < 2900 mV", "Temperature > 318.15 K"]}
  - Charge: {mode: Resistance, value: 0.5, duration: 1}
""",
    "units and derivative": """
steps:
  - Charge: {mode: Voltage, value: 4.2, ends: ["Current < 50 mA", "d/dt(Voltage) < 0.0001", "Time > 30 min"]}
  - Discharge: {mode: Current, value: 1, ends: ["Capacity > 500 mAh"]}
""",
    "ambient temperature, waveform, EIS": """
steps:
  - Ambient temperature: {value: 10, duration: 600}
  - Waveform: {waveform: {time: [0, 1, 2], value: [1, 2, 1]}, duration: 2}
  - EIS: {start_frequency: 10000, end_frequency: 0.01, points_per_decade: 10, amplitude: 0.01}
  - Drive: {file: cycle.csv, mode: Power, duration: 10, set_variable: [VAR1, {FLAG1: "1"}]}
""",
    "global resolution and safety object": """
global: {temperature: 30, initial_voltage: 3.9, resolution: {time: 1.0, voltage: 0.001, current: 0.001}}
safety_limits: {temperature_max: {value: 60, goto: next}, charge_current_max: 5}
steps: [{Rest: {duration: 5}}]
""",
    "same temperature twice": """
global: {temperature: 25, initial_temperature: 25}
steps: [{Rest: {duration: 5}}]
""",
    "repeat from input": """
steps:
  - Cycle: {repeat: 'input["N"]', steps: [{Rest: {duration: 5}}]}
""",
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid(text: str) -> None:
    assert ucp.validate(text) == {"valid": True, "error": None}
    assert isinstance(ucp.parse(text), ucp.Protocol)


# (text, code, substrings that the message must contain)
INVALID: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "not yaml": ("steps: [\n", "yaml", ("protocol is not valid YAML",)),
    "pybamm string": (
        "Discharge at 1C until 2.5 V",
        "mapping",
        ("mapping with a 'steps' key", "got str"),
    ),
    "list root": ("- Rest: {duration: 1}", "mapping", ("got list",)),
    "empty document": ("# nothing\n", "mapping", ("empty document",)),
    "missing steps": ("global: {initial_soc: 1}", "steps", ("missing 'steps'",)),
    "empty steps": ("steps: []", "steps", ("empty list",)),
    "steps not a list": ("steps: {Rest: {duration: 1}}", "steps", ("non-empty list",)),
    "scalar step": ("steps: [Rest]", "steps", ("step item must be a mapping",)),
    "two keys": (
        "steps:\n  - Charge: {mode: C-rate, value: 1, ends: ['Voltage > 4']}\n    Rest: {duration: 1}",
        "steps",
        ("exactly one key", "'Charge', 'Rest'"),
    ),
    "unknown step": (
        "steps: [{Chrge: {duration: 1}}]",
        "unknown step",
        ("unknown step type 'Chrge'",),
    ),
    "wrong case step": ("steps: [{rest: {duration: 1}}]", "unknown step", ("did you mean 'Rest'",)),
    "unknown direction": (
        "steps: [{direction: Sideways, duration: 1}]",
        "unknown step",
        ("unknown step type 'Sideways'", "direction"),
    ),
    "missing mode": ("steps: [{Charge: {value: 1, duration: 1}}]", "mode", ("missing 'mode'",)),
    "missing value": (
        "steps: [{Charge: {mode: Current, duration: 1}}]",
        "value",
        ("missing 'value'",),
    ),
    "unknown mode (E13)": (
        E13,
        "mode",
        (
            "steps[0] 'Charge' (line 3, column 20): mode: unknown mode 'Magic'; expected one of C-rate",
        ),
    ),
    "impedance mode": (
        "steps: [{Charge: {mode: Impedance, value: 1, duration: 1}}]",
        "mode",
        ("'Impedance'",),
    ),
    "mode on rest": ("steps: [{Rest: {mode: Current, duration: 1}}]", "mode", ("takes no mode",)),
    "non-numeric value": (
        "steps: [{Charge: {mode: Current, value: abc, duration: 1}}]",
        "value",
        ("expected a number",),
    ),
    "boolean value": (
        "steps: [{Charge: {mode: Current, value: true, duration: 1}}]",
        "value",
        ("boolean true",),
    ),
    "negative c-rate": (
        "steps: [{Discharge: {mode: C-rate, value: -1, duration: 1}}]",
        "value",
        ("value: -1 is out of range", "positive"),
    ),
    "zero current": (
        "steps: [{Discharge: {mode: Current, value: 0, duration: 1}}]",
        "value",
        ("out of range",),
    ),
    "huge integer": (
        "steps: [{Rest: {duration: " + "9" * 400 + "}}]",
        "value",
        ("expected a finite number",),
    ),
    "infinite float": ("steps: [{Rest: {duration: .inf}}]", "value", ("expected a finite number",)),
    "negative duration": (
        "steps: [{Rest: {duration: -5}}]",
        "value",
        ("duration: -5 is out of range",),
    ),
    "missing ends (E14)": (E14, "ends", ("steps[0] 'Discharge'", "ends: missing end condition")),
    "malformed end": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage is high']}}]",
        "ends",
        ("cannot read end condition 'Voltage is high'",),
    ),
    "end without number": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage <']}}]",
        "ends",
        ("missing number",),
    ),
    "bad operator": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage <= 2.5']}}]",
        "operator",
        ("operator '<=' is not allowed",),
    ),
    "equals operator": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage = 2.5']}}]",
        "operator",
        ("'='",),
    ),
    "wrong unit": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage < 2.5 A']}}]",
        "unit",
        ("unit 'A' is a Current unit, not a Voltage unit",),
    ),
    "unknown unit": (
        "steps: [{Discharge: {mode: Current, value: 1, ends: ['Voltage < 4.2 volts-ish']}}]",
        "unit",
        ("unknown unit 'volts-ish'",),
    ),
    "unknown quantity": (
        "steps: [{Charge: {mode: Current, value: 1, ends: ['Voltag > 4.2']}}]",
        "ends",
        ("ends[0]: unknown quantity 'Voltag'",),
    ),
    "unknown variable": (
        "steps: [{direction: Discharge, mode: Current, value: 1, ends: [{variable: Pressure [Pa], value: 1}]}]",
        "ends",
        ("unknown quantity 'Pressure [Pa]'",),
    ),
    "bracket unit conflict": (
        "steps: [{direction: Discharge, mode: Current, value: 1, ends: [{variable: Voltage [A], value: 1}]}]",
        "unit",
        ("'A'",),
    ),
    "operator not implied": (
        "steps: [{direction: Discharge, mode: Current, value: 1, ends: [{variable: Temperature [°C], value: 50}]}]",
        "operator",
        ("cannot imply the operator",),
    ),
    "bad mapping operator": (
        "steps: [{direction: Discharge, mode: Current, value: 1, ends: [{variable: Voltage [V], value: 3, operator: '>='}]}]",
        "operator",
        ("'>='",),
    ),
    "time less than": (
        "steps: [{Rest: {ends: ['Time < 10']}}]",
        "operator",
        ("'Time <' can never end",),
    ),
    "negative current end": (
        "steps: [{Charge: {mode: Voltage, value: 4.2, ends: ['Current < -1']}}]",
        "ends",
        ("-1 is out of range",),
    ),
    "ends not a list": ("steps: [{Rest: {ends: 'Time > 10'}}]", "ends", ("must be a list",)),
    "conflicting initial state": (
        "global: {initial_soc: 1, initial_voltage: 4}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("'initial_soc' and 'initial_voltage'",),
    ),
    "conflicting initial forms": (
        "global: {initial_soc: 1, initial_state_type: voltage, initial_state_value: 4}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("'initial_soc'", "'initial_state_type'"),
    ),
    "soc above 100": (
        "global: {initial_soc: 150}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("150 is out of range",),
    ),
    "soc negative": (
        "global: {initial_soc: -0.1}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("-0.1 is out of range",),
    ),
    "soc percentage above 100": (
        "global: {initial_state_type: soc_percentage, initial_state_value: 120}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("120 is out of range", "0-100"),
    ),
    "bad initial state type": (
        "global: {initial_state_type: soc_fraction, initial_state_value: 1}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("unknown initial_state_type 'soc_fraction'",),
    ),
    "initial state type alone": (
        "global: {initial_state_type: voltage}\nsteps: [{Rest: {duration: 1}}]",
        "initial",
        ("must be given together",),
    ),
    "temperature conflict": (
        "global: {temperature: 25, initial_temperature: 30}\nsteps: [{Rest: {duration: 1}}]",
        "global",
        ("conflicting 'initial_temperature' (30) and 'temperature' (25)",),
    ),
    "below absolute zero": (
        "global: {temperature: -300}\nsteps: [{Rest: {duration: 1}}]",
        "global",
        ("absolute zero",),
    ),
    "unknown global key": (
        "global: {initial_sco: 1}\nsteps: [{Rest: {duration: 1}}]",
        "global",
        ("unknown key 'initial_sco'",),
    ),
    "bad resolution": (
        "global: {resolution: {time: 0}}\nsteps: [{Rest: {duration: 1}}]",
        "global",
        ("0 is out of range",),
    ),
    "unknown top-level key": (
        "stepz: []\nsteps: [{Rest: {duration: 1}}]",
        "unknown key",
        ("unknown key 'stepz'",),
    ),
    "unknown step key": (
        "steps: [{Charge: {mode: Current, value: 1, duration: 1, modee: x}}]",
        "unknown key",
        ("unknown key 'modee'",),
    ),
    "repeat zero": (
        "steps: [{B: {repeat: 0, steps: [{Rest: {duration: 1}}]}}]",
        "repeat",
        ("0 is out of range",),
    ),
    "repeat float": (
        "steps: [{B: {repeat: 2.5, steps: [{Rest: {duration: 1}}]}}]",
        "repeat",
        ("integer",),
    ),
    "repeat text": (
        "steps: [{B: {repeat: many, steps: [{Rest: {duration: 1}}]}}]",
        "repeat",
        ("integer",),
    ),
    "repeat too large": (
        "steps: [{B: {repeat: 10001, steps: [{Rest: {duration: 1}}]}}]",
        "repeat",
        ("10000",),
    ),
    "too many steps": (
        "steps:\n  - A:\n      repeat: 10000\n      steps:\n        - B: {repeat: 11, steps: [{Rest: {duration: 1}}]}",
        "repeat",
        ("too many steps", "110000"),
    ),
    "nested too deep": (
        "steps: " + "[{B: " * 9 + "[{Rest: {duration: 1}}]" + "}]" * 9,
        "repeat",
        ("nested deeper than 8",),
    ),
    "empty block": ("steps: [{B: []}]", "steps", ("non-empty list of steps",)),
    "unknown goto": (
        "steps: [{Rest: {ends: [{condition: 'Time > 1', goto: Nowhere}]}}]",
        "goto",
        ("unknown goto target 'Nowhere'",),
    ),
    "duplicate label": (
        "steps: [{Rest: {duration: 1, name: A}}, {Rest: {duration: 1, name: A}}]",
        "label",
        ("duplicate label or block name 'A'",),
    ),
    "unquoted input": (
        "steps: [{Discharge: {mode: Current, value: 'input[C-rate]', duration: 1}}]",
        "input",
        ("malformed input reference",),
    ),
    "input call": (
        "steps: [{Discharge: {mode: Current, value: 'input(\"x\")', duration: 1}}]",
        "input",
        ("malformed",),
    ),
    "inputs plural": (
        "steps: [{Discharge: {mode: Current, value: 'inputs[\"x\"]', duration: 1}}]",
        "input",
        ("malformed",),
    ),
    "unclosed input": (
        "steps: [{Discharge: {mode: Current, value: 'input[\"x\"', duration: 1}}]",
        "input",
        ("malformed",),
    ),
    "empty input name": (
        "steps: [{Discharge: {mode: Current, value: 'input[\"\"]', duration: 1}}]",
        "input",
        ("empty",),
    ),
    "duplicate key": (
        "steps:\n  - Charge:\n      mode: Current\n      mode: Power\n      value: 1\n      duration: 1",
        "duplicate key",
        ("steps[0].Charge.mode (line 4, column 7): duplicate key 'mode'",),
    ),
    "safety min above max": (
        "safety_limits: {voltage_min: 4, voltage_max: 3}\nsteps: [{Rest: {duration: 1}}]",
        "safety",
        ("voltage_min (4) must be below voltage_max (3)",),
    ),
    "negative current limit": (
        "safety_limits: {charge_current_max: -1}\nsteps: [{Rest: {duration: 1}}]",
        "safety",
        ("-1 is out of range",),
    ),
    "unknown safety key": (
        "safety_limits: {power_max: 1}\nsteps: [{Rest: {duration: 1}}]",
        "safety",
        ("'power_max'",),
    ),
    "drive without name": (
        "steps: [{Drive: {duration: 10}}]",
        "drive cycle",
        ("missing 'drive_cycle'",),
    ),
    "drive empty name": (
        "steps: [{Drive: {drive_cycle: '', duration: 10}}]",
        "drive cycle",
        ("non-empty",),
    ),
    "python tag": ("steps: !!python/object:os.system [x]", "yaml", ("not allowed",)),
    "custom tag": ("steps: [!step {Rest: {duration: 1}}]", "yaml", ("tag '!step' is not allowed",)),
    "two documents": (
        "steps: [{Rest: {duration: 1}}]\n---\nsteps: []",
        "yaml",
        ("single document",),
    ),
}


@pytest.mark.parametrize(("text", "code", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid(text: str, code: str, expected: tuple[str, ...]) -> None:
    result = ucp.validate(text)
    assert result["valid"] is False
    error = result["error"]
    assert isinstance(error, str)
    for part in expected:
        assert part in error
    with pytest.raises(ucp.UCPError) as raised:
        ucp.parse(text)
    assert code in raised.value.codes
    assert str(raised.value) == error


def test_error_names_step_field_position_and_expectation() -> None:
    text = "steps:\n  - Rest: {duration: 1}\n  - Charge:\n      mode: Magic\n      value: 1\n      duration: 1\n"
    with pytest.raises(ucp.UCPError) as raised:
        ucp.parse(text)
    (issue,) = raised.value.issues
    assert (issue.path, issue.code, issue.line, issue.column) == (
        "steps[1].Charge.mode",
        "mode",
        4,
        13,
    )
    error = str(raised.value)
    assert error.startswith("steps[1] 'Charge' (line 4, column 13): mode: unknown mode 'Magic'")
    assert error.endswith("expected one of C-rate, Current, Power, Voltage, Resistance")


def test_label_and_nested_block_appear_in_subject() -> None:
    text = """
steps:
  - Cycle:
      repeat: 2
      steps:
        - Discharge: {name: Fast, mode: Current, value: -1, duration: 1}
"""
    error = ucp.validate(text)["error"]
    assert error == (
        "steps[0].Cycle.steps[0] 'Fast' (Discharge) (line 6, column 57): value: -1 is out of range; "
        "expected a positive number (> 0)"
    )


def test_all_errors_are_collected_in_one_pass() -> None:
    text = """
global: {initial_soc: 150, foo: 1}
steps:
  - Charge: {mode: Magic, value: -1, ends: ["Voltag > 4.2", "Voltage <= 4"]}
  - Discharge: {mode: C-rate, value: 1}
"""
    with pytest.raises(ucp.UCPError) as raised:
        ucp.parse(text)
    assert raised.value.codes == ["initial", "global", "mode", "value", "ends", "operator", "ends"]
    lines = [issue.line for issue in raised.value.issues]
    assert lines == sorted(lines)
    assert len(str(raised.value).splitlines()) == 7


def test_flat_and_keyed_forms_parse_to_the_same_model() -> None:
    flat = ucp.parse(
        "steps:\n  - direction: discharge\n    mode: C-rate\n    value: 1\n"
        "    ends: [{variable: Voltage [V], value: 2.5}]\n"
    )
    keyed = ucp.parse("steps:\n  - Discharge: {mode: C-rate, value: 1, ends: ['Voltage < 2.5']}\n")
    assert flat.items[0].ends[0].value == keyed.items[0].ends[0].value
    assert flat.items[0].kind == keyed.items[0].kind == "Discharge"
    assert flat.items[0].path == keyed.items[0].path == "steps[0].Discharge"
    assert flat.items[0].ends[0].operator == "<"


def test_mapping_input_is_accepted_without_positions() -> None:
    data = {"steps": [{"Charge": {"mode": "Magic", "value": 1, "duration": 1}}]}
    error = ucp.validate(data)["error"]
    assert error == (
        "steps[0] 'Charge': mode: unknown mode 'Magic'; expected one of "
        "C-rate, Current, Power, Voltage, Resistance"
    )
    assert ucp.validate({"steps": [{"Rest": {"duration": 1}}]})["valid"]


@pytest.mark.parametrize(
    "value", [None, 3, 2.5, b"\xff\xfe", object(), ["steps"], {"steps": {1: 2}}]
)
def test_validate_never_raises_on_odd_inputs(value: object) -> None:
    result = ucp.validate(value)
    assert result["valid"] is False
    assert isinstance(result["error"], str)


def test_bytes_are_decoded() -> None:
    assert ucp.validate(b"steps: [{Rest: {duration: 1}}]")["valid"]


def test_many_issues_are_truncated() -> None:
    text = "steps:\n" + "".join(f"  - Chrge{i}: {{}}\n" for i in range(30))
    error = ucp.validate(text)["error"]
    assert error.count("\n") == 20
    assert error.endswith("... and 10 more issues")


def test_references_snippet_needs_an_end_condition() -> None:
    # python-api.md passes this snippet to find_input_references only.
    assert ucp.find_input_references(SEED_REFERENCES_SNIPPET) == ["Initial SOC", "C-rate"]
    assert "missing end condition" in ucp.validate(SEED_REFERENCES_SNIPPET)["error"]
