"""End conditions (``ends``): the string form and the mapping form (ucp.md §6)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from attrs import evolve

from ._fields import Ctx, Loc, describe, out_of_range, read_text
from .inputs import ExprError, parse_expression
from .model import EndCondition, Value
from .vocab import QUANTITIES, Constraint

__all__ = ["parse_end", "split_quantity"]

_CONDITION = re.compile(r"^\s*(.*?)\s*(<=|>=|=<|=>|==|!=|<>|=|<|>)\s*(.*?)\s*$", re.DOTALL)
_QUANTITY = re.compile(r"^\s*([^\[\]]*?)\s*(?:\[\s*([^\[\]]*?)\s*\])?\s*$")
_DERIVATIVE = re.compile(r"^\s*d\s*/\s*dt\s*\(\s*(.*?)\s*\)\s*$", re.DOTALL | re.IGNORECASE)

_ALIASES = {
    "voltage": "Voltage",
    "terminal voltage": "Voltage",
    "battery voltage": "Voltage",
    "cell voltage": "Voltage",
    "current": "Current",
    "c-rate": "C-rate",
    "crate": "C-rate",
    "c rate": "C-rate",
    "c_rate": "C-rate",
    "capacity": "Capacity",
    "discharge capacity": "Capacity",
    "charge capacity": "Capacity",
    "temperature": "Temperature",
    "cell temperature": "Temperature",
    "time": "Time",
    "step time": "Time",
}

# unit text -> (factor, offset) converting to the base unit of the quantity
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "Voltage": {"V": (1, 0), "mV": (1e-3, 0)},
    "Current": {"A": (1, 0), "mA": (1e-3, 0)},
    "C-rate": {"C": (1, 0), "1/h": (1, 0)},
    "Capacity": {"Ah": (1, 0), "A.h": (1, 0), "mAh": (1e-3, 0), "mA.h": (1e-3, 0)},
    "Temperature": {"°C": (1, 0), "degC": (1, 0), "oC": (1, 0), "K": (1, -273.15)},
    "Time": {
        **dict.fromkeys(("s", "sec", "second", "seconds"), (1.0, 0.0)),
        **dict.fromkeys(("min", "minute", "minutes"), (60.0, 0.0)),
        **dict.fromkeys(("h", "hr", "hour", "hours"), (3600.0, 0.0)),
    },
}

_CONSTRAINTS = {
    "Voltage": Constraint.ANY,
    "Current": Constraint.NON_NEGATIVE,
    "C-rate": Constraint.NON_NEGATIVE,
    "Capacity": Constraint.NON_NEGATIVE,
    "Temperature": Constraint.CELSIUS,
    "Time": Constraint.POSITIVE,
}

_EXPECTED = "expected '<Quantity> <op> <number>[ <unit>]', e.g. 'Voltage < 2.5'"


def split_quantity(text: str) -> tuple[str | None, bool, str | None]:
    """``"d/dt(Voltage [V])"`` -> ``("Voltage", True, "V")``; unknown name -> ``None``."""
    derivative = _DERIVATIVE.match(text)
    inner = derivative.group(1) if derivative else text
    match = _QUANTITY.match(inner)
    if match is None:
        return None, bool(derivative), None
    name = " ".join(match.group(1).lower().split())
    return _ALIASES.get(name), bool(derivative), match.group(2)


def parse_end(ctx: Ctx, raw: Any, loc: Loc, kind: str, mode: str | None) -> EndCondition | None:
    """Parse one ``ends`` entry of a step of ``kind`` in ``mode``."""
    goto = None
    if isinstance(raw, Mapping) and "condition" in raw:
        ctx.check_keys(raw, loc, ("condition", "goto"), "unknown key")
        goto = _goto(ctx, raw, loc)
        raw = raw["condition"]
        loc = loc.key("condition")
    if isinstance(raw, str):
        return _parse_string(ctx, raw, loc, goto)
    if isinstance(raw, Mapping):
        return _parse_mapping(ctx, raw, loc, kind, mode)
    ctx.error(
        loc,
        "ends",
        "end condition must be text such as 'Voltage < 2.5' or a mapping with 'variable' "
        f"and 'value'; got {describe(raw)}",
    )
    return None


def _goto(ctx: Ctx, raw: Mapping[str, Any], loc: Loc) -> str | None:
    if "goto" not in raw:
        return None
    target = read_text(ctx, raw["goto"], loc.key("goto"), "goto", "goto target")
    if target is not None:
        ctx.gotos.append((target, ctx.origin(loc.key("goto"))))
    return target


def _quantity(ctx: Ctx, text: str, loc: Loc) -> tuple[str, bool, str | None] | None:
    quantity, derivative, unit = split_quantity(text)
    if quantity is None:
        ctx.error(
            loc,
            "ends",
            f"unknown quantity {text.strip()!r}; expected one of {', '.join(QUANTITIES)} "
            "(optionally as d/dt(<quantity>))",
        )
        return None
    if derivative and quantity in ("Time", "Capacity"):
        ctx.error(loc, "ends", f"d/dt({quantity}) is not a supported end condition")
        return None
    return quantity, derivative, unit


def _parse_string(ctx: Ctx, text: str, loc: Loc, goto: str | None) -> EndCondition | None:
    match = _CONDITION.match(text)
    if match is None or not match.group(1):
        ctx.error(loc, "ends", f"cannot read end condition {text.strip()[:60]!r}; {_EXPECTED}")
        return None
    found = _quantity(ctx, match.group(1), loc)
    if found is None:
        return None
    quantity, derivative, bracket_unit = found
    operator = _operator(ctx, match.group(2), quantity, loc)
    if operator is None:
        return None
    value = _value(ctx, match.group(3), loc, quantity, derivative, bracket_unit)
    if value is None:
        return None
    return EndCondition(
        quantity, operator, value[0], value[1], derivative, goto, text.strip(), ctx.origin(loc)
    )


def _operator(ctx: Ctx, operator: str, quantity: str, loc: Loc) -> str | None:
    if operator not in ("<", ">"):
        ctx.error(loc, "operator", f"operator {operator!r} is not allowed; expected '<' or '>'")
        return None
    if operator == "<" and quantity in ("Time", "Capacity"):
        ctx.error(
            loc,
            "operator",
            f"'{quantity} <' can never end a step; expected '{quantity} > <value>'",
        )
        return None
    return operator


def _value(
    ctx: Ctx,
    raw: Any,
    loc: Loc,
    quantity: str,
    derivative: bool,
    bracket_unit: str | None,
) -> tuple[Value, str | None] | None:
    """The threshold in base units, and the unit as written."""
    unit = None
    if isinstance(raw, str):
        if not raw.strip():
            ctx.error(loc, "ends", f"missing number in end condition; {_EXPECTED}")
            return None
        try:
            _, rest = parse_expression(raw, prefix=True)
        except ExprError as error:
            ctx.error(loc, error.code if error.code == "input" else "ends", error.message)
            return None
        unit = rest or None
        raw = raw[: len(raw.rstrip()) - len(rest)] if rest else raw
    if unit and bracket_unit and unit != bracket_unit:
        ctx.error(loc, "unit", f"unit {unit!r} contradicts the variable's unit {bracket_unit!r}")
        return None
    unit = unit or bracket_unit
    factor, offset = _unit_factor(ctx, loc, quantity, derivative, unit)
    if factor is None:
        return None
    value = ctx.value(raw, loc, Constraint.ANY, "ends")
    if value is None:
        return None
    constraint = Constraint.ANY if derivative else _CONSTRAINTS[quantity]
    value = evolve(ctx.scaled(value, factor, 0 if derivative else offset), constraint=constraint)
    problem = out_of_range(value)
    if problem:
        ctx.error(loc, "ends", f"{quantity}: {problem}")
        return None
    return value, unit


def _unit_factor(
    ctx: Ctx, loc: Loc, quantity: str, derivative: bool, unit: str | None
) -> tuple[float | None, float]:
    units = _UNITS[quantity]
    if derivative:
        units = {f"{name}/s": factor for name, factor in units.items()}
    if unit is None:
        return 1.0, 0.0
    if unit in units:
        return units[unit]
    expected = ", ".join(units)
    owner = next((q for q, table in _UNITS.items() if unit in table), None)
    if owner is not None and owner != quantity:
        message = (
            f"unit {unit!r} is a {owner} unit, not a {quantity} unit; expected one of {expected}"
        )
    else:
        message = f"unknown unit {unit!r} for {quantity}; expected one of {expected}"
    ctx.error(loc, "unit", message)
    return None, 0.0


def _implied_operator(quantity: str, kind: str, mode: str | None) -> str | None:
    if quantity in ("Time", "Capacity"):
        return ">"
    if quantity == "Voltage" and kind in ("Charge", "Discharge") and mode != "Voltage":
        return ">" if kind == "Charge" else "<"
    if quantity in ("Current", "C-rate") and mode == "Voltage":
        return "<"
    return None


def _parse_mapping(
    ctx: Ctx, raw: Mapping[str, Any], loc: Loc, kind: str, mode: str | None
) -> EndCondition | None:
    ctx.check_keys(raw, loc, ("variable", "value", "operator", "goto"), "unknown key")
    goto = _goto(ctx, raw, loc)
    missing = [name for name in ("variable", "value") if name not in raw]
    if missing:
        ctx.error(loc, "ends", f"end condition needs {' and '.join(map(repr, missing))}")
        return None
    variable = read_text(ctx, raw["variable"], loc.key("variable"), "ends", "variable")
    if variable is None:
        return None
    found = _quantity(ctx, variable, loc.key("variable"))
    if found is None:
        return None
    quantity, derivative, bracket_unit = found
    if "operator" in raw:
        operator = _operator(ctx, str(raw["operator"]).strip(), quantity, loc.key("operator"))
    else:
        operator = _implied_operator(quantity, kind, mode)
        if operator is None:
            ctx.error(
                loc,
                "operator",
                f"cannot imply the operator for {quantity} on a {kind} step; "
                "add operator: '<' or '>'",
            )
    if operator is None:
        return None
    value = _value(ctx, raw["value"], loc.key("value"), quantity, derivative, bracket_unit)
    if value is None:
        return None
    source = f"{variable} {operator} {raw['value']}"
    return EndCondition(
        quantity, operator, value[0], value[1], derivative, goto, source, ctx.origin(loc)
    )
