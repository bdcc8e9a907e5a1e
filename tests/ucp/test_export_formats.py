"""Structural checks of every exporter: parse the output back and compare with the UCP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ionworks.ucp.export import ExportError, export, parse_samples
from ionworks.ucp.export.arbin import sections
from ionworks.ucp.export.biologic import ROWS, table
from tests.ucp.export_protocols import CCCV, CLOCK, CYCLING, DRIVE, DRIVE_SAMPLES, TARGETS

CAP = 5.0


def run(text: str, target: str, **kw: object) -> object:
    kw.setdefault("nominal_capacity_ah", CAP)
    return export(text, target, clock=CLOCK, verify=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("text", [CCCV, CYCLING], ids=["cccv", "cycling"])
def test_every_target_exports_and_verifies(target: str, text: str) -> None:
    result = run(text, target)
    assert result.target == target  # type: ignore[attr-defined]
    assert result.primary_bytes  # type: ignore[attr-defined]
    again = run(text, target)
    assert again.primary_bytes == result.primary_bytes  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("target", "name"),
    [("maccor", "protocol.000"), ("arbin", "protocol.sdu"), ("neware", "protocol.xml"),
     ("biologic_bttest", "protocol.mps"), ("novonix", "protocol.pro2")],
)  # fmt: skip
def test_file_names(target: str, name: str) -> None:
    assert run(CCCV, target).primary_filename == name  # type: ignore[attr-defined]
    assert run(CCCV, target, filename_stem="cell A").primary_filename.startswith("cell A.")  # type: ignore[attr-defined]


# --- Maccor ---------------------------------------------------------------------------


def maccor_steps(data: bytes) -> list[ET.Element]:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\r\n<?maccor-application')
    root = ET.fromstring(data)
    assert root.tag == "MaccorTestProcedure"
    return root.findall("./ProcSteps/TestStep")


def test_maccor_cccv() -> None:
    steps = maccor_steps(run(CCCV, "maccor").primary_bytes)  # type: ignore[attr-defined]
    assert [s.findtext("StepType") for s in steps] == [
        " Charge ",
        " Charge ",
        "Dischrge",
        "  End   ",
    ]
    assert [s.findtext("StepMode") for s in steps[:3]] == ["Current ", "Voltage ", "Current "]
    assert [s.findtext("StepValue") for s in steps[:3]] == ["1C", "4.2", "1C"]
    ends = [[(e.findtext("EndType"), e.findtext("Oper"), e.findtext("Step"), e.findtext("Value"))
             for e in s.iter("EndEntry")] for s in steps]  # fmt: skip
    assert ends[0] == [("Voltage ", ">= ", "002", "4.2")]
    assert ends[1] == [("Current ", "<= ", "003", "0.05")]
    assert ends[2] == [("Voltage ", "<= ", "004", "2.7")]
    assert all(len(list(s)) == 11 for s in steps)


def test_maccor_loops_and_safety() -> None:
    steps = maccor_steps(run(CYCLING, "maccor").primary_bytes)  # type: ignore[attr-defined]
    kinds = [s.findtext("StepType", "").strip() for s in steps]
    assert kinds == ["Rest", "Do 1", "Charge", "Charge", "Do 2", "Dischrge", "Rest", "Loop 2",
                     "Dischrge", "Loop 1", "End"]  # fmt: skip
    loop1, loop2 = steps[9], steps[7]
    assert loop1.findtext("./Ends/EndEntry/EndType") == "Loop Cnt"
    assert loop1.findtext("./Ends/EndEntry/Value") == "3"
    assert loop1.findtext("./Ends/EndEntry/Step") == "011"
    assert loop2.findtext("./Ends/EndEntry/Value") == "2"
    assert loop2.findtext("./Ends/EndEntry/Step") == "009"
    rest = [(e.findtext("EndType"), e.findtext("Oper"), e.findtext("Step"), e.findtext("Value"))
            for e in steps[0].iter("EndEntry")]  # fmt: skip
    assert rest == [("StepTime", " = ", "002", "00:10:00"), ("Voltage ", "<= ", "011", "2.5"),
                    ("Voltage ", ">= ", "011", "4.3")]  # fmt: skip
    flags = [e.findtext("ChanSafetyEnd") for e in steps[0].iter("EndEntry")]
    assert flags == [None, "True", "True"]  # marked on the first step only
    assert not steps[2].findall("./Ends/EndEntry/ChanSafetyEnd")
    charge = [(e.findtext("EndType"), e.findtext("Value")) for e in steps[2].iter("EndEntry")]
    assert ("Current ", "6") in charge  # charge current bound on charge steps only
    assert steps[0].findtext("./Reports/ReportEntry/Value") == "00:00:10"


def test_maccor_drive_cycle_mwf() -> None:
    result = run(DRIVE, "maccor", drive_cycles=DRIVE_SAMPLES)
    steps = maccor_steps(result.primary_bytes)  # type: ignore[attr-defined]
    assert steps[1].findtext("StepType") == "FastWave"
    assert steps[1].findtext("StepValue") == "us06"
    [(name, content)] = result.assets  # type: ignore[attr-defined]
    assert name == "us06.MWF"
    lines = [line.split("\t") for line in content.decode("ascii").split("\r\n") if line]
    assert all(len(fields) == 12 for fields in lines)
    assert [(f[0], f[1], f[2], f[5], f[7], f[8]) for f in lines] == [
        ("D", "I", "1", "2", "<=", "2.5"), ("C", "I", "0.5", "1", ">=", "4.25"),
        ("D", "I", "0", "1", "<=", "2.5"), ("D", "I", "2", "1", "<=", "2.5"),
    ]  # fmt: skip


# --- Arbin ----------------------------------------------------------------------------


def test_arbin_cccv() -> None:
    data = run(CCCV, "arbin").primary_bytes  # type: ignore[attr-defined]
    assert b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")
    s = sections(data.decode("cp1252"))
    assert s["Schedule"]["m_uStepNum"] == "3"
    steps = [s[f"Schedule_Step{i}"] for i in range(3)]
    assert [(x["m_szStepCtrlType"], x["m_szCtrlValue"]) for x in steps] == [
        ("C-Rate", "1"), ("Voltage(V)", "4.2"), ("C-Rate", "-1")]  # fmt: skip
    lim = s["Schedule_Step1_Limit0"]
    assert (lim["Equation0_szLeft"], lim["Equation0_szCompareSign"], lim["Equation0_szRight"]) == (
        "PV_CHAN_Current", "<", "0.05")  # fmt: skip


def test_arbin_loops_counters_and_scopes() -> None:
    s = sections(run(CYCLING, "arbin").primary_bytes.decode("cp1252"))  # type: ignore[attr-defined]
    count = int(s["Schedule"]["m_uStepNum"])
    steps = [s[f"Schedule_Step{i}"] for i in range(count)]
    kinds = [x["m_szStepCtrlType"] for x in steps]
    assert kinds == ["Rest", "Set Variable(s)", "Current(A)", "Voltage(V)", "Set Variable(s)",
                     "Current(A)", "Rest", "Set Variable(s)", "Current(A)", "Set Variable(s)"]  # fmt: skip
    assert steps[1]["m_szCtrlValue"] == str(2**16)  # reset TC_Counter1
    assert steps[9]["m_szExtCtrlValue1"] == "2"  # increment TC_Counter1
    back = s["Schedule_Step9_Limit0"]
    assert back["Equation0_szLeft"] == "TC_Counter1" and back["Equation0_szRight"] == "3"
    assert back["m_szGotoStep"] == steps[2]["m_szLabel"]
    assert s["Schedule_Step7_Limit0"]["m_szGotoStep"] == steps[5]["m_szLabel"]
    assert s["Schedule"]["m_VoltageSafetyScope"] == "2.500000^4.300000"
    assert s["Schedule"]["m_CurrentSafetyScope"] == "-6.000000^6.000000"
    assert steps[8]["m_szCtrlValue"] == "-2.5"


# --- Neware ---------------------------------------------------------------------------


def neware_steps(data: bytes) -> tuple[ET.Element, list[ET.Element]]:
    root = ET.fromstring(data)
    config = root.find("./config[@type='Step File']")
    assert config is not None
    info = config.find("Step_Info")
    assert info is not None and info.get("Num") == str(len(info))
    return config, list(info)


def test_neware_cccv_units() -> None:
    config, steps = neware_steps(run(CCCV, "neware").primary_bytes)  # type: ignore[attr-defined]
    assert config.get("date") == "20240102030405"
    assert [s.get("Step_Type") for s in steps] == ["1", "3", "2", "6"]
    main = {s.tag: {c.tag: c.get("Value") for c in s.iter() if c.get("Value")} for s in steps}
    assert main["Step1"] == {"Rate": "1", "Curr": "5000", "Stop_Volt": "42000"}
    assert main["Step2"]["Volt"] == "42000" and main["Step2"]["Stop_Curr"] == "50"
    assert main["Step3"]["Stop_Volt"] == "27000"
    assert config.find("./Head_Info/MultCap").get("Value") == "18000000"  # type: ignore[union-attr]


def test_neware_cycles_and_protect() -> None:
    config, steps = neware_steps(run(CYCLING, "neware").primary_bytes)  # type: ignore[attr-defined]
    types = [s.get("Step_Type") for s in steps]
    assert types == ["4", "1", "3", "2", "4", "5", "2", "5", "6"]
    inner, outer = steps[5], steps[7]
    assert inner.find("./Limit/Other/Start_Step").get("Value") == "4"  # type: ignore[union-attr]
    assert inner.find("./Limit/Other/Cycle_Count").get("Value") == "2"  # type: ignore[union-attr]
    assert outer.find("./Limit/Other/Start_Step").get("Value") == "2"  # type: ignore[union-attr]
    assert outer.find("./Limit/Other/Cycle_Count").get("Value") == "3"  # type: ignore[union-attr]
    assert steps[0].find("./Limit/Main/Time").get("Value") == "600000"  # type: ignore[union-attr]
    protect = config.find("./Whole_Prt/Protect/Main")
    assert protect is not None
    assert protect.find("./Volt/Upper").get("Value") == "43000"  # type: ignore[union-attr]
    assert protect.find("./Curr/Lower").get("Value") == "-6000"  # type: ignore[union-attr]
    assert config.find("./Whole_Prt/Record/Main/Time").get("Value") == "10000"  # type: ignore[union-attr]


# --- BioLogic -------------------------------------------------------------------------


def test_biologic_cccv_table() -> None:
    data = run(CCCV, "biologic_bttest").primary_bytes  # type: ignore[attr-defined]
    text = data.decode("cp1252")
    assert (
        text.startswith("BT-LAB SETTING FILE\r\n") and "\r\nTechnique : 1\r\nModulo Bat\r\n" in text
    )
    assert "Battery capacity : 5000.000 mA.h" in text
    seqs = table(text)
    assert len(seqs[0]) == len(ROWS) == 62
    assert [(q["ctrl_type"], q["ctrl1_val"], q["ctrl1_val_unit"]) for q in seqs] == [
        ("CC", "5000.000", "mA"), ("CV", "4.200", "V"), ("CC", "-5000.000", "mA")]  # fmt: skip
    assert [(q["lim_nb"], q["lim1_type"], q["lim1_comp"], q["lim1_value"]) for q in seqs] == [
        ("1", "Ecell", ">", "4.200"), ("1", "|I|", "<", "50.000"), ("1", "Ecell", "<", "2.700")]  # fmt: skip
    assert seqs[1]["I Range"] == "10 A"  # inherited from the CC step


def test_biologic_loops_and_safety() -> None:
    text = run(CYCLING, "biologic_bttest").primary_bytes.decode("cp1252")  # type: ignore[attr-defined]
    assert "\tEcell min = 2.50000 V\r\n\tEcell max = 4.30000 V\r\n\t|I| = 6000.00000 mA" in text
    seqs = table(text)
    assert [q["ctrl_type"] for q in seqs] == [
        "Rest",
        "CC",
        "CV",
        "CC",
        "Rest",
        "Loop",
        "CC",
        "Loop",
    ]
    assert (seqs[5]["ctrl_seq"], seqs[5]["ctrl_repeat"]) == ("3", "1")
    assert (seqs[7]["ctrl_seq"], seqs[7]["ctrl_repeat"]) == ("1", "2")
    assert (seqs[3]["lim_nb"], seqs[3]["lim1_type"], seqs[3]["lim1_value"]) == (
        "2",
        "Time",
        "10.000",
    )
    assert seqs[0]["rec1_value"] == "10.000"


# --- Novonix --------------------------------------------------------------------------


def test_novonix_cccv_merged() -> None:
    text = run(CCCV, "novonix").primary_bytes.decode("utf-8")  # type: ignore[attr-defined]
    lines = text.split("\r\n")
    assert lines[:3] == [
        "Novonix HPC Protocol File",
        "Version:3.0.2.3",
        "Date Saved:2024-01-02 03:04:05",
    ]
    assert "[CC-CV charge]\r\n   [Maximum_current 5 A]\r\n   [Charge_voltage 4.2 V]" in text
    assert "      [0 End step if absolute current is less than 0.05 A]" in lines
    assert (
        "[Constant current discharge]\r\n   [Discharge_current 5 A]\r\n   [Discharge_voltage 2.7 V]"
        in text
    )
    native = export(CCCV, "novonix", clock=CLOCK).primary_bytes.decode("utf-8")
    assert "[Maximum_current 1 C]" in native


def test_novonix_repeat_blocks() -> None:
    text = run(CYCLING, "novonix").primary_bytes.decode("utf-8")  # type: ignore[attr-defined]
    lines = text.split("\r\n")
    assert lines.count("[Repeat the step(s) below]") == 1
    assert "   [Repeat the step(s) below]" in lines
    assert "   [Repeat count 3]" in lines and "      [Repeat count 2]" in lines
    assert "   [Step count 5]" in lines and "      [Step count 2]" in lines
    assert "   [0 Stop channel if voltage < 2.5000 V or if voltage > 4.3000 V]" in lines
    assert "   [Storage_time 10 minutes]" in lines


# --- samples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "samples",
    ["0,1\n1,2\n", "Time [s],Current [A]\n0,1\n1,2\n", [[0, 1], [1, 2]],
     {"time": [0, 1], "value": [1, 2]}, {"Time [s]": [5, 6], "Current [A]": [1, 2]}],
)  # fmt: skip
def test_sample_forms(samples: object) -> None:
    assert parse_samples(samples) == [(0.0, 1.0), (1.0, 2.0)]


@pytest.mark.parametrize(
    "samples", ["", "0,1\n", [[0, 1], [0, 2]], {"a": [1], "b": [2], "c": [3]}, 5]
)
def test_bad_samples(samples: object) -> None:
    with pytest.raises(ValueError, match="invalid drive-cycle samples"):
        parse_samples(samples)


def test_waveform_inline_samples_on_maccor() -> None:
    text = """
steps:
  - Waveform: {waveform: {time: [0, 10, 20], value: [1, -1, 0]}, ends: ["Voltage < 2.5", "Voltage > 4.2"]}
"""
    result = export(text, "maccor")
    [(name, content)] = result.assets
    assert name == "protocol_wave.MWF"
    assert content.count(b"\r\n") == 2


def test_export_accepts_mapping_and_parsed() -> None:
    from ionworks.ucp import parse

    a = export(parse(CCCV), "maccor").primary_bytes
    assert a == export(CCCV, "maccor").primary_bytes
    with pytest.raises(ExportError, match="invalid protocol"):
        export("steps: []", "maccor")
