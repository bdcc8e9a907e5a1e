"""Our exporters' files read back by independent third-party code (``nox -s vendors``).

beep reads the Maccor ``.000`` (``Procedure.from_file``), the Arbin ``.sdu``
(``Schedule.from_file``) and the BT-Lab ``.mps`` (``Settings.from_file``);
aurora-unicycler builds the same protocols itself and its Neware/BioLogic output is
compared with ours step by step. Skipped when the packages are not installed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

beep_maccor = pytest.importorskip("beep.protocol.maccor")
beep_arbin = pytest.importorskip("beep.protocol.arbin")
beep_biologic = pytest.importorskip("beep.protocol.biologic")
aurora = pytest.importorskip("aurora_unicycler")

from ionworks.ucp.export import export  # noqa: E402
from tests.ucp.export_protocols import CCCV, CLOCK, CYCLING, DRIVE, DRIVE_SAMPLES  # noqa: E402

CAP_AH = 5.0


def save(tmp_path: Path, target: str, text: str, cap: float = CAP_AH, **kw: Any) -> Path:
    result = export(text, target, nominal_capacity_ah=cap, clock=CLOCK, **kw)
    paths = []
    for name, data in [(result.primary_filename, result.primary_bytes), *result.assets]:
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    return paths[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("text", [CCCV, CYCLING, DRIVE])
def test_beep_reads_maccor(tmp_path: Path, text: str) -> None:
    path = save(tmp_path, "maccor", text, drive_cycles=DRIVE_SAMPLES)
    procedure = beep_maccor.Procedure.from_file(str(path))
    steps = procedure["MaccorTestProcedure"]["ProcSteps"]["TestStep"]
    ours = ET.fromstring(path.read_bytes()).findall("./ProcSteps/TestStep")
    assert len(steps) == len(ours)
    assert [s["StepType"] for s in steps] == [o.findtext("StepType", "").strip() for o in ours]
    for step, mine in zip(steps, ours, strict=True):
        ends = step["Ends"]["EndEntry"] if step["Ends"] else []
        assert len(as_list(ends)) == len(mine.findall("./Ends/EndEntry"))


@pytest.mark.parametrize("text", [CCCV, CYCLING])
def test_beep_reads_arbin(tmp_path: Path, text: str) -> None:
    path = save(tmp_path, "arbin", text)
    schedule = beep_arbin.Schedule.from_file(str(path))
    head = schedule["Schedule"]
    count = int(head["m_uStepNum"])
    labels = [head[f"Step{i}"]["m_szLabel"] for i in range(count)]
    assert len(set(labels)) == count
    for i in range(count):
        step = head[f"Step{i}"]
        for j in range(int(step["m_uLimitNum"])):
            goto = step[f"Limit{j}"]["m_szGotoStep"]
            assert goto in ("Next Step", "End Test", *labels)


def test_beep_reads_biologic_table(tmp_path: Path) -> None:
    path = save(tmp_path, "biologic_bttest", CCCV)  # beep's reader rejects a Safety block
    settings = beep_biologic.Settings.from_file(str(path))
    steps = settings["Technique"]["1"]["Step"]
    assert [steps[k]["ctrl_type"] for k in sorted(steps, key=int)] == ["CC", "CV", "CC"]
    assert steps["1"]["ctrl1_val"] == "5000.000" and steps["3"]["lim1_type"] == "Ecell"


def aurora_protocol(cccv: bool, scale: float = 1.0) -> Any:
    """The CCCV or CYCLING protocol built with aurora-unicycler (currents × ``scale``)."""
    cap_mah = CAP_AH * 1000 * scale
    if cccv:
        method = [
            aurora.ConstantCurrent(rate_C=1, until_voltage_V=4.2),
            aurora.ConstantVoltage(voltage_V=4.2, until_current_mA=50 * scale),
            aurora.ConstantCurrent(rate_C=-1, until_voltage_V=2.7),
        ]
    else:  # the CYCLING protocol without its current safety limit
        method = [
            aurora.OpenCircuitVoltage(until_time_s=600),
            aurora.ConstantCurrent(current_mA=2500 * scale, until_voltage_V=4.2),
            aurora.ConstantVoltage(voltage_V=4.2, until_current_mA=100 * scale, until_time_s=3600),
            aurora.ConstantCurrent(current_mA=-5000 * scale, until_time_s=10, until_voltage_V=2.6),
            aurora.OpenCircuitVoltage(until_time_s=30),
            aurora.Loop(loop_to=4, cycle_count=2),
            aurora.ConstantCurrent(current_mA=-2500 * scale, until_voltage_V=2.7),
            aurora.Loop(loop_to=2, cycle_count=3),
        ]
    return aurora.CyclingProtocol(
        sample=aurora.SampleParams(name="cell", capacity_mAh=cap_mah),
        record=aurora.RecordParams(time_s=10),
        safety=aurora.SafetyParams(max_voltage_V=4.3, min_voltage_V=2.5),
        method=method,
    )


OURS_CYCLING = CYCLING.replace("  charge_current_max: 6\n  discharge_current_max: 6\n", "")
SMALL_CYCLING = (
    OURS_CYCLING.replace("value: 2.5,", "value: 0.25,").replace("value: 5,", "value: 0.5,")
    .replace("Current < 0.1", "Current < 0.01")
)  # fmt: skip
SMALL_CCCV = CCCV.replace("Current < 0.05", "Current < 0.005")


def neware_steps(text: str) -> list[tuple[str, dict[str, float]]]:
    info = ET.fromstring(text).find("./config/Step_Info")
    assert info is not None
    return [
        (
            s.get("Step_Type", ""),
            {c.tag: float(c.get("Value", "0")) for c in s.iter() if c.get("Value")},
        )
        for s in info
    ]


@pytest.mark.parametrize("cccv", [True, False], ids=["cccv", "cycling"])
def test_neware_matches_aurora(tmp_path: Path, cccv: bool) -> None:
    theirs = aurora_protocol(cccv).to_neware_xml()
    ours = save(tmp_path, "neware", CCCV if cccv else OURS_CYCLING).read_text("utf-8")
    assert neware_steps(ours) == neware_steps(theirs)
    if not cccv:
        protect = ".//Whole_Prt/Protect/Main/Volt/"
        for tag in ("Upper", "Lower"):
            mine, other = (
                ET.fromstring(ours).find(protect + tag),
                ET.fromstring(theirs).find(protect + tag),
            )
            assert mine is not None and other is not None
            assert float(mine.get("Value", "")) == float(other.get("Value", ""))


def mps_table(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    start = lines.index("Modulo Bat") + 1
    rows = [line for line in lines[start:] if line.strip()]
    count = max(len(r) for r in rows) // 20 - 1
    return [
        {r[:20].strip(): r[20 * i : 20 * (i + 1)].strip() for r in rows}
        for i in range(1, count + 1)
    ]


def semantic(seq: dict[str, str]) -> tuple[Any, ...]:
    lims = tuple(
        (
            seq[f"lim{k}_type"].replace("Ewe", "Ecell"),
            seq[f"lim{k}_comp"],
            float(seq[f"lim{k}_value"]),
        )
        for k in range(1, int(seq["lim_nb"]) + 1)
    )
    value = float(seq["ctrl1_val"]) if seq["ctrl1_val"] else None
    loop = (seq["ctrl_seq"], seq["ctrl_repeat"]) if seq["ctrl_type"] == "Loop" else None
    return (seq["ctrl_type"], value, seq["ctrl1_val_unit"], sorted(lims), loop)


@pytest.mark.parametrize("cccv", [True, False], ids=["cccv", "cycling"])
def test_biologic_matches_aurora(tmp_path: Path, cccv: bool) -> None:
    theirs = aurora_protocol(cccv, scale=0.1).to_biologic_mps()  # aurora's I ranges stop at 1 A
    text = SMALL_CCCV if cccv else SMALL_CYCLING
    ours = save(tmp_path, "biologic_bttest", text, cap=CAP_AH * 0.1).read_bytes().decode("cp1252")
    assert [semantic(s) for s in mps_table(ours)] == [semantic(s) for s in mps_table(theirs)]
