"""Arbin MITS Pro 7 schedule (``.sdu``) writer (vendors.md §2.1; layout of beep's template).

INI-like sections, cp1252, CRLF. Currents are signed (negative = discharge); C-rate steps
use the native ``C-Rate`` control type. Loops are emulated with ``Set Variable(s)``
steps on ``TC_Counter1..4`` (so at most 4 nested levels): a reset step before the body
and an increment step after it whose limits jump back while ``TC_Counterk < N``.
Refused: drive cycles (simulation-file format unconfirmed), EIS, ends a step cannot
reach, C-rate *end conditions* without ``nominal_capacity_ah``.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from ..model import Block, Step
from ._common import ExportResult, Loop, Node, Plan, SetPoint, Stop, plain

__all__ = ["check", "write"]

MAX_DEPTH = 4
CTRL = {"current": "Current(A)", "crate": "C-Rate", "voltage": "Voltage(V)", "power": "Power(W)"}
CTRL_TYPES = {"Rest", "Set Variable(s)", *CTRL.values()}
LEFT = {"PV_CHAN_Voltage", "PV_CHAN_Current", "PV_CHAN_Step_Time", "PV_CHAN_Charge_Capacity",
        "PV_CHAN_Discharge_Capacity", "DV_Time", "DV_Voltage", "DV_Current",
        *(f"TC_Counter{k}" for k in range(1, 5))}  # fmt: skip
SCHEDULE_HEAD = """m_uMUID=0
m_szCreator=ionworks
m_szComments={comments}
m_uMaxTimesOfUnsafe=3
m_fMinDtSeconds=5
m_bLogChanNormalData=1
m_bLogChanStatData=1
m_bLogChanAuxData=1
m_bLogSBData=0
m_bLogCANBMSData=0
m_bCheckCurrentSafety={check_i}
m_bDefaultCurrentSafetyMode=0
m_uDefaultCurrentSafetyScopePercent=105
m_CurrentSafetyScope={scope_i}
m_bCheckVoltageSafety={check_v}
m_bDefaultVoltageSafetyMode=0
m_uDefaultVoltageSafetyScopePercent=105
m_VoltageSafetyScope={scope_v}
m_bCheckPowerSafety=0
m_PowerSafetyScope=0.000000^0.000000
m_AuxSafetyEnabled=0^0 ; 1^0 ; 2^0 ; 3^0 ; 4^0 ; 5^0 ; 6^0 ; 7^0 ; 8^0 ; 9^0 ; 10^0 ; 11^0
m_AuxVoltSafetyScope=0.000000^0.000000
m_AuxTempSafetyScope=-100.000000^100.000000
m_AuxPresSafetyScope=0.000000^0.000000
m_AuxPHSafetyScope=0.000000^0.000000
m_AuxFlowrateSafetyScope=0.000000^0.000000
m_AuxDensitySafetyScope=0.000000^0.000000
m_uStepNum={steps}
m_uFormulaNum=0
m_uPulseNum=0
m_uCVNum=0
m_uAddInNum=0
m_iAppCategory=0
m_szOriginalInfo=
m_fSdlFactor_I=0.1
m_fSdlFactor_V=0.1
m_fSdlFactor_Capacity=1
m_fSdlFactor_Energy=1
m_fSdlFactor_Time=60
m_fMinDtCurrent=1
m_fMinDtVoltage=1
m_bNewCreate=0"""
STEP_TAIL = ("m_szExtDef=", "m_uStepCtrlTypeExtFlag=0", "m_szAddIn=", "m_bSampleClockStretch=0",
             "m_szUnitType=", "m_szExUnitType1=", "m_bSynchronizedStart=0", "m_bAutoPidTips=0",
             "m_nExtra1=0", "m_szExtDef1=", "m_bBurstModeEnable=0")  # fmt: skip
# (step limit?, goto, left, sign, right)
Limit = tuple[bool, str | Step | Block, str, str, str]


class _Writer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.steps: list[dict[str, object]] = []
        self.starts: dict[int, int] = {}
        self.safety = plan.safety()
        self.scoped = self._scopes()

    def _scopes(self) -> set[str]:
        """Safety keys written as global scopes (both sides given, both ending the test)."""
        plan, out = self.plan, set[str]()
        for pair in (
            ("voltage_min", "voltage_max"),
            ("discharge_current_max", "charge_current_max"),
        ):
            if all(k in self.safety and plan.safety_goto(k) == "End" for k in pair):
                out.update(pair)
        return out

    def add(
        self,
        name: str,
        ctrl: str,
        value: str = "",
        ext1: str = "",
        limits: list[Limit] | None = None,
    ) -> None:
        label = f"{len(self.steps) + 1}-{re.sub(r'[^A-Za-z0-9 _.-]', '_', name)[:40]}"
        self.steps.append({"label": label, "ctrl": ctrl, "value": value, "ext1": ext1,
                           "limits": limits or [(True, "Next Step", "PV_CHAN_Step_Time", ">", "0")]})  # fmt: skip

    def nodes(self, nodes: tuple[Node, ...]) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                k = node.depth
                self.starts.setdefault(id(node.block), len(self.steps))
                self.add(f"reset loop {k}", "Set Variable(s)", str(2 ** (k + 15)), "0")
                first = len(self.steps)
                self.nodes(node.body)
                target = self.steps[first]["label"]
                assert isinstance(target, str)
                limits: list[Limit] = [(True, target, f"TC_Counter{k}", "<", str(node.count)),
                                       (True, "Next Step", f"TC_Counter{k}", ">=", str(node.count))]  # fmt: skip
                self.add(f"loop {k} x{node.count}", "Set Variable(s)", "0", str(2**k), limits)
            else:
                self.starts.setdefault(id(node.step), len(self.steps))
                self.step(node.step)

    def goto(self, stop: Stop) -> str | Step | Block:
        if stop.goto is None:
            return "Next Step"
        return "End Test" if stop.goto == "End" else stop.goto

    def step(self, step: Step) -> None:
        plan = self.plan
        plan.check_step(step)
        point = plan.setpoint(step, native_crate=True)
        limits: list[Limit] = []
        for stop in plan.stops(step, native_crate=False):
            limits.append((True, self.goto(stop), *self.equation(step, point, stop)))
        for key, value in self.safety.items():
            if key in self.scoped:
                continue
            goto = plan.safety_goto(key)
            target: str | Step | Block = "End Test" if goto == "End" else plan.labels[goto]
            if key.startswith("voltage"):
                limits.append(
                    (
                        True,
                        target,
                        "PV_CHAN_Voltage",
                        "<" if key == "voltage_min" else ">",
                        plain(value),
                    )
                )
            elif (
                point is not None
                and point.kind != "voltage"
                and key.startswith("charge") == point.charge
            ):
                sign = ">" if point.charge else "<"
                limits.append(
                    (
                        True,
                        target,
                        "PV_CHAN_Current",
                        sign,
                        plain(value if point.charge else -value),
                    )
                )
        time, voltage, current = plan.resolution(step)
        for left, delta in (
            ("DV_Time", time or 60.0),
            ("DV_Voltage", voltage),
            ("DV_Current", current),
        ):
            if delta:
                limits.append((False, "Next Step", left, ">=", plain(delta)))
        name = step.label or step.kind
        if point is None:
            self.add(name, "Rest", limits=limits)
            return
        sign = "" if point.charge or point.kind == "voltage" else "-"
        self.add(name, CTRL[point.kind], sign + plain(point.value), limits=limits)

    def equation(self, step: Step, point: SetPoint | None, stop: Stop) -> tuple[str, str, str]:
        where = f"{stop.source or stop.kind!r}"
        if stop.kind == "time":
            return ("PV_CHAN_Step_Time", ">", plain(stop.value, 3))
        if stop.kind == "voltage":
            return ("PV_CHAN_Voltage", stop.op, plain(stop.value))
        if point is None:
            raise self.plan.error(step, "ends", f"{where}: a rest step cannot end on {stop.kind}")
        charge = point.charge
        if stop.kind == "current":
            flip = {">": "<", "<": ">"}
            op = stop.op if charge else flip[stop.op]
            return ("PV_CHAN_Current", op, plain(stop.value if charge else -stop.value))
        if stop.kind == "capacity":
            left = "PV_CHAN_Charge_Capacity" if charge else "PV_CHAN_Discharge_Capacity"
            return (left, stop.op, plain(stop.value))
        raise self.plan.error(step, "ends", f"{where}: not expressible on Arbin")

    def text(self) -> str:
        safety = self.safety
        scope_v = scope_i = "0.000000^0.000000"
        if "voltage_min" in self.scoped:
            scope_v = f"{safety['voltage_min']:.6f}^{safety['voltage_max']:.6f}"
        if "charge_current_max" in self.scoped:
            scope_i = f"{-safety['discharge_current_max']:.6f}^{safety['charge_current_max']:.6f}"
        digest = hashlib.sha256(repr(self.steps).encode()).hexdigest()
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ionworks:arbin:{digest}")).upper()
        head = SCHEDULE_HEAD.format(
            comments=self.plan.description().replace("[", "(").replace("]", ")"),
            check_i=int("charge_current_max" in self.scoped), scope_i=scope_i,
            check_v=int("voltage_min" in self.scoped), scope_v=scope_v, steps=len(self.steps),
        )  # fmt: skip
        lines = ["[Version Section]", "Current_Version=Schedule Version 7.00.13",
                 "[Signature Section]", f"Signature={{{guid}}}", "[Schedule]", *head.split("\n")]  # fmt: skip
        for i, step in enumerate(self.steps):
            limits = step["limits"]
            assert isinstance(limits, list)
            lines += [f"[Schedule_Step{i}]", f"m_uLimitNum={len(limits)}", f"m_szLabel={step['label']}",
                      f"m_szStepCtrlType={step['ctrl']}", "m_szCurrentRange=Range1",
                      "m_szVoltageRange=High", f"m_szCtrlValue={step['value']}",
                      f"m_szExtCtrlValue1={step['ext1']}", "m_szExtCtrlValue2=0", *STEP_TAIL]  # fmt: skip
            for j, (ends, goto, left, sign, right) in enumerate(limits):
                if not isinstance(goto, str):
                    goto = str(self.steps[self.plan.start(self.starts, goto)]["label"])
                lines += [f"[Schedule_Step{i}_Limit{j}]", f"m_bStepLimit={int(ends)}",
                          "m_bLogDataLimit=1", f"m_szGotoStep={goto}", f"Equation0_szLeft={left}",
                          f"Equation0_szCompareSign={sign}", f"Equation0_szRight={right}",
                          *(f"Equation{n}_sz{part}=" for n in (1, 2) for part in ("Left", "CompareSign", "Right"))]  # fmt: skip
        for k in range(16):
            lines += [
                f"[Schedule_UserDefineSafety{k}]",
                "m_szSafetyType=",
                "m_fMinValue=0",
                "m_fMaxValue=0",
            ]
        return "\r\n".join(lines) + "\r\n"


def write(plan: Plan, stem: str) -> ExportResult:
    """The ``.sdu`` schedule."""
    plan.max_depth(MAX_DEPTH)
    writer = _Writer(plan)
    writer.nodes(plan.nodes)
    return ExportResult("arbin", f"{stem}.sdu", writer.text().encode("cp1252"), "text/plain")


def sections(text: str) -> dict[str, dict[str, str]]:
    """``{section: {key: value}}`` of a schedule."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key] = value
    return out


def check(result: ExportResult) -> list[str]:
    """Structural problems of a schedule (empty when well-formed)."""
    data = sections(result.primary_bytes.decode("cp1252"))
    problems: list[str] = []
    count = int(data["Schedule"]["m_uStepNum"])
    steps = [data.get(f"Schedule_Step{i}") for i in range(count)]
    if None in steps or f"Schedule_Step{count}" in data:
        return ["m_uStepNum does not match the Step sections"]
    labels = [s["m_szLabel"] for s in steps if s]
    if len(set(labels)) != len(labels):
        problems.append("duplicate labels")
    for i, step in enumerate(steps):
        assert step is not None
        if step["m_szStepCtrlType"] not in CTRL_TYPES:
            problems.append(f"step {i}: unknown control type")
        for j in range(int(step["m_uLimitNum"])):
            limit = data.get(f"Schedule_Step{i}_Limit{j}")
            if limit is None:
                problems.append(f"step {i}: missing Limit{j}")
                continue
            if limit["m_szGotoStep"] not in ("Next Step", "End Test", *labels):
                problems.append(f"step {i} limit {j}: unknown goto {limit['m_szGotoStep']!r}")
            if limit["Equation0_szLeft"] not in LEFT:
                problems.append(f"step {i} limit {j}: unknown variable")
    for key in ("m_VoltageSafetyScope", "m_CurrentSafetyScope"):
        low, _, high = data["Schedule"][key].partition("^")
        try:
            float(low), float(high)
        except ValueError:
            problems.append(f"{key} is not float^float")
    return problems
