"""The generated UCP JSON Schema agrees with the parser: the documents it accepts validate,
typical mistakes do not, every key of the grammar is typed and every bound matches its rule.

The schema is checked with the small draft 2020-12 validator below (no jsonschema in the
test environment); it refuses keywords it does not know, so it cannot pass a schema by
ignoring part of it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ionworks.ucp import json_schema
from ionworks.ucp._sections import _GLOBAL_KEYS
from ionworks.ucp._steps import _KEYS
from ionworks.ucp.json_schema import BOUNDS, protocol_schema
from ionworks.ucp.parse import load, validate
from ionworks.ucp.vocab import SAFETY_KEYS, STEP_KINDS, Constraint
from tests.ucp.protocols import E13, E14, EXAMPLES, LONG_CYCLING, SEEDS

ANNOTATIONS = {"$schema", "$id", "title", "description", "examples"}
TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "null": type(None),
    "boolean": bool,
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return name == "number" or float(value).is_integer()
    return isinstance(value, TYPES[name])


def is_valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """Draft 2020-12, the keywords the generated schema uses (anything else is an error)."""
    for keyword, arg in schema.items():
        if keyword in ANNOTATIONS or keyword == "$defs":
            continue
        if keyword == "$ref":
            ok = is_valid(value, root["$defs"][arg.removeprefix("#/$defs/")], root)
        elif keyword == "type":
            ok = any(_is_type(value, t) for t in ([arg] if isinstance(arg, str) else arg))
        elif keyword in ("anyOf", "oneOf", "allOf"):
            passed = sum(is_valid(value, sub, root) for sub in arg)
            ok = {"anyOf": passed >= 1, "oneOf": passed == 1, "allOf": passed == len(arg)}[keyword]
        elif keyword == "enum":
            ok = value in arg
        elif keyword == "const":
            ok = value == arg
        elif keyword == "required":
            ok = not isinstance(value, dict) or all(k in value for k in arg)
        elif keyword == "properties":
            ok = not isinstance(value, dict) or all(
                is_valid(value[k], sub, root) for k, sub in arg.items() if k in value
            )
        elif keyword == "additionalProperties":
            extra = (
                [k for k in value if k not in schema.get("properties", {})]
                if isinstance(value, dict)
                else []
            )
            ok = all(
                (arg if isinstance(arg, bool) else is_valid(value[k], arg, root)) for k in extra
            )
        elif keyword in ("minProperties", "maxProperties", "minItems", "maxItems", "minLength"):
            if not isinstance(value, dict | list | str):
                continue
            ok = len(value) >= arg if keyword.startswith("min") else len(value) <= arg
        elif keyword == "items":
            ok = not isinstance(value, list) or all(is_valid(v, arg, root) for v in value)
        elif keyword == "pattern":
            ok = not isinstance(value, str) or re.search(arg, value) is not None
        elif keyword in ("minimum", "maximum", "exclusiveMinimum"):
            if not _is_type(value, "number"):
                continue
            ok = {
                "minimum": value >= arg,
                "maximum": value <= arg,
                "exclusiveMinimum": value > arg,
            }[keyword]
        else:
            raise AssertionError(f"the test validator does not know {keyword!r}")
        if not ok:
            return False
    return True


SCHEMA = protocol_schema()


def conforms(document: Any) -> bool:
    return is_valid(document, SCHEMA, SCHEMA)


ACCEPTED = {**EXAMPLES, **SEEDS, "long cycling": LONG_CYCLING}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_documents_the_parser_accepts_conform(name: str) -> None:
    text = ACCEPTED[name]
    assert validate(text)["valid"], validate(text)
    assert conforms(load(text).data)


@pytest.mark.parametrize(
    "document",
    [
        {"steps": [{"Rest": {"duration": 60}}], "extra": 1},  # unknown top-level key
        {"global": {"initial_temperature": 25}},  # no steps
        {"steps": []},
        {"steps": [{"Sleep": {"duration": 60}}]},  # unknown step type
        {"steps": [{"Charge": {"value": 1, "ends": ["Voltage > 4.2"]}}]},  # no mode
        {"steps": [{"Rest": {}}]},  # no duration and no ends
        {"steps": [{"Rest": {"duration": -1}}]},
        {"steps": [{"Rest": {"duration": 60, "colour": "red"}}]},
        {"steps": [{"direction": "Sideways", "duration": 60}]},
        {"steps": [{"Cycle": {"repeat": 0, "steps": [{"Rest": {"duration": 1}}]}}]},
        {"steps": [{"Cycle": {"repeat": 2.5, "steps": [{"Rest": {"duration": 1}}]}}]},
        {"global": {"initial_soc": 150}, "steps": [{"Rest": {"duration": 60}}]},
        {"safety_limits": {"voltage_min": 0}, "steps": [{"Rest": {"duration": 60}}]},
        {"steps": [{"Drive": {"ends": ["Voltage < 3"]}}]},  # no drive cycle
        {"steps": [{"Ambient temperature": {"value": 25, "temperature": 30}}]},
        {"steps": [{"EIS": {"start_frequency": 1000, "end_frequency": 1}}]},
        {"steps": [{"Waveform": {"duration": 5, "waveform": {"time": [0.0], "value": [1.0]}}}]},
    ],
)
def test_typical_mistakes_do_not_conform(document: dict[str, Any]) -> None:
    assert not validate(document)["valid"]
    assert not conforms(document)


@pytest.mark.parametrize("text", [E13, E14])
def test_documented_invalid_examples_do_not_conform(text: str) -> None:
    assert not conforms(load(text).data)


def test_modes_and_flat_step_types_match_as_the_parser_matches_them() -> None:
    for mode in ("c rate", "C_RATE", "  Current ", "crate"):
        step = {"direction": " discharge ", "mode": mode, "value": 1, "duration": 5}
        assert validate({"steps": [step]})["valid"], mode
        assert conforms({"steps": [step]}), mode
    drive = {"direction": "Drive", "mode": "Resistance", "drive_cycle": "US06", "duration": 5}
    assert not validate({"steps": [drive]})["valid"] and not conforms({"steps": [drive]})


def test_every_key_of_the_grammar_is_typed() -> None:
    defs = SCHEMA["$defs"]
    for kind in STEP_KINDS:
        slug = kind.lower().replace(" ", "_")
        assert set(defs[f"step_{slug}"]["properties"]) == set(_KEYS[kind])
        assert set(defs[f"flat_step_{slug}"]["properties"]) == {"direction", *_KEYS[kind]}
    assert set(SCHEMA["properties"]["global"]["properties"]) == set(_GLOBAL_KEYS)
    assert set(SCHEMA["properties"]["safety_limits"]["properties"]) == {*SAFETY_KEYS, "goto"}


def test_a_key_the_parser_gains_without_a_type_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(json_schema._KEYS, "Rest", (*_KEYS["Rest"], "sparkle"))
    with pytest.raises(LookupError, match="Rest step key 'sparkle' has no JSON Schema type"):
        protocol_schema()


SAMPLES = [
    -1e9,
    -300.0,
    -273.15,
    -273.0,
    -1.0,
    0.0,
    0.5,
    1.0,
    2.0,
    99.5,
    100.0,
    100.5,
    1e4,
    1e4 + 1,
]


@pytest.mark.parametrize("constraint", list(Constraint))
def test_each_rules_bounds_agree_with_the_rule(constraint: Constraint) -> None:
    schema = BOUNDS[constraint]
    for number in SAMPLES:
        assert is_valid(number, schema, SCHEMA) == (not constraint.violated(number)), number


def test_the_schema_is_fresh_each_call() -> None:
    first = protocol_schema()
    first["$defs"].clear()
    assert protocol_schema()["$defs"]
