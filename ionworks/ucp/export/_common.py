"""Shared machinery of the vendor exporters: errors, the loop tree, units, samples.

Every writer works on a :class:`Plan`: the parsed protocol with blocks of ``repeat: 1``
inlined and blocks that repeat turned into :class:`Loop` nodes, each step numbered in
document order (``step 3`` in messages is the third step as written). Writers ask the
plan for set-points and end conditions in base units; anything the target cannot
express is refused with :class:`ExportError` naming the target, the step and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from attrs import define, field

from ..model import Block, Item, Protocol, Step, Value, iter_values
from ..samples import parse_samples, segments, step_samples

__all__ = [
    "ExportError",
    "ExportResult",
    "Loop",
    "Node",
    "Plan",
    "SetPoint",
    "Stop",
    "check_stem",
    "parse_samples",
    "plain",
    "segments",
]

_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}")
_SPECIAL = {"end": "End", "next": "next"}


class ExportError(ValueError):
    """A protocol that cannot be written for ``target``; names the step and the reason."""

    def __init__(self, target: str, where: str, feature: str, reason: str) -> None:
        self.target = target
        self.where = where
        self.feature = feature
        self.reason = reason
        super().__init__(f"cannot export to {target!r}: {where}: {feature}: {reason}")


@define
class ExportResult:
    """A converted protocol: the primary file plus side files (e.g. Maccor ``.MWF``)."""

    target: str
    primary_filename: str
    primary_bytes: bytes
    media_type: str
    assets: list[tuple[str, bytes]] = field(factory=list)


@define(frozen=True)
class Loop:
    """A block repeated ``count`` (≥ 2) times; ``depth`` is 1 for an outermost loop."""

    block: Block
    count: int
    depth: int
    body: tuple[Node, ...]


@define(frozen=True)
class NumberedStep:
    """A step and its 1-based number in document order."""

    step: Step
    number: int


Node = NumberedStep | Loop


@define(frozen=True)
class SetPoint:
    """A step's control: ``kind`` is current/crate/power/voltage; values are magnitudes."""

    kind: str
    value: float
    charge: bool


@define(frozen=True)
class Stop:
    """One end condition in base units (V, A, s, A.h, or 1/h when ``kind == 'crate'``).

    ``goto`` is ``None`` (next step), ``"End"``, or the target :class:`Step`/:class:`Block`.
    """

    kind: str
    op: str
    value: float
    goto: Step | Block | str | None = None
    source: str = ""


def check_stem(stem: str) -> str:
    """``stem`` if it is a safe file-name stem (1-100 characters), else ``ValueError``."""
    if not isinstance(stem, str) or not _STEM.fullmatch(stem) or ".." in stem:
        raise ValueError(
            f"invalid filename_stem {stem!r}: use 1-100 letters, digits, spaces, '_', '-' or "
            "'.', starting with a letter or digit, without path separators or '..'"
        )
    return stem


def plain(number: float, decimals: int = 6) -> str:
    """``number`` without exponent or trailing zeros (``4.2``, ``0.05``, ``3600``)."""
    text = f"{number:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class Plan:
    """A protocol prepared for one target (see the module docstring)."""

    def __init__(
        self,
        protocol: Protocol,
        target: str,
        *,
        capacity_ah: float | None = None,
        drive_cycles: Mapping[str, Any] | None = None,
        clock: datetime | None = None,
    ) -> None:
        self.protocol = protocol
        self.target = target
        self.capacity_ah = capacity_ah
        self.drive_cycles = dict(drive_cycles or {})
        self.clock = clock
        self.numbers: dict[int, int] = {}
        for number, step in enumerate(protocol.steps(), start=1):
            self.numbers[id(step)] = number
        self._check_inputs()
        self.nodes = self._tree(protocol.items, 0)
        self.labels: dict[str, Step | Block] = {}
        for step in protocol.steps():
            if step.label:
                self.labels.setdefault(step.label, step)
        for block in protocol.blocks():
            if block.name:
                self.labels.setdefault(block.name, block)

    # --- errors -------------------------------------------------------------------------

    def where(self, step: Step) -> str:
        label = f' "{step.label}"' if step.label else ""
        return f"step {self.numbers[id(step)]}{label} ({step.path})"

    def error(self, step: Step | None, feature: str, reason: str) -> ExportError:
        return ExportError(self.target, self.where(step) if step else "protocol", feature, reason)

    # --- structure -----------------------------------------------------------------------

    def _check_inputs(self) -> None:
        for step in self.protocol.steps():
            refs = [ref for value in iter_values(step) for ref in value.refs]
            if refs:
                raise self.error(step, "input", f"unresolved input reference {refs[0]!r}")
        for what, obj in (
            ("global", self.protocol.settings),
            ("safety_limits", self.protocol.safety),
        ):
            refs = [ref for value in iter_values(obj) for ref in value.refs]
            if refs:
                raise ExportError(self.target, what, "input", f"unresolved input {refs[0]!r}")
        for block in self.protocol.blocks():
            if block.repeat.number is None:
                raise ExportError(self.target, block.path, "input", "unresolved repeat count")

    def _tree(self, items: tuple[Item, ...], depth: int) -> tuple[Node, ...]:
        out: list[Node] = []
        for item in items:
            if isinstance(item, Step):
                out.append(NumberedStep(item, self.numbers[id(item)]))
            elif int(item.repeat.number or 1) == 1:
                out.extend(self._tree(item.items, depth))
            else:
                body = self._tree(item.items, depth + 1)
                out.append(Loop(item, int(item.repeat.number or 1), depth + 1, body))
        return tuple(out)

    def walk(self, nodes: tuple[Node, ...] | None = None) -> Iterator[NumberedStep]:
        """Every step of the tree in order."""
        for node in self.nodes if nodes is None else nodes:
            if isinstance(node, Loop):
                yield from self.walk(node.body)
            else:
                yield node

    def max_depth(self, limit: int) -> None:
        """Refuse loops nested deeper than ``limit``."""

        def visit(nodes: tuple[Node, ...]) -> None:
            for node in nodes:
                if isinstance(node, Loop):
                    if node.depth > limit:
                        first = next(self.walk(node.body)).step
                        raise self.error(
                            first,
                            "loop",
                            f"block {node.block.name or node.block.path!r} is nested "
                            f"{node.depth} loops deep; the target allows at most {limit}",
                        )
                    visit(node.body)

        visit(self.nodes)

    def first_step(self, target: Step | Block) -> Step:
        """The first step executed when jumping to ``target``."""
        if isinstance(target, Step):
            return target
        item = target.items[0]
        return item if isinstance(item, Step) else self.first_step(item)

    def start(self, starts: Mapping[int, int], target: Step | Block) -> int:
        """Position of ``target`` in a writer's ``starts`` (id → index); an inlined block
        starts at its first step."""
        if id(target) in starts:
            return starts[id(target)]
        return starts[id(self.first_step(target))]

    def resolve(self, step: Step, name: str | None) -> Step | Block | str | None:
        """A goto name as ``None`` (next), ``"End"``, or the target step/block."""
        if name is None or name.lower() == "next":
            return None
        if name.lower() == "end":
            return "End"
        if name in self.labels:
            return self.labels[name]
        raise self.error(step, "goto", f"unknown goto target {name!r}")

    # --- values --------------------------------------------------------------------------

    def number(self, value: Value | None, step: Step | None = None, what: str = "value") -> float:
        result = value.number if value is not None else None
        if result is None:
            raise self.error(step, what, "missing or unresolved value")
        return float(result)

    def amps(self, crate: float, step: Step | None, what: str) -> float:
        """C-rate → A; needs ``nominal_capacity_ah``."""
        if self.capacity_ah is None:
            raise self.error(
                step,
                what,
                f"C-rate needs nominal_capacity_ah: {self.target} stores absolute currents",
            )
        return crate * self.capacity_ah

    def check_step(self, step: Step, *, drive: bool = False, power: bool = True) -> None:
        """Refuse what no writer (or this one) expresses: EIS, soak steps, variables, …"""
        if step.kind == "EIS":
            raise self.error(step, "EIS", "impedance steps are not supported by this target")
        if step.kind == "Ambient temperature":
            raise self.error(step, "temperature", "ambient-temperature steps need a chamber")
        if step.kind in ("Drive", "Waveform") and not drive:
            raise self.error(step, "drive cycle", "drive-cycle steps are not supported")
        if step.temperature is not None:
            raise self.error(step, "temperature", "per-step ambient temperature is not supported")
        if step.set_variable:
            raise self.error(step, "set_variable", "variables are not supported")
        if step.mode == "Resistance":
            raise self.error(step, "mode", "Resistance mode is not supported")
        if step.mode == "Power" and not power:
            raise self.error(step, "mode", "constant-power steps are not supported")

    def setpoint(self, step: Step, *, native_crate: bool) -> SetPoint | None:
        """The step's control (``None`` for Rest)."""
        if step.kind == "Rest":
            return None
        charge = step.kind == "Charge"
        value = self.number(step.value, step)
        if step.mode == "C-rate":
            if native_crate:
                return SetPoint("crate", value, charge)
            return SetPoint("current", self.amps(value, step, "C-rate"), charge)
        kind = {"Current": "current", "Power": "power", "Voltage": "voltage"}[step.mode or ""]
        return SetPoint(kind, value, charge)

    def stops(self, step: Step, *, native_crate: bool) -> list[Stop]:
        """End conditions (``duration`` first as a time stop), refusing d/dt and temperature."""
        out: list[Stop] = []
        if step.duration is not None:
            out.append(Stop("time", ">", self.number(step.duration, step, "duration"), None))
        for end in step.ends:
            where = f"end condition {end.source or end.quantity!r}"
            if end.derivative:
                raise self.error(step, "ends", f"{where}: d/dt end conditions are not supported")
            if end.quantity == "Temperature":
                raise self.error(
                    step, "ends", f"{where}: temperature end conditions are not supported"
                )
            value = self.number(end.value, step, "ends")
            kind = {"Voltage": "voltage", "Current": "current", "Time": "time"}.get(end.quantity)
            if end.quantity == "Capacity":
                kind = "capacity"
            elif end.quantity == "C-rate":
                kind = "crate"
                if not native_crate:
                    kind, value = "current", self.amps(value, step, where)
            goto = self.resolve(step, end.goto)
            out.append(Stop(kind or end.quantity.lower(), end.operator, value, goto, end.source))
        return out

    def samples(self, step: Step) -> list[tuple[float, float]]:
        """Drive-cycle or waveform samples ``(t from 0 s, value)``."""
        try:
            return step_samples(step, self.drive_cycles)
        except ValueError as exc:
            raise self.error(step, "drive cycle", str(exc)) from None

    def description(self) -> str:
        """Initial state and temperature as text for the file's comment field."""
        settings = self.protocol.settings
        parts = ["Exported from UCP by ionworks"]
        state = settings.initial_state
        if state is not None and state.value.number is not None:
            if state.kind == "soc":
                parts.append(f"initial SOC {plain((state.soc_fraction() or 0) * 100, 3)} %")
            else:
                parts.append(f"initial voltage {plain(state.value.number)} V")
        temperature = settings.effective_temperature
        if temperature is not None and temperature.number is not None:
            parts.append(f"initial temperature {plain(temperature.number, 2)} degC")
        if self.capacity_ah is not None:
            parts.append(f"nominal capacity {plain(self.capacity_ah)} Ah")
        return "; ".join(parts)

    def safety(self) -> dict[str, float]:
        """Safety limits by key (V, A magnitudes); temperature limits are refused."""
        limits = self.protocol.safety
        if limits is None:
            return {}
        out: dict[str, float] = {}
        for key, limit in limits.limits():
            if key.startswith("temperature"):
                raise ExportError(
                    self.target, "safety_limits", key, "temperature limits are not supported"
                )
            out[key] = float(limit.value.number or 0.0)
        return out

    def safety_goto(self, key: str) -> str:
        """Goto of a safety limit: ``"End"`` or a label (ExportError if unknown)."""
        assert self.protocol.safety is not None
        limit = getattr(self.protocol.safety, key)
        target = self.protocol.safety.target(limit)
        return "End" if target.lower() == "end" else target

    def require_end_safety(self) -> None:
        """Refuse safety limits that go anywhere but End (single recovery path targets)."""
        for key in self.safety():
            if self.safety_goto(key) != "End":
                raise ExportError(
                    self.target,
                    "safety_limits",
                    key,
                    f"goto {self.safety_goto(key)!r}: this target's safety limits can only end the test",
                )

    def resolution(self, step: Step) -> tuple[float | None, float | None, float | None]:
        """Logging deltas (s, V, A) for ``step``: its own resolution, else the global one."""
        res = step.resolution or self.protocol.settings.resolution
        if res is None:
            return (None, None, None)
        return tuple(  # type: ignore[return-value]
            None if v is None else v.number for v in (res.time, res.voltage, res.current)
        )
