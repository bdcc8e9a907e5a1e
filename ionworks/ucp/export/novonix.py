"""Novonix HPC protocol text writer (vendors.md §5; **inferred** format, unverified).

Bracketed lines, 3 spaces of indent per level, ``[End …]`` closers, UTF-8 (``∆``), CRLF.
A CC step followed by a CV hold at its cut-off voltage becomes one ``CC-CV`` command.
C-rates are written in amps when ``nominal_capacity_ah`` is given, else as ``C``.
Refused: gotos, CV holds without a preceding CC phase, power, drive cycles, EIS, CC
steps without a voltage cut-off, rests without a duration.
"""

from __future__ import annotations

from ..model import Step
from ._common import ExportResult, Loop, Node, Plan, SetPoint, Stop, plain

__all__ = ["check", "write"]

INDENT = "   "
COMPARE = {"<": "less than", ">": "greater than"}


def duration(seconds: float) -> str:
    for size, word in ((3600, "hours"), (60, "minutes")):
        if seconds >= size and seconds % size == 0:
            return f"{plain(seconds / size)} {word}"
    return f"{plain(seconds, 3)} seconds"


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def current(self, step: Step, point: SetPoint) -> str:
        if point.kind == "crate":
            if self.plan.capacity_ah is None:
                return f"{plain(point.value)} C"
            return f"{plain(point.value * self.plan.capacity_ah)} A"
        return f"{plain(point.value)} A"

    def nodes(self, nodes: tuple[Node, ...], level: int) -> list[tuple[int, str]]:
        """``(indent level, text)`` lines; protocol lines (step commands) are counted by
        :func:`_commands`."""
        out: list[tuple[int, str]] = []
        steps = list(nodes)
        i = 0
        while i < len(steps):
            node = steps[i]
            if isinstance(node, Loop):
                body = self.nodes(node.body, level + 1)
                out += [(level, "[Repeat the step(s) below]"), (level + 1, f"[Repeat count {node.count}]"),
                        (level + 1, f"[Step count {_commands(body)}]"), *body, (level, "[End repeat]")]  # fmt: skip
                i += 1
                continue
            nxt = steps[i + 1] if i + 1 < len(steps) else None
            cv = nxt.step if nxt is not None and not isinstance(nxt, Loop) else None
            used = self.step(node.step, cv, level, out)
            i += 2 if used else 1
        return out

    def step(self, step: Step, cv: Step | None, level: int, out: list[tuple[int, str]]) -> bool:
        """Append ``step``; returns True when it was merged with the CV hold ``cv``."""
        plan = self.plan
        plan.check_step(step, power=False)
        point = plan.setpoint(step, native_crate=True)
        stops = plan.stops(step, native_crate=True)
        for stop in stops:
            if stop.goto is not None:
                raise plan.error(step, "goto", f"{stop.source!r}: Novonix has no jump syntax")
        inner = level + 1
        if point is None:
            times = [s for s in stops if s.kind == "time"]
            if not times:
                raise plan.error(step, "ends", "a Novonix storage step needs a duration")
            out += [
                (level, "[Open circuit storage]"),
                (inner, f"[Storage_time {duration(times[0].value)}]"),
            ]
            out += self.conditions(step, [s for s in stops if s is not times[0]], inner)
            out.append((level, "[End storage]"))
            return False
        if point.kind == "voltage":
            raise plan.error(step, "mode", "Novonix has no CV-only hold; precede it by a CC step "
                             "ending at the same voltage")  # fmt: skip
        word = "charge" if point.charge else "discharge"
        cap = [s for s in stops if s.kind == "voltage" and s.op == (">" if point.charge else "<")]
        if not cap:
            raise plan.error(
                step,
                "ends",
                f"a Novonix CC {word} needs a 'Voltage {'>' if point.charge else '<'} x' cut-off",
            )
        rest = [s for s in stops if s is not cap[0]]
        merge = (
            cv is not None and cv.kind == step.kind and cv.mode == "Voltage"
            and cv.value is not None and cv.value.number == cap[0].value and not rest
            and not cv.label
        )  # fmt: skip
        voltage = f"[{word.capitalize()}_voltage {plain(cap[0].value, 4)} V]"
        if merge and cv is not None:
            plan.check_step(cv)
            out += [(level, f"[CC-CV {word}]"), (inner, f"[Maximum_current {self.current(step, point)}]"),
                    (inner, voltage)]  # fmt: skip
            out += self.conditions(cv, plan.stops(cv, native_crate=True), inner)
            out.append((level, f"[End CCCV {word}]"))
            return True
        out += [(level, f"[Constant current {word}]"),
                (inner, f"[{word.capitalize()}_current {self.current(step, point)}]"), (inner, voltage)]  # fmt: skip
        out += self.conditions(step, rest, inner)
        out.append((level, f"[End {word}]"))
        return False

    def conditions(self, step: Step, stops: list[Stop], level: int) -> list[tuple[int, str]]:
        trips: list[str] = []
        for stop in stops:
            if stop.goto is not None:
                raise self.plan.error(step, "goto", f"{stop.source!r}: Novonix has no jump syntax")
            if stop.kind == "time":
                trips.append(f"step time is longer than {duration(stop.value)}")
            elif stop.kind == "capacity":
                trips.append(f"step capacity is {COMPARE[stop.op]} {plain(stop.value)} Ah")
            elif stop.kind in ("current", "crate"):
                unit = "C" if stop.kind == "crate" else "A"
                trips.append(f"absolute current is {COMPARE[stop.op]} {plain(stop.value)} {unit}")
            elif stop.kind == "voltage":
                trips.append(f"voltage is {COMPARE[stop.op]} {plain(stop.value, 4)} V")
        time, voltage, _ = self.plan.resolution(step)
        saves = [f"∆T is greater than {plain(time or 60.0, 3)} seconds"]
        if voltage:
            saves.append(f"∆V is greater than {plain(voltage)} V")
        inner = level + 1
        return [
            (level, "[Trip conditions]"),
            *((inner, f"[{i} End step if {text}]") for i, text in enumerate(trips)),
            (level, "[End trip conditions]"), (level, "[Save conditions]"),
            *((inner, f"[{i} Save data if {text}]") for i, text in enumerate(saves)),
            (level, "[End save conditions]"), (level, "[Operating limits]"),
            (level, "[End operating limits]"), (level, "[Emergency limits]"),
            (level, "[End emergency limits]"),
        ]  # fmt: skip

    def limits(self) -> list[tuple[int, str]]:
        plan = self.plan
        safety = plan.safety()
        plan.require_end_safety()
        entries = []
        volts = [f"if voltage {op} {safety[key]:.4f} V" for key, op in
                 (("voltage_min", "<"), ("voltage_max", ">")) if key in safety]  # fmt: skip
        if volts:
            entries.append("Stop channel " + " or ".join(volts))
        currents = {v for k, v in safety.items() if "current" in k}
        if currents:
            if len(currents) != 1 or len([k for k in safety if "current" in k]) != 2:
                raise plan.error(None, "safety", "Novonix limits the absolute current only: give "
                                 "equal charge_current_max and discharge_current_max")  # fmt: skip
            entries.append(f"Stop channel if absolute current > {currents.pop():.4f} A")
        return [
            (0, "[Protocol operating limits]"),
            *((1, f"[{i} {text}]") for i, text in enumerate(entries)),
            (0, "[End protocol operating limits]"), (0, "[Protocol emergency limits]"),
            (0, "[End protocol emergency limits]"),
        ]  # fmt: skip


def _commands(lines: list[tuple[int, str]]) -> int:
    """Protocol lines (step and repeat commands) in ``lines``, nested ones included."""
    commands = ("[Open circuit storage]", "[Constant current", "[CC-CV", "[Repeat the step")
    return sum(1 for _, text in lines if text.startswith(commands))


def write(plan: Plan, stem: str) -> ExportResult:
    """The protocol text (``.pro2``, inferred)."""
    from datetime import datetime

    writer = _Writer(plan)
    body = writer.nodes(plan.nodes, 0)
    saved = (plan.clock or datetime.now()).strftime("%Y-%m-%d %H:%M:%S")
    lines = ["Novonix HPC Protocol File", "Version:3.0.2.3", f"Date Saved:{saved}",
             *(INDENT * lvl + text for lvl, text in writer.limits() + body)]  # fmt: skip
    content = "\r\n".join(lines) + "\r\n"
    return ExportResult("novonix", f"{stem}.pro2", content.encode("utf-8"), "text/plain")


BLOCKS = {
    "[Protocol operating limits]": "[End protocol operating limits]",
    "[Protocol emergency limits]": "[End protocol emergency limits]",
    "[Open circuit storage]": "[End storage]",
    "[Constant current charge]": "[End charge]",
    "[Constant current discharge]": "[End discharge]",
    "[CC-CV charge]": "[End CCCV charge]",
    "[CC-CV discharge]": "[End CCCV discharge]",
    "[Trip conditions]": "[End trip conditions]",
    "[Save conditions]": "[End save conditions]",
    "[Operating limits]": "[End operating limits]",
    "[Emergency limits]": "[End emergency limits]",
    "[Repeat the step(s) below]": "[End repeat]",
}


def check(result: ExportResult) -> list[str]:
    """Bracket balance, indentation, Repeat step counts and the limit blocks."""
    lines = result.primary_bytes.decode("utf-8").split("\r\n")
    problems: list[str] = []
    if lines[0] != "Novonix HPC Protocol File" or not lines[-1] == "":
        problems.append("missing header or final line break")
    body = [line for line in lines[3:] if line]
    for required in ("[Protocol operating limits]", "[Protocol emergency limits]"):
        if required not in body:
            problems.append(f"missing {required}")
    stack: list[tuple[str, int, int]] = []  # opener, line index, declared step count
    for index, line in enumerate(body):
        text = line.lstrip(" ")
        indent = len(line) - len(text)
        if not (text.startswith("[") and text.endswith("]")):
            problems.append(f"not a bracketed line: {line!r}")
        closing = bool(stack) and text == BLOCKS[stack[-1][0]]
        if indent != INDENT.__len__() * (len(stack) - closing):
            problems.append(f"misindented line {text!r}")
        if closing:
            opener, start, declared = stack.pop()
            inner = [(0, b.strip()) for b in body[start + 1 : index]]
            if opener.startswith("[Repeat") and _commands(inner) != declared:
                problems.append(f"Step count {declared} != {_commands(inner)} protocol lines")
        elif text in BLOCKS:
            stack.append((text, index, -1))
        elif text.startswith("[End"):
            problems.append(f"unexpected {text!r}")
        elif text.startswith("[Step count") and stack:
            stack[-1] = (stack[-1][0], stack[-1][1], int(text[11:-1]))
    if stack:
        problems.append(f"unclosed {stack[-1][0]}")
    return problems
