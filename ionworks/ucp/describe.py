"""A parsed UCP protocol as readable text: one line per step, blocks as indented loops.

:func:`describe` renders what a protocol does, not its YAML::

    Initial state: SOC 100 %
    Initial temperature: 25 °C
    Cycle (repeat 200 times):
      1. Discharge at 1C until voltage < 3 V
      2. Charge at 1C until voltage > 4.1 V
      3. Rest for 1 min

Values are shown in the units the model stores (ucp.md §5: V, A, W, Ohm, C-rate, A.h, °C,
seconds shown as h/min/s); unresolved ``input["…"]`` references are shown as written.
"""

from __future__ import annotations

from collections.abc import Iterator

from .inputs import render
from .model import (
    EIS,
    Block,
    EndCondition,
    GlobalSettings,
    Item,
    Protocol,
    Resolution,
    SafetyLimits,
    Step,
    Value,
)

__all__ = ["describe", "duration_text", "number_text"]

INDENT = "  "
_SAFETY_WORDS = {
    "voltage_min": ("voltage", "≥", "V"),
    "voltage_max": ("voltage", "≤", "V"),
    "temperature_min": ("temperature", "≥", "°C"),
    "temperature_max": ("temperature", "≤", "°C"),
    "charge_current_max": ("charge current", "≤", "A"),
    "discharge_current_max": ("discharge current", "≤", "A"),
}
_DRIVE_NOUNS = {"Current": "current", "C-rate": "C-rate", "Power": "power", "Voltage": "voltage"}


def number_text(number: float) -> str:
    """``number`` in at most six significant digits, without a trailing ``.0``."""
    if number == 0:
        return "0"
    return f"{number:.6g}"


def duration_text(seconds: float) -> str:
    """``5400`` → ``1 h 30 min``; ``3661`` → ``1 h 1 min 1 s``; ``90`` → ``90 s``;
    ``12.5`` → ``12.5 s``."""
    seconds = float(seconds)
    if not seconds.is_integer() or seconds < 120:
        return f"{number_text(seconds)} s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{secs} s"] if secs else []
    return " ".join(parts)


def _value(value: Value, unit: str = "") -> str:
    """A value with its unit (``4.2 V``), or the expression as written while it has inputs."""
    number = value.number
    text = render(value.expr) if number is None else number_text(number)
    return f"{text} {unit}".rstrip()


def _crate(value: Value) -> str:
    number = value.number
    return f"{number_text(number)}C" if number is not None else f"C-rate {render(value.expr)}"


def _seconds(value: Value) -> str:
    number = value.number
    return duration_text(number) if number is not None else f"{render(value.expr)} s"


def _set_point(step: Step) -> str:
    """``at 1C``, ``at 2 A``, ``at constant voltage 4.2 V`` … for a Charge/Discharge step."""
    if step.value is None or step.mode is None:
        return ""
    if step.mode == "C-rate":
        return f" at {_crate(step.value)}"
    if step.mode == "Voltage":
        return f" at constant voltage {_value(step.value, 'V')}"
    if step.mode == "Resistance":
        return f" through {_value(step.value, 'Ohm')}"
    return f" at {_value(step.value, step.unit or '')}"


def _eis(eis: EIS) -> str:
    unit = "A" if eis.mode == "Current" else "V"
    kind = "galvanostatic" if eis.mode == "Current" else "potentiostatic"
    text = (
        f"EIS ({kind}) from {_value(eis.start_frequency, 'Hz')} to "
        f"{_value(eis.end_frequency, 'Hz')}, {_value(eis.points_per_decade)} points per "
        f"decade, amplitude {_value(eis.amplitude, unit)}"
    )
    if eis.dc_offset is not None:
        text += f", DC offset {_value(eis.dc_offset, unit)}"
    return text


def _action(step: Step) -> str:
    """What the step does, before its stop conditions."""
    if step.kind in ("Charge", "Discharge"):
        return step.kind + _set_point(step)
    if step.kind == "Drive":
        noun = _DRIVE_NOUNS.get(step.mode or "Current", "current")
        return f"Run drive cycle {step.drive_cycle!r} as {noun}"
    if step.kind == "Waveform":
        noun = _DRIVE_NOUNS.get(step.mode or "Current", "current")
        points = len(step.waveform.time) if step.waveform is not None else 0
        return f"Run a {noun} waveform of {points} points"
    if step.kind == "EIS" and step.eis is not None:
        return _eis(step.eis)
    if step.kind == "Ambient temperature" and step.value is not None:
        return f"Set the ambient temperature to {_value(step.value, '°C')}"
    return step.kind


def _end(end: EndCondition) -> str:
    """``voltage < 3 V``, ``C-rate < 0.05C``, ``dV/dt < 0.0001 V/s``, ``time > 5 min``."""
    if end.derivative:
        subject = f"d({end.quantity.lower()})/dt"
        limit = _value(end.value, end.base_unit)
    elif end.quantity == "C-rate":
        subject, limit = "C-rate", _crate(end.value)
    elif end.quantity == "Time":
        subject, limit = "time", _seconds(end.value)
    else:
        subject, limit = end.quantity.lower(), _value(end.value, end.base_unit)
    text = f"{subject} {end.operator} {limit}"
    return text if end.goto is None else f"{text} (then go to {end.goto})"


def _stop(step: Step) -> str:
    """`` until voltage < 3 V or current < 0.05 A``, `` for 1 h``, or both."""
    ends = " or ".join(_end(end) for end in step.ends)
    if step.duration is None:
        return f" until {ends}" if ends else ""
    if step.kind == "Ambient temperature":
        return f" and hold it for {_seconds(step.duration)}"
    if not ends:
        return f" for {_seconds(step.duration)}"
    return f" until {ends}, for at most {_seconds(step.duration)}"


def _resolution(resolution: Resolution | None) -> str:
    if resolution is None:
        return ""
    parts = []
    if resolution.time is not None:
        parts.append(_seconds(resolution.time))
    for value, unit in ((resolution.voltage, "V"), (resolution.current, "A")):
        if value is not None:
            parts.append(_value(value, unit))
    return ", ".join(parts)


def _step(step: Step, number: int) -> str:
    line = f"{number}. {_action(step)}"
    if step.temperature is not None and step.kind != "Ambient temperature":
        line += f" at {_value(step.temperature, '°C')} ambient"
    line += _stop(step)
    sampling = _resolution(step.resolution)
    if sampling:
        line += f"; record every {sampling}"
    if step.set_variable:
        assignments = ", ".join(
            v.name if v.expression is None else f"{v.name} = {v.expression}"
            for v in step.set_variable
        )
        line += f"; then set {assignments}"
    if step.label:
        line += f" [label: {step.label}]"
    if step.note:
        line += f" — {' '.join(step.note.split())}"
    return line


def _block_heading(block: Block) -> str:
    count = block.repeat.number
    if count == 1:
        return f"{block.name}:" if block.name else "Once:"
    repeat = f"repeat {_value(block.repeat)} times"
    return f"{block.name} ({repeat}):" if block.name else f"{repeat.capitalize()}:"


def _items(items: tuple[Item, ...], depth: int, counter: list[int]) -> Iterator[str]:
    for item in items:
        if isinstance(item, Block):
            note = f" — {' '.join(item.note.split())}" if item.note else ""
            yield f"{INDENT * depth}{_block_heading(item)}{note}"
            yield from _items(item.items, depth + 1, counter)
        else:
            counter[0] += 1
            yield f"{INDENT * depth}{_step(item, counter[0])}"


def _settings(settings: GlobalSettings) -> Iterator[str]:
    state = settings.initial_state
    if state is not None:
        if state.kind == "soc":
            fraction = state.soc_fraction()
            shown = (
                f"{number_text(fraction * 100)} %"
                if fraction is not None
                else render(state.value.expr)
            )
            yield f"Initial state: SOC {shown}"
        else:
            yield f"Initial state: {_value(state.value, 'V')}"
    temperature = settings.effective_temperature
    if temperature is not None:
        yield f"Initial temperature: {_value(temperature, '°C')}"
    sampling = _resolution(settings.resolution)
    if sampling:
        yield f"Record every {sampling}"


def _safety(safety: SafetyLimits | None) -> Iterator[str]:
    if safety is None or not safety.limits():
        return
    parts = []
    for key, limit in safety.limits():
        subject, operator, unit = _SAFETY_WORDS[key]
        text = f"{subject} {operator} {_value(limit.value, unit)}"
        parts.append(text if limit.goto is None else f"{text} (then go to {limit.goto})")
    breach = f"go to {safety.goto}" if safety.goto else "end the protocol"
    yield f"Safety limits: {', '.join(parts)}; on a breach: {breach}"


def describe(protocol: Protocol) -> str:
    """The protocol as text: settings and safety limits, then one numbered line per step
    (blocks as headings with their steps indented under them)."""
    lines = [*_settings(protocol.settings), *_safety(protocol.safety)]
    lines += _items(protocol.items, 0, [0])
    return "\n".join(lines) + "\n"
