"""BioLogic BT-Lab settings (``.mps``, Modulo Bat) writer (vendors.md §4).

The table uses the 62-row BT-Lab layout of beep's BCS templates (``lim1..3``,
``rec1..3``), 20-character columns, cp1252 and CRLF. Currents are absolute and signed
(``Apply I/C = I``), so C-rates need ``nominal_capacity_ah``. Loops are ``Loop``
sequences with ``ctrl_repeat`` = passes − 1. Refused: drive cycles, EIS, capacity ends
(the limit token is unconfirmed), more than 3 ends per step, asymmetric current safety
limits, voltages outside the 0-5 V control range and currents above the 10 A range.
"""

from __future__ import annotations

from ..model import Block, Step
from ._common import ExportResult, Loop, Node, Plan, SetPoint, Stop, plain

__all__ = ["ROWS", "check", "write"]

WIDTH = 20
RANGE_V = (0.0, 5.0)
CTRL_TYPES = {"Rest", "CC", "CV", "CP", "Loop"}
I_RANGES = ((1e-5, "10 µA"), (1e-4, "100 µA"), (1e-3, "1 mA"), (1e-2, "10 mA"),
            (0.1, "100 mA"), (1.0, "1 A"), (10.0, "10 A"))  # fmt: skip
ROWS: dict[str, str] = {
    "Ns": "", "ctrl_type": "", "Apply I/C": "I", "ctrl1_val": "", "ctrl1_val_unit": "",
    "ctrl1_val_vs": "", "ctrl2_val": "", "ctrl2_val_unit": "", "ctrl2_val_vs": "",
    "ctrl3_val": "", "ctrl3_val_unit": "", "ctrl3_val_vs": "", "N": "1.00",
    "charge/discharge": "Charge", "ctrl_seq": "0", "ctrl_repeat": "0",
    "ctrl_trigger": "Falling Edge", "ctrl_TO_t": "0.000", "ctrl_TO_t_unit": "d",
    "ctrl_Nd": "6", "ctrl_Na": "1", "ctrl_corr": "0", "lim_nb": "0",
    **{f"lim{k}_{key}": value for k in (1, 2, 3) for key, value in (
        ("type", "Time"), ("comp", "<"), ("Q", "Q limit"), ("value", "0.000"),
        ("value_unit", "s"), ("action", "Next sequence"), ("seq", ""))},
    "rec_nb": "0",
    **{f"rec{k}_{key}": value for k in (1, 2, 3) for key, value in (
        ("type", "Time"), ("value", "0.000"), ("value_unit", "s"))},
    "E range min (V)": f"{RANGE_V[0]:.3f}", "E range max (V)": f"{RANGE_V[1]:.3f}",
    "I Range": "Auto", "I Range min": "Unset", "I Range max": "Unset",
    "I Range init": "Unset", "auto rest": "0", "Bandwidth": "4",
}  # fmt: skip


def _range(step: Step, plan: Plan, amps: float) -> str:
    for limit, name in I_RANGES:
        if abs(amps) <= limit:
            return name
    raise plan.error(step, "current", f"{plain(amps)} A exceeds the largest I range (10 A)")


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.seqs: list[dict[str, str]] = []
        self.starts: dict[int, int] = {}
        self.pending: list[tuple[dict[str, str], int, Step | Block]] = []
        self.previous: tuple[SetPoint, float | None] | None = None

    def add(self, **values: str) -> dict[str, str]:
        seq = dict(ROWS)
        ns = len(self.seqs)
        seq.update({"Ns": str(ns), **{f"lim{k}_seq": str(ns + 1) for k in (1, 2, 3)}})
        seq.update(values)
        self.seqs.append(seq)
        return seq

    def nodes(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                start = len(self.seqs)
                self.starts.setdefault(id(node.block), start)
                self.nodes(node.body)
                self.add(ctrl_type="Loop", ctrl_seq=str(start), ctrl_repeat=str(node.count - 1))
                self.previous = None
            else:
                self.starts.setdefault(id(node.step), len(self.seqs))
                self.step(node.step)

    def volts(self, step: Step, value: float) -> None:
        if not RANGE_V[0] <= value <= RANGE_V[1]:
            raise self.plan.error(
                step,
                "voltage",
                f"{plain(value)} V is outside the {RANGE_V[0]}-{RANGE_V[1]} V range",
            )

    def step(self, step: Step) -> None:
        plan = self.plan
        plan.check_step(step)
        point = plan.setpoint(step, native_crate=False)
        stops = plan.stops(step, native_crate=False)
        if len(stops) > 3:
            raise plan.error(step, "ends", f"{len(stops)} end conditions; Modulo Bat allows 3")
        values: dict[str, str] = {}
        if point is None:
            values["ctrl_type"] = "Rest"
        else:
            sign = 1.0 if point.charge else -1.0
            values["charge/discharge"] = "Charge" if point.charge else "Discharge"
            if point.kind == "voltage":
                self.volts(step, point.value)
                values.update(ctrl_type="CV", ctrl1_val=f"{point.value:.3f}", ctrl1_val_unit="V",
                              ctrl1_val_vs="Ref")  # fmt: skip
                prev = self.previous
                if prev is not None and prev[1] == point.value:
                    values["I Range"] = _range(step, plan, prev[0].value)
            elif point.kind == "power":
                values.update(ctrl_type="CP", ctrl1_val=f"{sign * point.value:.3f}",
                              ctrl1_val_unit="W", ctrl1_val_vs="<None>")  # fmt: skip
            else:
                values.update(ctrl_type="CC", ctrl1_val=f"{sign * point.value * 1000:.3f}",
                              ctrl1_val_unit="mA", ctrl1_val_vs="<None>",
                              **{"I Range": _range(step, plan, point.value)})  # fmt: skip
        values["lim_nb"] = str(len(stops))
        seq = self.add(**values)
        for k, stop in enumerate(stops, start=1):
            self.limit(step, seq, k, stop)
        self.records(step, seq, point)
        ends_v = [s.value for s in stops if s.kind == "voltage"]
        is_cc = point is not None and point.kind == "current"
        self.previous = (point, ends_v[0] if ends_v else None) if is_cc and point else None

    def limit(self, step: Step, seq: dict[str, str], k: int, stop: Stop) -> None:
        key = f"lim{k}_"
        if stop.kind == "time":
            seq.update({key + "type": "Time", key + "comp": ">", key + "value": f"{stop.value:.3f}",
                        key + "value_unit": "s"})  # fmt: skip
        elif stop.kind == "voltage":
            self.volts(step, stop.value)
            seq.update({key + "type": "Ecell", key + "comp": stop.op,
                        key + "value": f"{stop.value:.3f}", key + "value_unit": "V"})  # fmt: skip
        elif stop.kind == "current":
            seq.update({key + "type": "|I|", key + "comp": stop.op,
                        key + "value": f"{stop.value * 1000:.3f}", key + "value_unit": "mA"})  # fmt: skip
        else:
            raise self.plan.error(
                step, "ends", f"{stop.source or stop.kind!r}: BioLogic's {stop.kind} limit token "
                "is unconfirmed, so it is refused",
            )  # fmt: skip
        if stop.goto == "End":
            seq[key + "action"] = "End"
        elif stop.goto is not None:
            assert isinstance(stop.goto, Step | Block)
            seq[key + "action"] = "Goto sequence"
            self.pending.append((seq, k, stop.goto))

    def records(self, step: Step, seq: dict[str, str], point: SetPoint | None) -> None:
        time, voltage, current = self.plan.resolution(step)
        entries = [("Time", f"{time or 60.0:.3f}", "s")]
        if voltage and (point is None or point.kind != "voltage"):
            entries.append(("Ecell", f"{voltage:.3f}", "V"))
        if current and point is not None and point.kind == "voltage":
            entries.append(("I", f"{current * 1000:.3f}", "mA"))
        seq["rec_nb"] = str(len(entries))
        for k, (kind, value, unit) in enumerate(entries, start=1):
            seq.update({f"rec{k}_type": kind, f"rec{k}_value": value, f"rec{k}_value_unit": unit})

    def header(self) -> list[str]:
        plan = self.plan
        safety = plan.safety()
        plan.require_end_safety()
        lines = ["BT-LAB SETTING FILE", "", "Number of linked techniques : 1", "",
                 f"Ecell ctrl range : min = {RANGE_V[0]:.2f} V, max = {RANGE_V[1]:.2f} V"]  # fmt: skip
        if safety:
            lines.append("Safety Limits :")
            if "voltage_min" in safety:
                lines.append(f"\tEcell min = {safety['voltage_min']:.5f} V")
            if "voltage_max" in safety:
                lines.append(f"\tEcell max = {safety['voltage_max']:.5f} V")
            currents = {v for k, v in safety.items() if "current" in k}
            if currents:
                both = {"charge_current_max", "discharge_current_max"} <= set(safety)
                if not both or len(currents) != 1:
                    raise plan.error(
                        None, "safety", "BioLogic has a single |I| safety limit: give equal "
                        "charge_current_max and discharge_current_max",
                    )  # fmt: skip
                lines.append(f"\t|I| = {currents.pop() * 1000:.5f} mA")
            lines += ["\tfor t > 0.0 ms", "\tDo not start on E overload"]
        lines.append(f"Comments : {plan.description()}")
        if plan.capacity_ah is not None:
            lines.append(f"Battery capacity : {plan.capacity_ah * 1000:.3f} mA.h")
        lines += [
            "Cycle Definition : Charge/Discharge alternance",
            "",
            "Technique : 1",
            "Modulo Bat",
        ]
        return lines


def write(plan: Plan, stem: str) -> ExportResult:
    """The Modulo Bat settings file."""
    writer = _Writer(plan)
    writer.nodes(plan.nodes)
    for seq, k, target in writer.pending:
        seq[f"lim{k}_seq"] = str(plan.start(writer.starts, target))
    lines = writer.header()
    for row in ROWS:
        lines.append(row.ljust(WIDTH) + "".join(s[row].ljust(WIDTH) for s in writer.seqs))
    content = "\r\n".join(lines) + "\r\n"
    return ExportResult("biologic_bttest", f"{stem}.mps", content.encode("cp1252"), "text/plain")


def table(text: str) -> list[dict[str, str]]:
    """The Modulo Bat sequences of a settings file, one dict per Ns."""
    lines = text.splitlines()
    start = lines.index("Modulo Bat") + 1
    rows = lines[start : start + len(ROWS)]
    count = max(len(line) for line in rows) // WIDTH - 1
    cells = [[line[i * WIDTH : (i + 1) * WIDTH].strip() for i in range(count + 1)] for line in rows]
    return [{row[0]: row[i] for row in cells} for i in range(1, count + 1)]


def check(result: ExportResult) -> list[str]:
    """Structural problems of a settings file (empty when well-formed)."""
    text = result.primary_bytes.decode("cp1252")
    lines = text.split("\r\n")
    problems: list[str] = []
    if lines[0] != "BT-LAB SETTING FILE" or "Technique : 1" not in lines:
        return ["missing BT-LAB header or Technique : 1"]
    if lines[lines.index("Technique : 1") + 1] != "Modulo Bat":
        problems.append("Technique 1 is not Modulo Bat")
    start = lines.index("Modulo Bat") + 1
    if [line[:WIDTH].strip() for line in lines[start : start + len(ROWS)]] != list(ROWS):
        problems.append("row names differ from the BT-Lab layout")
    if len({len(line) for line in lines[start : start + len(ROWS)]}) != 1:
        problems.append("rows have different widths")
    for ns, seq in enumerate(table(text)):
        if seq["Ns"] != str(ns) or seq["ctrl_type"] not in CTRL_TYPES:
            problems.append(f"Ns {ns}: bad Ns or ctrl_type {seq['ctrl_type']!r}")
        if not 0 <= int(seq["lim_nb"]) <= 3:
            problems.append(f"Ns {ns}: lim_nb out of range")
        if seq["ctrl_type"] == "Loop" and not int(seq["ctrl_seq"]) < ns:
            problems.append(f"Ns {ns}: loop target not before the loop")
    return problems
