"""Neware BTS step-file (``.xml``) writer (vendors.md §3; layout of aurora-unicycler).

Units: voltage × 10000, current mA, time ms, capacity mA·s. C-rates need
``nominal_capacity_ah`` (currents are absolute; ``Rate`` is written alongside). Loops
become Cycle steps (type 5) after their body with ``Cycle_Count`` = total passes.
Refused: power, drive cycles, EIS, gotos, per-step logging, current ends on CC steps,
voltage ends on CV/rest steps, ends whose direction the step type cannot express.
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime

from ..model import Step
from ._common import ExportResult, Loop, Node, Plan, SetPoint, Stop, plain

__all__ = ["check", "write"]

STEP_TYPES = {"1", "2", "3", "4", "5", "6", "7", "19", "20"}
DEFAULT_RECORD_S = 60.0


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.steps: list[ET.Element] = []
        self.previous: SetPoint | None = None
        self.previous_crate: float | None = None
        self.previous_stop_v: float | None = None

    def add(self, kind: str) -> ET.Element:
        number = len(self.steps) + 1
        element = ET.Element(f"Step{number}", Step_ID=str(number), Step_Type=kind)
        self.steps.append(element)
        return element

    def nodes(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                start = len(self.steps) + 1
                self.nodes(node.body)
                other = ET.SubElement(ET.SubElement(self.add("5"), "Limit"), "Other")
                ET.SubElement(other, "Start_Step", Value=str(start))
                ET.SubElement(other, "Cycle_Count", Value=str(node.count))
                self.previous = None
            else:
                self.step(node.step)

    def current(self, main: ET.Element, amps: float, crate: float | None, prefix: str = "") -> None:
        if crate is not None:
            ET.SubElement(main, f"{prefix}Rate", Value=plain(crate))
        ET.SubElement(main, f"{prefix}Curr", Value=plain(amps * 1000, 4))

    def step(self, step: Step) -> None:
        plan = self.plan
        plan.check_step(step, power=False)
        res = step.resolution
        if res is not None and res != plan.protocol.settings.resolution:
            raise plan.error(step, "resolution", "Neware records with one global setting only")
        point = plan.setpoint(step, native_crate=False)
        crate = self.crate(step)
        stops = plan.stops(step, native_crate=False)
        for stop in stops:
            if stop.goto is not None:
                raise plan.error(step, "goto", f"{stop.source!r}: Neware jumps are not supported")
        if point is None:
            kind = "4"
        elif point.kind == "voltage":
            kind = "3" if point.charge else "19"
        else:
            kind = "1" if point.charge else "2"
        main = ET.SubElement(ET.SubElement(self.add(kind), "Limit"), "Main")
        if point is not None and point.kind == "current":
            self.current(main, point.value, crate)
        elif point is not None:
            ET.SubElement(main, "Volt", Value=plain(point.value * 10000, 2))
            prev = self.previous
            if (
                prev is not None
                and prev.charge == point.charge
                and self.previous_stop_v == point.value
            ):
                self.current(main, prev.value, self.previous_crate)
        seen: set[str] = set()
        for stop in stops:
            tag = self.end_tag(step, point, stop)
            if tag in seen:
                raise plan.error(step, "ends", f"{stop.source or stop.kind!r}: only one {tag} end")
            seen.add(tag)
            if tag == "Time":
                ET.SubElement(main, "Time", Value=plain(stop.value * 1000, 1))
            elif tag == "Stop_Volt":
                ET.SubElement(main, "Stop_Volt", Value=plain(stop.value * 10000, 2))
            elif tag == "Cap":
                ET.SubElement(main, "Cap", Value=plain(stop.value * 1000 * 3600, 3))
            else:
                rate = self.end_crate(step, stop)
                self.current(main, stop.value, rate, prefix="Stop_")
        self.previous = point if point is not None and point.kind == "current" else None
        self.previous_crate = crate
        volts = [s.value for s in stops if s.kind == "voltage"]
        self.previous_stop_v = volts[0] if volts else None

    def crate(self, step: Step) -> float | None:
        return self.plan.number(step.value, step) if step.mode == "C-rate" else None

    def end_crate(self, step: Step, stop: Stop) -> float | None:
        for end in step.ends:
            if end.quantity == "C-rate" and end.source == stop.source:
                return self.plan.number(end.value, step)
        return None

    def end_tag(self, step: Step, point: SetPoint | None, stop: Stop) -> str:
        where = f"{stop.source or stop.kind!r}"
        if stop.kind == "time":
            return "Time"
        if point is None:
            raise self.plan.error(step, "ends", f"{where}: Neware rest steps end on time only")
        if stop.kind == "capacity" and point.kind == "current":
            return "Cap"
        if stop.kind == "voltage" and point.kind == "current":
            if stop.op != (">" if point.charge else "<"):
                raise self.plan.error(
                    step, "ends", f"{where}: a CC {'charge' if point.charge else 'discharge'} "
                    "step stops on the voltage it moves towards only",
                )  # fmt: skip
            return "Stop_Volt"
        if stop.kind == "current" and point.kind == "voltage" and stop.op == "<":
            return "Stop_Curr"
        raise self.plan.error(
            step, "ends", f"{where}: a {stop.kind} end is not expressible on this Neware step type"
        )

    def xml(self, clock: datetime | None) -> bytes:
        plan = self.plan
        safety = plan.safety()
        plan.require_end_safety()
        root = ET.Element("root")
        digest = hashlib.sha256(b"".join(ET.tostring(s) for s in self.steps)).hexdigest()
        config = ET.SubElement(
            root, "config", type="Step File", version="17",
            client_version="BTS Client 8.0.0.478(2024.06.24)(R3)",
            date=(clock or datetime.now()).strftime("%Y%m%d%H%M%S"),
            Guid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"ionworks:neware:{digest}")),
        )  # fmt: skip
        head = ET.SubElement(config, "Head_Info")
        ET.SubElement(head, "Operate", Value="66")
        ET.SubElement(head, "Scale", Value="1")
        ET.SubElement(head, "Start_Step", Value="1", Hide_Ctrl_Step="0")
        ET.SubElement(head, "Creator", Value="ionworks")
        ET.SubElement(head, "Remark", Value=plan.description())
        ET.SubElement(head, "RateType", Value="103")
        if plan.capacity_ah is not None:
            ET.SubElement(head, "MultCap", Value=plain(plan.capacity_ah * 1000 * 3600, 3))
        whole = ET.SubElement(config, "Whole_Prt")
        main = ET.SubElement(ET.SubElement(whole, "Protect"), "Main")
        volt = ET.SubElement(main, "Volt")
        if "voltage_max" in safety:
            ET.SubElement(volt, "Upper", Value=plain(safety["voltage_max"] * 10000, 2))
        if "voltage_min" in safety:
            ET.SubElement(volt, "Lower", Value=plain(safety["voltage_min"] * 10000, 2))
        curr = ET.SubElement(main, "Curr")
        if "charge_current_max" in safety:
            ET.SubElement(curr, "Upper", Value=plain(safety["charge_current_max"] * 1000, 4))
        if "discharge_current_max" in safety:
            ET.SubElement(curr, "Lower", Value=plain(-safety["discharge_current_max"] * 1000, 4))
        ET.SubElement(main, "Cap")
        record = ET.SubElement(ET.SubElement(whole, "Record"), "Main")
        time_s, volt_delta, curr_delta = plan.resolution(Step("Rest", ""))
        ET.SubElement(record, "Time", Value=plain((time_s or DEFAULT_RECORD_S) * 1000, 1))
        if volt_delta:
            ET.SubElement(record, "Volt", Value=plain(volt_delta * 10000, 2))
        if curr_delta:
            ET.SubElement(record, "Curr", Value=plain(curr_delta * 1000, 4))
        info = ET.SubElement(config, "Step_Info", Num=str(len(self.steps)))
        info.extend(self.steps)
        smbus = ET.SubElement(config, "SMBUS")
        ET.SubElement(smbus, "SMBUS_Info", Num="0", AdjacentInterval="0")
        ET.indent(root, space="  ")
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
        return (text + "\n").encode("utf-8")


def write(plan: Plan, stem: str) -> ExportResult:
    """The BTS step file."""
    writer = _Writer(plan)
    writer.nodes(plan.nodes)
    writer.add("6")
    content = writer.xml(plan.clock)
    return ExportResult("neware", f"{stem}.xml", content, "application/xml", [])


def check(result: ExportResult) -> list[str]:
    """Structural problems of a step file (empty when well-formed)."""
    problems: list[str] = []
    root = ET.fromstring(result.primary_bytes)
    info = root.find("./config[@type='Step File']/Step_Info")
    if info is None:
        return ["missing config[@type='Step File']/Step_Info"]
    steps = list(info)
    if info.get("Num") != str(len(steps)):
        problems.append("Step_Info/@Num does not match the step count")
    for number, step in enumerate(steps, start=1):
        if step.tag != f"Step{number}" or step.get("Step_ID") != str(number):
            problems.append(f"step {number}: name or Step_ID out of order")
        if step.get("Step_Type") not in STEP_TYPES:
            problems.append(f"step {number}: unknown Step_Type {step.get('Step_Type')!r}")
        start = step.find("./Limit/Other/Start_Step")
        if start is not None and not 1 <= int(start.get("Value", "0")) < number:
            problems.append(f"step {number}: Cycle Start_Step out of range")
        for element in step.iter():
            if (
                element.tag in ("Volt", "Stop_Volt")
                and not 0 <= float(element.get("Value", "0")) <= 100000
            ):
                problems.append(f"step {number}: implausible voltage {element.get('Value')}")
    if not steps or steps[-1].get("Step_Type") != "6":
        problems.append("last step is not End (type 6)")
    return problems
