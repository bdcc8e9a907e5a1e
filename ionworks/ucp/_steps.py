"""Parameters of one step, for every step kind (ucp.md §5)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from ._ends import parse_end
from ._fields import Ctx, Loc, describe, read_text
from .inputs import finite_float
from .model import EIS, EndCondition, Resolution, SetVariable, Step, Value, Waveform
from .vocab import MODES, Constraint

__all__ = ["normalise_mode", "parse_resolution", "parse_step"]

_COMMON = ("duration", "ends", "temperature", "resolution", "set_variable", "note", "name", "label")
_KEYS: dict[str, tuple[str, ...]] = {
    "Charge": (*_COMMON, "mode", "value"),
    "Discharge": (*_COMMON, "mode", "value"),
    "Rest": _COMMON,
    "Drive": (*_COMMON, "mode", "drive_cycle", "file"),
    "Waveform": (*_COMMON, "mode", "waveform"),
    "EIS": (
        "mode",
        "start_frequency",
        "end_frequency",
        "points_per_decade",
        "amplitude",
        "dc_offset",
        "temperature",
        "set_variable",
        "note",
        "name",
        "label",
    ),
    "Ambient temperature": ("value", "temperature", "duration", "note", "name", "label"),
}
_MODES_BY_KIND: dict[str, tuple[str, ...]] = {
    "Charge": MODES,
    "Discharge": MODES,
    "Drive": ("Current", "C-rate", "Power", "Voltage"),
    "Waveform": ("Current", "C-rate", "Power", "Voltage"),
    "EIS": ("Current", "Voltage"),
}
_MODE_SPELLINGS = {
    "c-rate": "C-rate",
    "crate": "C-rate",
    "c rate": "C-rate",
    "c_rate": "C-rate",
    "current": "Current",
    "power": "Power",
    "voltage": "Voltage",
    "resistance": "Resistance",
}
MAX_WAVEFORM_POINTS = 50_000


def normalise_mode(text: str) -> str | None:
    """Canonical mode name of ``text`` (case and C-rate spelling insensitive)."""
    return _MODE_SPELLINGS.get(" ".join(text.lower().split()))


def step_label(raw: Mapping[str, Any]) -> str | None:
    """The label a step item declares (for the subject of its messages)."""
    label = raw.get("name", raw.get("label"))
    return label.strip() if isinstance(label, str) and label.strip() else None


def parse_step(ctx: Ctx, kind: str, raw: Mapping[str, Any], loc: Loc, path: str) -> Step | None:
    """Parse the parameters ``raw`` of a step of ``kind`` (``loc`` is the mapping)."""
    ctx.check_keys(raw, loc, _KEYS[kind], "unknown key")
    label = _label(ctx, raw, loc)
    mode = _mode(ctx, kind, raw, loc)
    value = _set_point(ctx, kind, raw, loc)
    duration = _optional(ctx, raw, loc, "duration", Constraint.POSITIVE)
    ends = _ends(ctx, kind, mode, raw, loc)
    if kind not in ("EIS", "Ambient temperature") and "duration" not in raw and not raw.get("ends"):
        ctx.error(
            loc.key("ends"),
            "ends",
            "missing end condition; expected 'duration' or at least one entry in 'ends'",
        )
    temperature = None
    if kind != "Ambient temperature":
        temperature = _optional(ctx, raw, loc, "temperature", Constraint.CELSIUS)
    drive_cycle = _drive_cycle(ctx, kind, raw, loc)
    return Step(
        kind=kind,
        path=path,
        mode=mode,
        value=value,
        duration=duration,
        ends=ends,
        temperature=temperature,
        resolution=parse_resolution(ctx, raw.get("resolution"), loc.key("resolution"), "value")
        if "resolution" in raw
        else None,
        label=label,
        note=_note(ctx, raw, loc),
        set_variable=_set_variable(ctx, raw, loc),
        drive_cycle=drive_cycle,
        waveform=_waveform(ctx, raw, loc) if kind == "Waveform" else None,
        eis=_eis(ctx, raw, loc, mode or "Current") if kind == "EIS" else None,
        origin=ctx.origin(loc),
    )


def _label(ctx: Ctx, raw: Mapping[str, Any], loc: Loc) -> str | None:
    if "name" in raw and "label" in raw:
        ctx.error(loc.key("label"), "label", "give either 'name' or 'label', not both", key=True)
    key = "name" if "name" in raw else "label"
    if key not in raw:
        return None
    label = read_text(ctx, raw[key], loc.key(key), "label", "step label")
    if label is not None:
        ctx.add_label(label, loc.key(key))
    return label


def _mode(ctx: Ctx, kind: str, raw: Mapping[str, Any], loc: Loc) -> str | None:
    allowed = _MODES_BY_KIND.get(kind)
    if allowed is None:
        if "mode" in raw:
            ctx.error(loc.key("mode"), "mode", f"a {kind} step takes no mode", key=True)
        return None
    if "mode" not in raw:
        if kind in ("Charge", "Discharge"):
            ctx.error(
                loc.key("mode"), "mode", f"missing 'mode'; expected one of {', '.join(allowed)}"
            )
            return None
        return "Current"
    text = raw["mode"]
    mode = normalise_mode(text) if isinstance(text, str) else None
    if mode is None or mode not in allowed:
        shown = text if isinstance(text, str) else describe(text)
        ctx.error(
            loc.key("mode"),
            "mode",
            f"unknown mode {shown!r}{'' if allowed == MODES else f' for a {kind} step'}; "
            f"expected one of {', '.join(allowed)}",
        )
        return None
    return mode


def _set_point(ctx: Ctx, kind: str, raw: Mapping[str, Any], loc: Loc) -> Value | None:
    if kind == "Ambient temperature":
        keys = [name for name in ("value", "temperature") if name in raw]
        if len(keys) != 1:
            ctx.error(
                loc,
                "value",
                "an Ambient temperature step needs exactly one of 'value' or 'temperature' (°C)",
            )
            return None
        return ctx.value(raw[keys[0]], loc.key(keys[0]), Constraint.CELSIUS)
    if kind not in ("Charge", "Discharge"):
        return None
    if "value" not in raw:
        ctx.error(loc.key("value"), "value", f"missing 'value' (the set-point of the {kind} step)")
        return None
    return ctx.value(raw["value"], loc.key("value"), Constraint.POSITIVE)


def _optional(
    ctx: Ctx, raw: Mapping[str, Any], loc: Loc, name: str, constraint: Constraint
) -> Value | None:
    return ctx.value(raw[name], loc.key(name), constraint) if name in raw else None


def _ends(
    ctx: Ctx, kind: str, mode: str | None, raw: Mapping[str, Any], loc: Loc
) -> tuple[EndCondition, ...]:
    if "ends" not in raw:
        return ()
    items = raw["ends"]
    if not isinstance(items, list):
        ctx.error(
            loc.key("ends"),
            "ends",
            f"'ends' must be a list of end conditions; got {describe(items)}",
        )
        return ()
    parsed = (
        parse_end(ctx, item, loc.key("ends").index(i), kind, mode) for i, item in enumerate(items)
    )
    return tuple(end for end in parsed if end is not None)


def parse_resolution(ctx: Ctx, raw: Any, loc: Loc, code: str) -> Resolution | None:
    """A ``resolution`` mapping (time s, voltage V, current A; all > 0)."""
    if not isinstance(raw, Mapping):
        ctx.error(
            loc,
            code,
            f"'resolution' must be a mapping with time/voltage/current; got {describe(raw)}",
        )
        return None
    ctx.check_keys(raw, loc, ("time", "voltage", "current"), code)
    values = {
        name: ctx.value(raw[name], loc.key(name), Constraint.POSITIVE, code)
        for name in ("time", "voltage", "current")
        if name in raw
    }
    return Resolution(**values)


def _note(ctx: Ctx, raw: Mapping[str, Any], loc: Loc) -> str | None:
    note = raw.get("note")
    if note is not None and not isinstance(note, str | int | float):
        ctx.error(loc.key("note"), "value", f"'note' must be text; got {describe(note)}")
        return None
    return None if note is None else str(note)


def _set_variable(ctx: Ctx, raw: Mapping[str, Any], loc: Loc) -> tuple[SetVariable, ...]:
    if "set_variable" not in raw:
        return ()
    items = raw["set_variable"]
    items = items if isinstance(items, list) else [items]
    out = []
    for i, item in enumerate(items):
        where = loc.key("set_variable").index(i)
        if isinstance(item, str) and item.strip():
            out.append(SetVariable(item.strip()))
        elif (
            isinstance(item, Mapping)
            and len(item) == 1
            and isinstance(next(iter(item.values())), str | int | float)
        ):
            name, expression = next(iter(item.items()))
            out.append(SetVariable(name, str(expression)))
        else:
            ctx.error(
                where,
                "value",
                f"set_variable entries must be a name or {{name: expression}}; got {describe(item)}",
            )
    return tuple(out)


def _drive_cycle(ctx: Ctx, kind: str, raw: Mapping[str, Any], loc: Loc) -> str | None:
    if kind != "Drive":
        return None
    keys = [name for name in ("drive_cycle", "file") if name in raw]
    if len(keys) != 1:
        problem = "missing 'drive_cycle'" if not keys else "give either 'drive_cycle' or 'file'"
        ctx.error(loc, "drive cycle", f"{problem} (the name of the drive-cycle samples)")
        return None
    return read_text(ctx, raw[keys[0]], loc.key(keys[0]), "drive cycle", "drive cycle name")


def _waveform(ctx: Ctx, raw: Mapping[str, Any], loc: Loc) -> Waveform | None:
    where = loc.key("waveform")
    data = raw.get("waveform")
    if not isinstance(data, Mapping) or set(data) != {"time", "value"}:
        ctx.error(where, "value", "'waveform' must be a mapping {time: [...], value: [...]}")
        return None
    columns = []
    for name in ("time", "value"):
        items = data[name]
        ok = isinstance(items, list) and 2 <= len(items) <= MAX_WAVEFORM_POINTS
        numbers = [float(x) for x in items if _is_number(x)] if isinstance(items, list) else []
        if not ok or len(numbers) != len(items):
            ctx.error(
                where.key(name),
                "value",
                f"expected a list of 2 to {MAX_WAVEFORM_POINTS} finite numbers",
            )
            return None
        columns.append(tuple(numbers))
    time, values = columns
    if len(time) != len(values):
        ctx.error(where, "value", "'time' and 'value' must have the same length")
    elif any(b <= a for a, b in itertools.pairwise(time)):
        ctx.error(where.key("time"), "value", "'time' must be strictly increasing")
    else:
        return Waveform(time, values)
    return None


def _is_number(item: Any) -> bool:
    return finite_float(item) is not None


def _eis(ctx: Ctx, raw: Mapping[str, Any], loc: Loc, mode: str) -> EIS | None:
    fields = {
        "start_frequency": Constraint.POSITIVE,
        "end_frequency": Constraint.POSITIVE,
        "points_per_decade": Constraint.COUNT,
        "amplitude": Constraint.POSITIVE,
    }
    missing = [name for name in fields if name not in raw]
    if missing:
        ctx.error(loc, "value", f"EIS step needs {', '.join(missing)}")
        return None
    values = [ctx.value(raw[name], loc.key(name), rule) for name, rule in fields.items()]
    dc_offset = _optional(ctx, raw, loc, "dc_offset", Constraint.ANY)
    start, end, points, amplitude = values
    if start is None or end is None or points is None or amplitude is None:
        return None
    return EIS(start, end, points, amplitude, mode, dc_offset)
