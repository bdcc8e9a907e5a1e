"""A JSON Schema (draft 2020-12) of UCP documents, generated from the parser's own grammar.

The key sets come from the parser (top level, ``global``, ``safety_limits``, every step kind),
the step kinds, modes and quantities from :mod:`.vocab`, and each number's bounds from its
:class:`~.vocab.Constraint`, so the schema follows the grammar when it changes; a key the
parser accepts with no type here is an error (:func:`protocol_schema` raises). What the
schema cannot say (``input["…"]`` expressions are checked once their inputs are known; end
condition text; nesting deeper than :data:`~.vocab.MAX_BLOCK_DEPTH`; unique labels and goto
targets) :func:`~.parse.validate` still checks. Step types and modes match as the parser
matches them: in any case, with any run of spaces between words, and every spelling the
parser knows (``crate``, ``c_rate``…); ``examples`` lists the canonical names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ._sections import _GLOBAL_KEYS
from ._steps import _KEYS, _MODE_SPELLINGS, _MODES_BY_KIND, MAX_WAVEFORM_POINTS
from .parse import _TOP_KEYS
from .vocab import MAX_BLOCK_DEPTH, MAX_REPEAT, QUANTITIES, SAFETY_KEYS, STEP_KINDS, Constraint

__all__ = ["SCHEMA_ID", "protocol_schema"]

SCHEMA_ID: Final = "https://ionworks.com/schemas/ucp.json"
Schema = dict[str, Any]

#: The JSON Schema bounds of each range rule (tests check them against ``Constraint.violated``).
BOUNDS: Final[Mapping[Constraint, Schema]] = {
    Constraint.ANY: {"type": "number"},
    Constraint.POSITIVE: {"type": "number", "exclusiveMinimum": 0},
    Constraint.NON_NEGATIVE: {"type": "number", "minimum": 0},
    Constraint.SOC: {"type": "number", "minimum": 0, "maximum": 100},
    Constraint.PERCENT: {"type": "number", "minimum": 0, "maximum": 100},
    Constraint.CELSIUS: {"type": "number", "exclusiveMinimum": -273.15},
    Constraint.REPEAT: {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT},
    Constraint.COUNT: {"type": "integer", "minimum": 1},
}
_EXPRESSION: Final = {
    "type": "string",
    "minLength": 1,
    "description": 'a number as text, arithmetic, or an input reference such as input["C-rate"]',
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _number(constraint: Constraint) -> Schema:
    return _ref(f"number_{constraint.name.lower()}")


def _object(properties: Mapping[str, Schema], *required: str, **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return {**out, **extra}


def _anyof_required(*names: str) -> list[Schema]:
    return [{"required": [name]} for name in names]


# --- the type of every key the parser accepts ---------------------------------------------

_TEXT: Final = {"type": "string", "minLength": 1, "pattern": r"\S"}
_NOTE: Final = {"type": ["string", "number"]}


def _step_value(kind: str) -> Schema:
    return _number(Constraint.CELSIUS if kind == "Ambient temperature" else Constraint.POSITIVE)


def _spelled(canonical: Iterable[str], spellings: Iterable[str], what: str) -> Schema:
    """A string that is one of ``spellings`` in any case, spaces being any run of blanks."""
    alternatives = sorted({_any_case(s) for s in spellings}, key=len, reverse=True)
    return {
        "type": "string",
        "pattern": rf"^\s*(?:{'|'.join(alternatives)})\s*$",
        "examples": list(canonical),
        "description": f"{what} (any case)",
    }


def _any_case(text: str) -> str:
    """A pattern valid in both Python and ECMA-262 (``re.escape`` writes ``\\-``, which
    unicode-mode ECMA patterns refuse)."""
    out = []
    for c in text:
        if c == " ":
            out.append(r"\s+")
        elif c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")
        else:
            out.append(f"\\{c}" if c in _REGEX_SPECIAL else c)
    return "".join(out)


_REGEX_SPECIAL: Final = frozenset("\\^$.|?*+()[]{}/")


def _mode(kind: str) -> Schema:
    modes = _MODES_BY_KIND.get(kind, ())
    spellings = [text for text, mode in _MODE_SPELLINGS.items() if mode in modes]
    return _spelled(modes, spellings, f"how the {kind} step is controlled")


_STEP_FIELDS: Final[Mapping[str, Callable[[str], Schema]]] = {
    "duration": lambda _: _number(Constraint.POSITIVE),
    "ends": lambda _: {"type": "array", "items": _ref("end_condition")},
    "temperature": lambda _: _number(Constraint.CELSIUS),
    "resolution": lambda _: _ref("resolution"),
    "set_variable": lambda _: _ref("set_variable"),
    "note": lambda _: _NOTE,
    "name": lambda _: {**_TEXT, "description": "step label (a goto target)"},
    "label": lambda _: {**_TEXT, "description": "step label (a goto target)"},
    "mode": _mode,
    "value": _step_value,
    "drive_cycle": lambda _: {**_TEXT, "description": "name of the drive-cycle samples"},
    "file": lambda _: {**_TEXT, "description": "name of the drive-cycle samples"},
    "waveform": lambda _: _ref("waveform"),
    "start_frequency": lambda _: _number(Constraint.POSITIVE),
    "end_frequency": lambda _: _number(Constraint.POSITIVE),
    "points_per_decade": lambda _: _number(Constraint.COUNT),
    "amplitude": lambda _: _number(Constraint.POSITIVE),
    "dc_offset": lambda _: _number(Constraint.ANY),
}
#: What a step of each kind must have besides its keys' types (the parser's rules).
_STEP_RULES: Final[Mapping[str, Schema]] = {
    "Charge": {"required": ["mode", "value"], "anyOf": _anyof_required("duration", "ends")},
    "Discharge": {"required": ["mode", "value"], "anyOf": _anyof_required("duration", "ends")},
    "Rest": {"anyOf": _anyof_required("duration", "ends")},
    "Drive": {
        "allOf": [
            {"oneOf": _anyof_required("drive_cycle", "file")},
            {"anyOf": _anyof_required("duration", "ends")},
        ]
    },
    "Waveform": {"required": ["waveform"], "anyOf": _anyof_required("duration", "ends")},
    "EIS": {"required": ["start_frequency", "end_frequency", "points_per_decade", "amplitude"]},
    "Ambient temperature": {"oneOf": _anyof_required("value", "temperature")},
}
_GLOBAL_FIELDS: Final[Mapping[str, Schema]] = {
    "initial_temperature": _number(Constraint.CELSIUS),
    "temperature": _number(Constraint.CELSIUS),
    "initial_state_type": {"enum": ["soc_percentage", "voltage"]},
    "initial_state_value": _number(Constraint.ANY),
    "initial_soc": _number(Constraint.SOC),
    "initial_voltage": _number(Constraint.POSITIVE),
    "resolution": _ref("resolution"),
}


def _typed(keys: tuple[str, ...], types: Callable[[str], Schema], where: str) -> Schema:
    try:
        return {key: types(key) for key in keys}
    except KeyError as missing:
        raise LookupError(f"UCP {where} key {missing} has no JSON Schema type") from None


def _step_params(kind: str, *, flat: bool) -> Schema:
    properties = _typed(_KEYS[kind], lambda key: _STEP_FIELDS[key](kind), f"{kind} step")
    rules = dict(_STEP_RULES[kind])
    if flat:
        direction = _spelled([kind], [kind.lower()], "the step type")
        properties = {"direction": direction, **properties}
        rules["required"] = ["direction", *rules.get("required", [])]
    return {**_object(properties), **rules, "title": f"{kind} step"}


def _limit(key: str) -> Schema:
    rule = Constraint.CELSIUS if key.startswith("temperature") else Constraint.POSITIVE
    return {
        "anyOf": [
            _number(rule),
            _object({"value": _number(rule), "goto": _TEXT}, "value"),
        ]
    }


def _definitions() -> Schema:
    defs: Schema = {
        f"number_{c.name.lower()}": {"anyOf": [BOUNDS[c], _EXPRESSION], "description": c.value}
        for c in Constraint
    }
    steps = {"type": "array", "minItems": 1, "items": _ref("item")}
    block_body = _object({"repeat": _number(Constraint.REPEAT), "steps": steps, "note": _NOTE})
    defs |= {
        "steps": steps,
        "resolution": _object(
            {k: _number(Constraint.POSITIVE) for k in ("time", "voltage", "current")}
        ),
        "waveform": _object(
            {
                k: {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 2,
                    "maxItems": MAX_WAVEFORM_POINTS,
                }
                for k in ("time", "value")
            },
            "time",
            "value",
        ),
        "set_variable": {
            "anyOf": [
                _ref("set_variable_entry"),
                {"type": "array", "items": _ref("set_variable_entry")},
            ]
        },
        "set_variable_entry": {
            "anyOf": [
                _TEXT,
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": {"type": ["string", "number"]},
                },
            ]
        },
        "end_condition": {
            "anyOf": [
                {
                    **_TEXT,
                    "description": f"'<quantity> < or > <number>[ <unit>]'; quantities: "
                    f"{', '.join(QUANTITIES)}, optionally as d/dt(<quantity>)",
                },
                _object({"condition": _TEXT, "goto": _TEXT}, "condition"),
                _object(
                    {
                        "variable": {**_TEXT, "examples": list(QUANTITIES)},
                        "value": _number(Constraint.ANY),
                        "operator": {"enum": ["<", ">"]},
                        "goto": _TEXT,
                    },
                    "variable",
                    "value",
                ),
            ]
        },
        "block_body": {**block_body, "required": ["steps"]},
        "keyed_block": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": {"anyOf": [_ref("steps"), _ref("block_body")]},
        },
        "flat_block": _object({"block": _TEXT, "name": _TEXT, **block_body["properties"]}, "steps"),
        "item": {
            "anyOf": [
                *(_object({kind: _ref(f"step_{_slug(kind)}")}, kind) for kind in STEP_KINDS),
                *(_ref(f"flat_step_{_slug(kind)}") for kind in STEP_KINDS),
                _ref("flat_block"),
                _ref("keyed_block"),
            ]
        },
    }
    for kind in STEP_KINDS:
        defs[f"step_{_slug(kind)}"] = _step_params(kind, flat=False)
        defs[f"flat_step_{_slug(kind)}"] = _step_params(kind, flat=True)
    return defs


def _slug(kind: str) -> str:
    return kind.lower().replace(" ", "_")


def protocol_schema() -> Schema:
    """The JSON Schema of a UCP document (a new dict each call)."""
    sections = {
        "global": _object(_typed(_GLOBAL_KEYS, _GLOBAL_FIELDS.__getitem__, "global")),
        "safety_limits": _object({**{k: _limit(k) for k in SAFETY_KEYS}, "goto": _TEXT}),
        "steps": _ref("steps"),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Universal Cycler Protocol (UCP)",
        "description": (
            "A cycling protocol: optional global settings and safety limits, and a list of "
            "steps and (repeated) blocks, nested at most "
            f"{MAX_BLOCK_DEPTH} levels deep. Steps are written keyed ({{Discharge: {{...}}}}) "
            "or flat ({direction: Discharge, ...})."
        ),
        **_object(_typed(_TOP_KEYS, sections.__getitem__, "top-level"), "steps"),
        "$defs": _definitions(),
    }
