"""Property tests: validate() and find_input_references() never raise."""

from __future__ import annotations

import io
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from ionworks import ucp

from .protocols import EXAMPLES, SEEDS

SETTINGS = settings(
    max_examples=int(os.environ.get("UCP_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

WORDS = [
    "global",
    "steps",
    "safety_limits",
    "direction",
    "mode",
    "value",
    "duration",
    "ends",
    "repeat",
    "goto",
    "name",
    "variable",
    "operator",
    "condition",
    "Charge",
    "Discharge",
    "Rest",
    "Drive",
    "EIS",
    "C-rate",
    "Voltage",
    "Current < 0.05",
    "Voltage > 4.2",
    'input["X"]',
    "initial_soc",
    "initial_state_type",
    "soc_percentage",
    "temperature",
    "resolution",
    "<<",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=20),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=10))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=30,
)


def _check(result: dict[str, Any]) -> None:
    assert set(result) == {"valid", "error"}
    assert isinstance(result["valid"], bool)
    if result["valid"]:
        assert result["error"] is None
    else:
        assert isinstance(result["error"], str) and result["error"]
        # an internal exception would surface as this fallback message
        assert "could not be validated" not in result["error"]


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _check(ucp.validate(text))
    assert all(isinstance(name, str) for name in ucp.find_input_references(text))


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(ucp.validate(data))


@SETTINGS
@given(st.dictionaries(keys, documents, max_size=5))
def test_arbitrary_yaml_documents(data: dict[str, Any]) -> None:
    _check(ucp.validate(data))
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, stream)
    _check(ucp.validate(stream.getvalue()))
    ucp.find_input_references(stream.getvalue())


@SETTINGS
@given(st.lists(documents, min_size=1, max_size=4))
def test_arbitrary_steps(steps: list[Any]) -> None:
    _check(ucp.validate({"steps": steps}))


KNOWN = list(SEEDS.values()) + list(EXAMPLES.values())


@SETTINGS
@given(
    st.sampled_from(KNOWN),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=2000), st.integers(0, 3), st.text(max_size=3)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_protocols(text: str, edits: list[tuple[int, int, str]]) -> None:
    for position, remove, insert in edits:
        position %= len(text) + 1
        text = text[:position] + insert + text[position + remove :]
    _check(ucp.validate(text))
    ucp.find_input_references(text)


step_values = st.floats(min_value=0.01, max_value=10, allow_nan=False)


@st.composite
def valid_steps(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Charge", "Discharge", "Rest"]))
    if kind == "Rest":
        return {"Rest": {"duration": draw(st.integers(1, 10_000))}}
    mode = draw(st.sampled_from(["C-rate", "Current", "Power", "Voltage"]))
    quantity = draw(st.sampled_from(["Voltage", "Current", "C-rate", "Time", "Capacity"]))
    operator = ">" if quantity in ("Time", "Capacity") else draw(st.sampled_from(["<", ">"]))
    end = f"{quantity} {operator} {draw(step_values)}"
    return {kind: {"mode": mode, "value": draw(step_values), "ends": [end]}}


@SETTINGS
@given(st.lists(valid_steps(), min_size=1, max_size=5), st.integers(1, 5))
def test_generated_valid_protocols_are_accepted(steps: list[dict[str, Any]], repeat: int) -> None:
    data = {"steps": [{"Block": {"repeat": repeat, "steps": steps}}]}
    assert ucp.validate(data) == {"valid": True, "error": None}
    assert ucp.parse(data).unrolled_count() == repeat * len(steps)
