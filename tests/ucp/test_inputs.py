"""input["…"] references: discovery, expressions and substitution."""

from __future__ import annotations

import pytest

from ionworks import ucp
from ionworks.ucp.inputs import ExprError, evaluate, parse_expression, render

from .protocols import E2, SEED_INPUTS, SEED_INPUTS_PARAMETERS, SEED_REFERENCES_SNIPPET


def test_seed_references() -> None:
    assert ucp.find_input_references(SEED_REFERENCES_SNIPPET) == ["Initial SOC", "C-rate"]
    assert ucp.find_input_references(SEED_INPUTS) == ["Initial SOC", "C-rate"]
    assert ucp.find_input_references(E2) == ["Initial SOC", "C-rate"]


def test_references_are_distinct_in_first_appearance_order() -> None:
    text = """
steps:
  - Charge: {mode: C-rate, value: 'input["B"]', ends: ['Voltage > input["V max [V]"]']}
  - Discharge: {mode: C-rate, value: '2 * input["B"] + input[''A'']', duration: 'input["T"]'}
global: {initial_temperature: 'input["Temperature [°C]"]'}
"""
    assert ucp.find_input_references(text) == ["B", "V max [V]", "A", "T", "Temperature [°C]"]


def test_escaped_quotes_in_double_quoted_yaml() -> None:
    text = 'steps:\n  - Discharge: {mode: Current, value: 1, ends: ["Voltage < input[\\"Cut-off voltage [V]\\"]"]}\n'
    assert ucp.find_input_references(text) == ["Cut-off voltage [V]"]
    assert ucp.validate(text)["valid"]


def test_references_from_invalid_yaml_and_mappings() -> None:
    assert ucp.find_input_references('steps: [ {value: input["X"], ends: [input["Y"]') == ["X", "Y"]
    assert ucp.find_input_references("{{{{") == []
    assert ucp.find_input_references({"global": {"initial_soc": 'input["S"]'}}) == ["S"]
    assert ucp.find_input_references('a: input[""]') == []


def test_expressions_never_eval() -> None:
    expr, rest = parse_expression('2 * (input["a"] - 1) / 4 + -3')
    assert rest == ""
    assert evaluate(expr, {"a": 5.0}) == -1.0
    assert render(expr) == '(((2 * (input["a"] - 1)) / 4) + -3)'
    for text in ("__import__('os').system('ls')", "1 +", "(1", "2 ** 3", "abs(1)", "1; 2"):
        with pytest.raises(ExprError):
            parse_expression(text)
    with pytest.raises(ExprError, match="division by zero"):
        evaluate(parse_expression("1 / (2 - 2)")[0])
    with pytest.raises(ExprError, match="nested too deeply"):
        parse_expression("(" * 100 + "1" + ")" * 100)


def test_prefix_parsing_stops_at_a_unit() -> None:
    assert parse_expression("4.2 V", prefix=True)[1] == "V"
    assert parse_expression('input["x"] mA', prefix=True)[1] == "mA"
    assert parse_expression("0.5 1/h", prefix=True)[1] == "1/h"


def test_resolve_seed_inputs() -> None:
    protocol = ucp.parse(SEED_INPUTS)
    assert protocol.input_references() == ["Initial SOC", "C-rate"]
    resolved = ucp.resolve_inputs(protocol, {**SEED_INPUTS_PARAMETERS, "Unused": "ignored"})
    assert resolved.input_references() == []
    step = resolved.items[0]
    assert isinstance(step, ucp.Step)
    assert step.value is not None and step.value.number == 0.5
    assert step.value.source == 'input["C-rate"]'
    state = resolved.settings.initial_state
    assert state is not None and state.soc_fraction() == 1.0


def test_resolve_accepts_numeric_strings_and_ints() -> None:
    resolved = ucp.resolve_inputs(ucp.parse(SEED_INPUTS), {"Initial SOC": "50", "C-rate": " 2 "})
    state = resolved.settings.initial_state
    assert state is not None and state.soc_fraction() == 0.5


def test_missing_input_is_named() -> None:
    with pytest.raises(ucp.UCPError) as raised:
        ucp.resolve_inputs(ucp.parse(SEED_INPUTS), {"C-rate": 1})
    (issue,) = raised.value.issues
    assert issue.code == "input"
    assert "unknown input reference 'Initial SOC'" in str(raised.value)
    assert str(raised.value).startswith("global (line 2, column 16): initial_soc:")


@pytest.mark.parametrize("bad", ["abc", None, True, [1], "nan", float("inf"), 10**400])
def test_non_numeric_input_is_named_with_its_value(bad: object) -> None:
    with pytest.raises(ucp.UCPError) as raised:
        ucp.resolve_inputs(ucp.parse(SEED_INPUTS), {"Initial SOC": 1, "C-rate": bad})
    assert raised.value.codes == ["input"]
    assert f"input reference 'C-rate' must be a finite number; got {bad!r:.60}" in str(raised.value)


def test_substituted_values_obey_the_same_rules() -> None:
    with pytest.raises(ucp.UCPError) as raised:
        ucp.resolve_inputs(ucp.parse(SEED_INPUTS), {"Initial SOC": 150, "C-rate": -1})
    assert raised.value.codes == ["initial", "value"]
    message = str(raised.value)
    assert 'input["Initial SOC"] = 150 is out of range' in message
    assert 'input["C-rate"] = -1 is out of range; expected a positive number (> 0)' in message


def test_repeat_and_expression_inputs() -> None:
    text = """
steps:
  - Cycle:
      repeat: 'input["N"]'
      steps:
        - Discharge: {mode: Current, value: '2 * input["I"]', ends: ['Voltage < input["V"] mV']}
"""
    protocol = ucp.parse(text)
    assert protocol.unrolled_count() is None
    resolved = ucp.resolve_inputs(protocol, {"N": 3, "I": 0.5, "V": 3000})
    assert resolved.unrolled_count() == 3
    (step,) = resolved.steps()
    assert step.value is not None and step.value.number == 1.0
    assert step.ends[0].value.number == pytest.approx(3.0)
    with pytest.raises(ucp.UCPError, match="integer"):
        ucp.resolve_inputs(protocol, {"N": 2.5, "I": 1, "V": 3000})
    with pytest.raises(ucp.UCPError, match="too many steps"):
        ucp.resolve_inputs(
            ucp.parse(
                text.replace(
                    "- Discharge",
                    "- B: {repeat: 'input[\"N\"]', steps: [{Rest: {duration: 1}}]}\n        - Discharge",
                )
            ),
            {"N": 10_000, "I": 1, "V": 3000},
        )
