"""Typed model of a parsed UCP protocol (consumed by the simulator and the exporters).

All classes are frozen ``attrs`` classes. Numbers are :class:`Value` objects: the text as
written (``source``), an expression tree (``expr``, a plain :class:`~.inputs.Num` once
constant) and the range rule it must satisfy. Values are stored in **base units**:

============  ==========================================================
quantity      unit
============  ==========================================================
C-rate        1/h (1 = 1C)
Current       A (positive magnitude; the step direction gives the sign)
Power         W (positive magnitude)
Voltage       V
Resistance    Ohm
Capacity      A.h (per step)
Temperature   °C
Time          s
============  ==========================================================

Both YAML syntaxes (keyed and flat) parse to the same model; blocks keep their repeat
counts (unrolling is :meth:`Protocol.unrolled`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
from attrs import define, field

from .errors import Origin
from .inputs import Expr, Num, references
from .vocab import MODE_UNITS, QUANTITY_UNITS, SAFETY_KEYS, Constraint

__all__ = [
    "EIS",
    "Block",
    "EndCondition",
    "GlobalSettings",
    "InitialState",
    "Item",
    "Limit",
    "Protocol",
    "Resolution",
    "SafetyLimits",
    "SetVariable",
    "Step",
    "UnrolledStep",
    "Value",
    "Waveform",
    "iter_values",
    "value_position",
]


@define(frozen=True)
class Value:
    """A numeric field: a constant, an ``input["…"]`` reference or arithmetic on them."""

    source: str
    expr: Expr
    constraint: Constraint = field(default=Constraint.ANY, eq=False, repr=False)
    code: str = field(default="value", eq=False, repr=False)
    origin: Origin | None = field(default=None, eq=False, repr=False)

    @classmethod
    def of(cls, number: float, constraint: Constraint = Constraint.ANY) -> Value:
        """A constant value."""
        return cls(source=repr(float(number)), expr=Num(float(number)), constraint=constraint)

    @property
    def number(self) -> float | None:
        """The constant, or ``None`` while it still contains input references."""
        return self.expr.value if isinstance(self.expr, Num) else None

    @property
    def refs(self) -> tuple[str, ...]:
        """Input names used, distinct, in order."""
        return tuple(dict.fromkeys(references(self.expr)))


@define(frozen=True)
class Resolution:
    """Output sampling: ``time`` (s), ``voltage`` (V) and ``current`` (A) deltas."""

    time: Value | None = None
    voltage: Value | None = None
    current: Value | None = None


@define(frozen=True)
class InitialState:
    """Initial SOC or voltage.

    ``kind`` is ``"soc"`` or ``"voltage"``. For SOC, ``scale`` is ``"percent"``
    (``initial_state_type: soc_percentage``) or ``"auto"`` (``initial_soc``: a value
    <= 1 is a fraction, a value in (1, 100] a percentage).
    """

    kind: str
    value: Value
    scale: str = "auto"
    key: str = "initial_soc"

    def soc_fraction(self) -> float | None:
        """SOC as a fraction 0-1, when known."""
        number = self.value.number
        if self.kind != "soc" or number is None:
            return None
        if self.scale == "percent" or number > 1:
            return number / 100
        return number


@define(frozen=True)
class GlobalSettings:
    """The ``global`` section. Temperatures are °C."""

    initial_temperature: Value | None = None
    temperature: Value | None = None  # older alias of initial_temperature
    initial_state: InitialState | None = None
    resolution: Resolution | None = None
    origin: Origin | None = field(default=None, eq=False, repr=False)

    @property
    def effective_temperature(self) -> Value | None:
        """``initial_temperature``, else ``temperature``, else ``None`` (25 °C)."""
        return self.initial_temperature or self.temperature


@define(frozen=True)
class Limit:
    """One safety limit and its optional own goto target."""

    value: Value
    goto: str | None = None


@define(frozen=True)
class SafetyLimits:
    """The ``safety_limits`` section (V, °C, A magnitudes)."""

    voltage_min: Limit | None = None
    voltage_max: Limit | None = None
    temperature_min: Limit | None = None
    temperature_max: Limit | None = None
    charge_current_max: Limit | None = None
    discharge_current_max: Limit | None = None
    goto: str | None = None
    origin: Origin | None = field(default=None, eq=False, repr=False)

    def limits(self) -> list[tuple[str, Limit]]:
        """The limits that are set, as ``(key, limit)`` in declaration order."""
        found = ((key, getattr(self, key)) for key in SAFETY_KEYS)
        return [(key, limit) for key, limit in found if limit is not None]

    def target(self, limit: Limit) -> str:
        """Where a breach of ``limit`` goes: its goto, the section goto, else ``End``."""
        return limit.goto or self.goto or "End"


@define(frozen=True)
class EndCondition:
    """One ``ends`` entry: ``quantity operator value`` (value in base units).

    For Current, C-rate and Capacity the value is a magnitude; the step direction
    gives the sign. ``derivative`` marks ``d/dt(quantity)`` (value per second).
    """

    quantity: str
    operator: str
    value: Value
    unit: str | None = None
    derivative: bool = False
    goto: str | None = None
    source: str = ""
    origin: Origin | None = field(default=None, eq=False, repr=False)

    @property
    def base_unit(self) -> str:
        unit = QUANTITY_UNITS[self.quantity]
        return f"{unit}/s" if self.derivative else unit


@define(frozen=True)
class Waveform:
    """Inline samples of a ``Waveform`` step (time in s, value in the mode's unit)."""

    time: tuple[float, ...]
    values: tuple[float, ...]


@define(frozen=True)
class EIS:
    """Parameters of an EIS sweep (frequencies in Hz, amplitude in A or V)."""

    start_frequency: Value
    end_frequency: Value
    points_per_decade: Value
    amplitude: Value
    mode: str = "Current"
    dc_offset: Value | None = None


@define(frozen=True)
class SetVariable:
    """One ``set_variable`` entry (carried through, not simulated)."""

    name: str
    expression: str | None = None


@define(frozen=True)
class Step:
    """One step. ``kind`` is one of :data:`STEP_KINDS`; ``path`` is its source path."""

    kind: str
    path: str
    mode: str | None = None
    value: Value | None = None
    duration: Value | None = None
    ends: tuple[EndCondition, ...] = ()
    temperature: Value | None = None
    resolution: Resolution | None = None
    label: str | None = None
    note: str | None = None
    set_variable: tuple[SetVariable, ...] = ()
    drive_cycle: str | None = None
    waveform: Waveform | None = None
    eis: EIS | None = None
    origin: Origin | None = field(default=None, eq=False, repr=False)

    @property
    def unit(self) -> str | None:
        """Unit of ``value``: the mode's unit, °C for an ambient-temperature step."""
        if self.kind == "Ambient temperature":
            return "°C"
        return MODE_UNITS.get(self.mode or "")

    @property
    def name(self) -> str:
        """The label if any, else the step kind."""
        return self.label or self.kind


@define(frozen=True)
class Block:
    """A named group of items repeated ``repeat`` times (1 when not given)."""

    name: str | None
    repeat: Value
    items: tuple[Item, ...]
    path: str
    note: str | None = None
    origin: Origin | None = field(default=None, eq=False, repr=False)


Item = Step | Block


@define(frozen=True)
class UnrolledStep:
    """One executed step: ``index`` in the unrolled list, ``cycle`` the 0-based index of
    the top-level item iteration it belongs to, ``iteration`` the 0-based repetition
    index in each enclosing block, outermost first."""

    step: Step
    index: int
    cycle: int
    iteration: tuple[int, ...] = ()
    blocks: tuple[str | None, ...] = ()

    @property
    def description(self) -> str:
        where = "".join(
            f", {name or 'block'} #{i + 1}"
            for name, i in zip(self.blocks, self.iteration, strict=True)
        )
        return f"{self.step.path}{where}"


@define(frozen=True)
class Protocol:
    """A parsed protocol."""

    items: tuple[Item, ...]
    settings: GlobalSettings = field(factory=GlobalSettings)
    safety: SafetyLimits | None = None

    def steps(self) -> Iterator[Step]:
        """Every step as written (not unrolled), depth first."""
        yield from _steps(self.items)

    def blocks(self) -> Iterator[Block]:
        """Every block, depth first."""
        stack = list(reversed(self.items))
        while stack:
            item = stack.pop()
            if isinstance(item, Block):
                yield item
                stack.extend(reversed(item.items))

    def input_references(self) -> list[str]:
        """Input names still unresolved, distinct, in order."""
        names: dict[str, None] = {}
        for value in sorted(iter_values(self), key=value_position):
            names.update(dict.fromkeys(value.refs))
        return list(names)

    def unrolled_count(self) -> int | None:
        """Number of executed steps, or ``None`` while a repeat count is unresolved."""
        return _count(self.items)

    def unrolled(self) -> list[UnrolledStep]:
        """All executed steps in order. Repeat counts must be resolved."""
        out: list[UnrolledStep] = []
        for cycle, (item, iteration) in enumerate(_top_level(self.items)):
            _unroll(item, cycle, iteration, out)
        return out


def value_position(value: Value) -> tuple[bool, int, int]:
    """Sort key giving document order (values without a position keep model order)."""
    origin = value.origin
    if origin is None or origin.line is None:
        return (True, 0, 0)
    return (False, origin.line, origin.column or 0)


def _steps(items: tuple[Item, ...]) -> Iterator[Step]:
    for item in items:
        if isinstance(item, Block):
            yield from _steps(item.items)
        else:
            yield item


def _repeat(block: Block) -> int:
    number = block.repeat.number
    if number is None:
        raise ValueError(f"{block.path}: repeat count is not resolved")
    return int(number)


def _count(items: tuple[Item, ...]) -> int | None:
    total = 0
    for item in items:
        if isinstance(item, Step):
            total += 1
            continue
        inner = _count(item.items)
        if inner is None or item.repeat.number is None:
            return None
        total += int(item.repeat.number) * inner
    return total


def _top_level(items: tuple[Item, ...]) -> Iterator[tuple[Item, int]]:
    """Each top-level item once per repetition (one cycle each)."""
    for item in items:
        for i in range(_repeat(item) if isinstance(item, Block) else 1):
            yield item, i


def _unroll(
    item: Item,
    cycle: int,
    iteration: int,
    out: list[UnrolledStep],
    outer: tuple[tuple[str | None, int], ...] = (),
) -> None:
    if isinstance(item, Step):
        blocks = tuple(name for name, _ in outer)
        indices = tuple(i for _, i in outer)
        out.append(UnrolledStep(item, len(out), cycle, indices, blocks))
        return
    here = (*outer, (item.name, iteration))
    for child in item.items:
        if isinstance(child, Block):
            for i in range(_repeat(child)):
                _unroll(child, cycle, i, out, here)
        else:
            _unroll(child, cycle, 0, out, here)


def iter_values(obj: Any) -> Iterator[Value]:
    """Every :class:`Value` inside a model object, in field order."""
    if isinstance(obj, Value):
        yield obj
    elif isinstance(obj, tuple):
        for item in obj:
            yield from iter_values(item)
    elif attrs.has(type(obj)):
        for attribute in attrs.fields(type(obj)):
            if attribute.name != "origin":
                yield from iter_values(getattr(obj, attribute.name))
