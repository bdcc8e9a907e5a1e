"""Maccor procedure (``.000``) and waveform (``.MWF``) writer (vendors.md §1).

Loops become ``Do k``/``Loop k`` pairs (``Loop Cnt`` = total passes, at most 4 levels);
global safety limits are copied onto every active step as end entries that jump to the
final ``End`` step (or the limit's goto label); drive cycles become ``FastWave`` steps
with one ``.MWF`` side file each. C-rates are written natively (``0.5C``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from ..model import Block, Step
from ._common import ExportResult, Loop, Node, Plan, Stop, plain, segments

__all__ = ["check", "write"]

MAX_DEPTH = 4
DEFAULT_REPORT_S = 60.0  # ucp.md §3: default resolution.time
TYPES = {"Rest": "  Rest  ", "Charge": " Charge ", "Discharge": "Dischrge", "End": "  End   "}
MODES = {"current": "Current ", "crate": "Current ", "voltage": "Voltage ", "power": " Power  "}
FIELDS = ("StepType", "StepMode", "StepValue", "Limits", "Ends", "Reports", "Range",
          "Option1", "Option2", "Option3", "StepNote")  # fmt: skip
STEP_TYPES = {"  Rest  ", " Charge ", "Dischrge", "  End   ", "FastWave"} | {
    f"{kind} {k}".center(8) for kind in ("Do", "Loop") for k in range(1, MAX_DEPTH + 1)
}
END_TYPES = {"StepTime", "Voltage ", "Current ", "Loop Cnt"}
OPERS = {"<= ", ">= ", " = "}

# A goto reference, resolved to a step number once every row is placed.
Ref = tuple[str, int]


def hms(seconds: float) -> str:
    """``hh:mm:ss`` with an optional fraction (``00:00:00.01``)."""
    whole = int(seconds)
    frac = round(seconds - whole, 3)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return text + (plain(frac, 3)[1:] if frac else "")


class _Writer:
    def __init__(self, plan: Plan, stem: str) -> None:
        self.plan = plan
        self.stem = stem
        self.rows: list[dict[str, Any]] = []
        self.starts: dict[int, int] = {}  # id(step|block) -> row index
        self.targets: dict[int, Step | Block] = {}
        self.assets: list[tuple[str, bytes]] = []
        self.safety = plan.safety()

    def ref(self, step: Step, stop: Stop) -> Ref:
        if stop.goto is None:
            return ("next", 0)
        if stop.goto == "End":
            return ("end", 0)
        assert isinstance(stop.goto, Step | Block)
        self.targets[id(stop.goto)] = stop.goto
        return ("item", id(stop.goto))

    def label_ref(self, name: str) -> Ref:
        if name == "End":
            return ("end", 0)
        target = self.plan.labels.get(name)
        if target is None:
            raise self.plan.error(None, "goto", f"unknown safety goto {name!r}")
        self.targets[id(target)] = target
        return ("item", id(target))

    def row(self, kind: str, **fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"StepType": kind, "StepMode": " " * 8, "StepValue": "",
                                "Limits": {}, "Ends": [], "Reports": [], "Range": "",
                                "Options": "", "StepNote": ""}  # fmt: skip
        base.update(fields)
        self.rows.append(base)
        return base

    def nodes(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                self.starts.setdefault(id(node.block), len(self.rows))
                self.row(f"Do {node.depth}".center(8))
                self.nodes(node.body)
                after = ("row", len(self.rows) + 1)
                ends = [("Loop Cnt", " = ", after, str(node.count), False)]
                self.row(f"Loop {node.depth}".center(8), Ends=ends)
            else:
                self.starts.setdefault(id(node.step), len(self.rows))
                self.step(node.step)

    def step(self, step: Step) -> None:
        plan = self.plan
        plan.check_step(step, drive=True)
        if step.kind in ("Drive", "Waveform"):
            self.row("FastWave", StepValue=self.waveform(step), StepNote=step.note or "")
            return
        point = plan.setpoint(step, native_crate=True)
        ends: list[tuple[str, str, Ref, str, bool]] = []
        for stop in plan.stops(step, native_crate=True):
            ref = self.ref(step, stop)
            if stop.kind == "time":
                ends.append(("StepTime", " = ", ref, hms(stop.value), False))
            elif stop.kind in ("voltage", "current", "crate"):
                kind = "Voltage " if stop.kind == "voltage" else "Current "
                value = plain(stop.value) + ("C" if stop.kind == "crate" else "")
                ends.append((kind, ">= " if stop.op == ">" else "<= ", ref, value, False))
            else:
                raise plan.error(
                    step, "ends", f"{stop.kind} end conditions: Maccor's EndType token for "
                    "them is unconfirmed (no public sample), so they are refused",
                )  # fmt: skip
        first = not any(r["Ends"] and r["Ends"][-1][4] for r in self.rows)
        for key, bound in self.safety.items():
            if key.startswith(("charge", "discharge")) and (
                point is None or point.kind == "voltage" or key.startswith("charge") != point.charge
            ):
                continue
            kind = "Voltage " if key.startswith("voltage") else "Current "
            oper = "<= " if key == "voltage_min" else ">= "
            ends.append((kind, oper, self.label_ref(plan.safety_goto(key)), plain(bound), first))
        reports = self.reports(step)
        fields: dict[str, Any] = {"Ends": ends, "Reports": reports, "Range": "A", "Options": "N"}
        fields["StepNote"] = step.note or step.label or ""
        if point is None:
            self.row(TYPES["Rest"], **fields)
            return
        value = plain(point.value) + ("C" if point.kind == "crate" else "")
        kind = TYPES["Charge" if point.charge else "Discharge"]
        self.row(kind, StepMode=MODES[point.kind], StepValue=value, **fields)

    def reports(self, step: Step) -> list[tuple[str, str]]:
        time, voltage, current = self.plan.resolution(step)
        out = [("StepTime", hms(time or DEFAULT_REPORT_S))]
        if voltage:
            out.append(("Voltage ", plain(voltage)))
        if current:
            out.append(("Current ", plain(current)))
        return out

    def waveform(self, step: Step) -> str:
        plan = self.plan
        mode = step.mode or "Current"
        if mode == "Voltage":
            raise plan.error(step, "mode", "Maccor waveforms play current or power, not voltage")
        rows = plan.samples(step)
        if mode == "C-rate":
            rows = [(t, plan.amps(v, step, "C-rate waveform")) for t, v in rows]
        stops = plan.stops(step, native_crate=True)
        bounds: dict[str, float] = {}
        for stop in stops:
            if stop.goto is not None:
                raise plan.error(step, "goto", "FastWave steps cannot jump on an end condition")
            if stop.kind == "time" and stop.value >= rows[-1][0]:
                continue  # the waveform ends first
            if stop.kind != "voltage":
                raise plan.error(
                    step, "ends", f"{stop.source or stop.kind!r}: an .MWF segment ends only on "
                    "voltage (time ends shorter than the waveform are refused)",
                )  # fmt: skip
            bounds[stop.op] = stop.value
        if self.safety:
            raise plan.error(
                step, "safety", "FastWave steps carry no end entries, so the global safety "
                "limits cannot end the test during the waveform",
            )  # fmt: skip
        report = plan.resolution(step)[0] or 1.0
        lines = []
        for value, duration in segments(rows):
            charge = value < 0
            op = ">" if charge else "<"
            if op not in bounds:
                raise plan.error(
                    step, "ends", f"{'charge' if charge else 'discharge'} segments need a "
                    f"'Voltage {op} x' end condition (the .MWF voltage end)",
                )  # fmt: skip
            limit = plain(bounds[op], 4)
            fields = ["C" if charge else "D", "P" if mode == "Power" else "I",
                      plain(abs(value), 5), "V", limit, plain(duration, 3), "V",
                      ">=" if charge else "<=", limit, "T", plain(report, 3), "A"]  # fmt: skip
            lines.append("\t".join(fields))
        content = ("\r\n".join(lines) + "\r\n").encode("ascii")
        base = re.sub(r"[^A-Za-z0-9_-]", "_", step.drive_cycle or f"{self.stem}_wave")[:20]
        name, n = base, 1
        while any(a[0] == f"{name}.MWF" and a[1] != content for a in self.assets):
            n += 1
            name = f"{base[:20]}_{n}"
        if all(a[0] != f"{name}.MWF" for a in self.assets):
            self.assets.append((f"{name}.MWF", content))
        return name

    def number(self, ref: Ref, index: int) -> str:
        kind, key = ref
        if kind == "next":
            target = index + 1
        elif kind == "end":
            target = len(self.rows) - 1
        elif kind == "row":
            target = key
        else:
            target = self.plan.start(self.starts, self.targets[key])
        return f"{target + 1:03d}"

    def xml(self) -> bytes:
        root = ET.Element("MaccorTestProcedure")
        header = ET.SubElement(root, "header")
        version = ET.SubElement(header, "BuildTestVersion")
        for tag, text in (("major", "1"), ("minor", "5"), ("release", "7006"), ("build", "32043")):
            ET.SubElement(version, tag).text = text
        ET.SubElement(ET.SubElement(header, "FileFormatVersion"), "BTVersion").text = "11"
        ET.SubElement(ET.SubElement(header, "ProcDesc"), "desc").text = self.plan.description()
        steps = ET.SubElement(root, "ProcSteps")
        for index, row in enumerate(self.rows):
            node = ET.SubElement(steps, "TestStep")
            for tag in FIELDS[:3]:
                ET.SubElement(node, tag).text = row[tag]
            limits = ET.SubElement(node, "Limits")
            for tag, text in row["Limits"].items():
                ET.SubElement(limits, tag).text = text
            ends = ET.SubElement(node, "Ends")
            for end_type, oper, ref, value, safety in row["Ends"]:
                entry = ET.SubElement(ends, "EndEntry")
                for tag, text in (("EndType", end_type), ("SpecialType", " "), ("Oper", oper),
                                  ("Step", self.number(ref, index)), ("Value", value)):  # fmt: skip
                    ET.SubElement(entry, tag).text = text
                if safety:
                    ET.SubElement(entry, "ChanSafetyEnd").text = "True"
            reports = ET.SubElement(node, "Reports")
            for report_type, value in row["Reports"]:
                entry = ET.SubElement(reports, "ReportEntry")
                ET.SubElement(entry, "ReportType").text = report_type
                ET.SubElement(entry, "Value").text = value
            ET.SubElement(node, "Range").text = row["Range"]
            for tag in ("Option1", "Option2", "Option3"):
                ET.SubElement(node, tag).text = row["Options"]
            ET.SubElement(node, "StepNote").text = row["StepNote"]
        ET.indent(root, space="  ")
        body = ET.tostring(root, encoding="unicode", short_empty_elements=False)
        body = re.sub(r"<(Limits|Ends|Reports)></\1>", r"<\1/>", body)
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<?maccor-application progid="Maccor Procedure File"?>\n' + body + "\n"
        )
        return text.replace("\n", "\r\n").encode("ascii", "xmlcharrefreplace")


def write(plan: Plan, stem: str) -> ExportResult:
    """The ``.000`` procedure and its ``.MWF`` waveforms."""
    plan.max_depth(MAX_DEPTH)
    writer = _Writer(plan, stem)
    writer.nodes(plan.nodes)
    writer.row(TYPES["End"])
    return ExportResult("maccor", f"{stem}.000", writer.xml(), "text/plain", writer.assets)


def check(result: ExportResult) -> list[str]:
    """Structural problems of a written procedure (empty when well-formed)."""
    problems: list[str] = []
    text = result.primary_bytes.decode("ascii")
    if '<?maccor-application progid="Maccor Procedure File"?>' not in text.split("\n")[1]:
        problems.append("missing maccor-application processing instruction")
    root = ET.fromstring(result.primary_bytes)
    steps = root.findall("./ProcSteps/TestStep")
    depth: list[int] = []
    assets = {name for name, _ in result.assets}
    for number, step in enumerate(steps, start=1):
        if [child.tag for child in step] != list(FIELDS):
            problems.append(f"step {number}: children out of order")
            continue
        kind = step.findtext("StepType") or ""
        if kind not in STEP_TYPES:
            problems.append(f"step {number}: unknown StepType {kind!r}")
        if kind.strip().startswith("Do"):
            depth.append(int(kind.split()[1]))
        if kind.strip().startswith("Loop") and (not depth or depth.pop() != int(kind.split()[1])):
            problems.append(f"step {number}: unbalanced {kind.strip()}")
        if kind == "FastWave" and f"{step.findtext('StepValue')}.MWF" not in assets:
            problems.append(f"step {number}: missing waveform {step.findtext('StepValue')}.MWF")
        for entry in step.iter("EndEntry"):
            goto = entry.findtext("Step") or ""
            if entry.findtext("EndType") not in END_TYPES or entry.findtext("Oper") not in OPERS:
                problems.append(f"step {number}: bad end entry")
            if not (len(goto) == 3 and goto.isdigit() and 1 <= int(goto) <= len(steps)):
                problems.append(f"step {number}: goto {goto!r} out of range")
    if depth:
        problems.append("unclosed Do")
    if not steps or steps[-1].findtext("StepType") != TYPES["End"]:
        problems.append("last step is not End")
    for name, content in result.assets:
        for line in content.decode("ascii").splitlines():
            if len(line.split("\t")) != 12:
                problems.append(f"{name}: line without 12 tab-separated fields")
                break
    return problems
