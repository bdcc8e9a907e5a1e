"""The ``global`` and ``safety_limits`` sections (ucp.md §3-§4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._fields import Ctx, Loc, describe, read_text
from ._steps import parse_resolution
from .model import GlobalSettings, InitialState, Limit, SafetyLimits, Value
from .vocab import SAFETY_KEYS, Constraint

__all__ = ["parse_global", "parse_safety"]

_GLOBAL_KEYS = (
    "initial_temperature",
    "temperature",
    "initial_state_type",
    "initial_state_value",
    "initial_soc",
    "initial_voltage",
    "resolution",
)


def parse_global(ctx: Ctx, raw: Any, loc: Loc) -> GlobalSettings:
    if raw is None:
        return GlobalSettings()
    if not isinstance(raw, Mapping):
        ctx.error(loc, "global", f"'global' must be a mapping; got {describe(raw)}")
        return GlobalSettings()
    ctx.check_keys(raw, loc, _GLOBAL_KEYS, "global")

    def number(key: str, constraint: Constraint, code: str = "global") -> Value | None:
        return ctx.value(raw[key], loc.key(key), constraint, code) if key in raw else None

    resolution = (
        parse_resolution(ctx, raw["resolution"], loc.key("resolution"), "global")
        if "resolution" in raw
        else None
    )
    return GlobalSettings(
        initial_temperature=number("initial_temperature", Constraint.CELSIUS),
        temperature=number("temperature", Constraint.CELSIUS),
        initial_state=_initial_state(ctx, raw, loc, number),
        resolution=resolution,
        origin=ctx.origin(loc),
    )


def _initial_state(ctx: Ctx, raw: Mapping[str, Any], loc: Loc, number: Any) -> InitialState | None:
    simple = [key for key in ("initial_soc", "initial_voltage") if key in raw]
    typed = [key for key in ("initial_state_type", "initial_state_value") if key in raw]
    if len(simple) == 2 or (simple and typed):
        keys = " and ".join(repr(key) for key in (*simple, *typed))
        ctx.error(
            loc.key((simple + typed)[1]),
            "initial",
            f"conflicting initial state keys {keys}; give only one",
        )
        return None
    if len(typed) == 1:
        ctx.error(
            loc.key(typed[0]),
            "initial",
            "'initial_state_type' and 'initial_state_value' must be given together",
        )
        return None
    if typed:
        kind = raw["initial_state_type"]
        if kind not in ("soc_percentage", "voltage"):
            ctx.error(
                loc.key("initial_state_type"),
                "initial",
                f"unknown initial_state_type {kind!r}; expected soc_percentage or voltage",
            )
            return None
        rule = Constraint.PERCENT if kind == "soc_percentage" else Constraint.POSITIVE
        value = number("initial_state_value", rule, "initial")
        if value is None:
            return None
        if kind == "soc_percentage":
            return InitialState("soc", value, "percent", "initial_state_value")
        return InitialState("voltage", value, "volt", "initial_state_value")
    if simple == ["initial_soc"]:
        value = number("initial_soc", Constraint.SOC, "initial")
        return None if value is None else InitialState("soc", value, "auto", "initial_soc")
    if simple == ["initial_voltage"]:
        value = number("initial_voltage", Constraint.POSITIVE, "initial")
        return None if value is None else InitialState("voltage", value, "volt", "initial_voltage")
    return None


def parse_safety(ctx: Ctx, raw: Any, loc: Loc) -> SafetyLimits | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        ctx.error(loc, "safety", f"'safety_limits' must be a mapping; got {describe(raw)}")
        return None
    ctx.check_keys(raw, loc, (*SAFETY_KEYS, "goto"), "safety")
    limits = {key: _limit(ctx, raw[key], loc.key(key), key) for key in SAFETY_KEYS if key in raw}
    goto = None
    if "goto" in raw:
        goto = read_text(ctx, raw["goto"], loc.key("goto"), "goto", "goto target")
        if goto is not None:
            ctx.gotos.append((goto, ctx.origin(loc.key("goto"))))
    return SafetyLimits(
        voltage_min=limits.get("voltage_min"),
        voltage_max=limits.get("voltage_max"),
        temperature_min=limits.get("temperature_min"),
        temperature_max=limits.get("temperature_max"),
        charge_current_max=limits.get("charge_current_max"),
        discharge_current_max=limits.get("discharge_current_max"),
        goto=goto,
        origin=ctx.origin(loc),
    )


def _limit(ctx: Ctx, raw: Any, loc: Loc, key: str) -> Limit | None:
    rule = Constraint.CELSIUS if key.startswith("temperature") else Constraint.POSITIVE
    goto = None
    if isinstance(raw, Mapping):
        ctx.check_keys(raw, loc, ("value", "goto"), "safety")
        if "goto" in raw:
            goto = read_text(ctx, raw["goto"], loc.key("goto"), "goto", "goto target")
            if goto is not None:
                ctx.gotos.append((goto, ctx.origin(loc.key("goto"))))
        if "value" not in raw:
            ctx.error(loc, "safety", f"safety limit {key!r} needs a 'value'")
            return None
        raw, loc = raw["value"], loc.key("value")
    value = ctx.value(raw, loc, rule, "safety")
    return None if value is None else Limit(value, goto)
