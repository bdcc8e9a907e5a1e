"""Export-time validation: every documented unsupported construct is refused, naming the
target, the step and the reason; capacity rules; arbin_sdx; unknown targets."""

from __future__ import annotations

import pytest

from ionworks.ucp.export import ExportError, export
from tests.ucp.export_protocols import CCCV, DRIVE, DRIVE_SAMPLES, TARGETS


def wrap(step: str, safety: str = "") -> str:
    return f"{safety}\nsteps:\n  - Rest: {{duration: 10}}\n  - {step}\n"


# (construct, step yaml, optional safety block, step number named)
COMMON = [
    ("input", 'Charge: {mode: Current, value: input["I"], ends: ["Voltage > 4.2"]}', "", 2),
    ("d/dt", 'Charge: {mode: Current, value: 1, ends: ["d/dt(Voltage) < 0.001"]}', "", 2),
    ("temperature end", 'Charge: {mode: Current, value: 1, ends: ["Temperature > 45"]}', "", 2),
    ("resistance", 'Discharge: {mode: Resistance, value: 2, ends: ["Voltage < 3"]}', "", 2),
    ("soak", "Ambient temperature: {value: 30, duration: 60}", "", 2),
    ("step temperature", "Rest: {duration: 10, temperature: 40}", "", 2),
    ("set_variable", "Rest: {duration: 10, set_variable: [VAR1]}", "", 2),
    ("EIS", "EIS: {start_frequency: 1000, end_frequency: 1, points_per_decade: 5, amplitude: 0.01}", "", 2),
]  # fmt: skip


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("construct", "step", "safety", "number"), COMMON, ids=[c[0] for c in COMMON]
)
def test_common_rejections(
    target: str, construct: str, step: str, safety: str, number: int
) -> None:
    with pytest.raises(ExportError) as info:
        export(wrap(step, safety), target, nominal_capacity_ah=1.0)
    message = str(info.value)
    assert f"cannot export to {target!r}" in message
    assert f"step {number} (steps[1]." in message


@pytest.mark.parametrize("target", TARGETS)
def test_temperature_safety_limits_rejected(target: str) -> None:
    text = "safety_limits: {temperature_max: 50}\nsteps:\n  - Rest: {duration: 10}\n"
    with pytest.raises(ExportError, match="safety_limits: temperature_max"):
        export(text, target)


@pytest.mark.parametrize("target", ["arbin", "neware", "biologic_bttest", "novonix"])
def test_drive_cycles_rejected_except_maccor(target: str) -> None:
    with pytest.raises(ExportError, match=r"step 2 \(steps\[1\]\.Drive\): drive cycle"):
        export(DRIVE, target, drive_cycles=DRIVE_SAMPLES, nominal_capacity_ah=1.0)


TARGETED = [
    ("maccor", 'Charge: {mode: Current, value: 1, ends: ["Capacity > 1"]}', "", "capacity end"),
    ("maccor", "Drive: {drive_cycle: us06, ends: [\"Voltage < 2.5\"], mode: Voltage}", "", "not voltage"),
    ("maccor", "Drive: {drive_cycle: us06, ends: [\"Voltage < 2.5\"]}", "", "need a 'Voltage > x'"),
    ("maccor", 'Drive: {drive_cycle: us06, ends: ["Voltage < 2.5", "Voltage > 4.2", "Current > 1"]}', "", "segment ends only on"),
    ("maccor", 'Drive: {drive_cycle: us06, ends: ["Voltage < 2.5", "Voltage > 4.2"]}',
     "safety_limits: {voltage_min: 2}", "safety"),
    ("maccor", 'Drive: {drive_cycle: nope, ends: ["Voltage < 2.5"]}', "", "missing drive cycle 'nope'"),
    ("arbin", 'Charge: {mode: Voltage, value: 4.2, ends: ["C-rate < 0.05"]}', "", "nominal_capacity_ah"),
    ("neware", 'Discharge: {mode: Power, value: 5, ends: ["Voltage < 3"]}', "", "constant-power"),
    ("neware", 'Charge: {mode: Current, value: 1, ends: [{condition: "Voltage > 4.2", goto: End}]}', "", "goto"),
    ("neware", 'Charge: {mode: Current, value: 1, ends: ["Current < 0.5"]}', "", "current end"),
    ("neware", 'Charge: {mode: Current, value: 1, ends: ["Voltage < 3"]}', "", "moves towards"),
    ("neware", 'Charge: {mode: Voltage, value: 4.2, ends: ["Capacity > 1"]}', "", "capacity end"),
    ("neware", "Rest: {duration: 10, ends: [\"Voltage > 4\"]}", "", "time only"),
    ("neware", 'Charge: {mode: C-rate, value: 1, ends: ["Voltage > 4.2"]}', "", "nominal_capacity_ah"),
    ("biologic_bttest", 'Charge: {mode: Current, value: 1, ends: ["Capacity > 1"]}', "", "capacity limit"),
    ("biologic_bttest", 'Charge: {mode: Current, value: 1, duration: 5, ends: ["Voltage > 4.2", "Voltage < 2", "Current > 3"]}', "", "allows 3"),
    ("biologic_bttest", 'Charge: {mode: Voltage, value: 6, ends: ["Current < 0.1"]}', "", "outside"),
    ("biologic_bttest", 'Charge: {mode: Current, value: 20, ends: ["Voltage > 4.2"]}', "", "10 A"),
    ("biologic_bttest", 'Charge: {mode: C-rate, value: 1, ends: ["Voltage > 4.2"]}', "", "nominal_capacity_ah"),
    ("novonix", 'Charge: {mode: Voltage, value: 4.2, ends: ["Current < 0.1"]}', "", "CV-only"),
    ("novonix", 'Discharge: {mode: Power, value: 5, ends: ["Voltage < 3"]}', "", "constant-power"),
    ("novonix", 'Discharge: {mode: Current, value: 1, duration: 10}', "", "cut-off"),
    ("novonix", 'Charge: {mode: Current, value: 1, ends: [{condition: "Voltage > 4.2", goto: End}]}', "", "jump"),
    ("novonix", 'Rest: {ends: ["Voltage > 4"]}', "", "duration"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "step", "safety", "reason"), TARGETED)
def test_target_rejections(target: str, step: str, safety: str, reason: str) -> None:
    capacity = None if reason == "nominal_capacity_ah" else 1.0
    with pytest.raises(ExportError) as info:
        export(wrap(step, safety), target, nominal_capacity_ah=capacity, drive_cycles=DRIVE_SAMPLES)
    message = str(info.value)
    assert f"cannot export to {target!r}: step 2" in message and "steps[1]." in message
    assert reason in message


SAFETY = [
    ("biologic_bttest", "safety_limits: {charge_current_max: 5}", "single |I|"),
    (
        "biologic_bttest",
        "safety_limits: {voltage_min: {value: 2.5, goto: Rec}}",
        "only end the test",
    ),
    ("neware", "safety_limits: {voltage_min: {value: 2.5, goto: Rec}}", "only end the test"),
    (
        "novonix",
        "safety_limits: {charge_current_max: 5, discharge_current_max: 4}",
        "absolute current",
    ),
]


@pytest.mark.parametrize(("target", "safety", "reason"), SAFETY)
def test_safety_rejections(target: str, safety: str, reason: str) -> None:
    text = f"{safety}\nsteps:\n  - Rest: {{duration: 10, name: Rec}}\n"
    with pytest.raises(ExportError, match="safety") as info:
        export(text, target)
    assert reason in str(info.value)


def test_safety_goto_label_allowed_on_maccor_and_arbin() -> None:
    text = "safety_limits: {voltage_min: {value: 2.5, goto: Rec}}\nsteps:\n  - Rest: {duration: 10}\n  - Rest: {duration: 10, name: Rec}\n"
    import xml.etree.ElementTree as ET

    steps = ET.fromstring(export(text, "maccor").primary_bytes).findall("./ProcSteps/TestStep")
    assert steps[0].findall("./Ends/EndEntry/Step")[1].text == "002"
    assert b"m_szGotoStep=2-Rec" in export(text, "arbin").primary_bytes


@pytest.mark.parametrize("depth", [5])
@pytest.mark.parametrize("target", ["maccor", "arbin"])
def test_nesting_deeper_than_four_rejected(target: str, depth: int) -> None:
    body = "Rest: {duration: 1}"
    for level in range(depth):
        body = f"L{level}: {{repeat: 2, steps: [{{{body}}}]}}"
    with pytest.raises(ExportError, match="nested 5 loops deep; the target allows at most 4"):
        export(f"steps:\n  - {body}\n", target)
    with pytest.raises(ExportError, match="step 1"):
        export(f"steps:\n  - {body}\n", target)


@pytest.mark.parametrize("target", ["neware", "biologic_bttest"])
def test_capacity_required_for_c_rates(target: str) -> None:
    with pytest.raises(ExportError, match=r"step 1 \(steps\[0\]\..*nominal_capacity_ah"):
        export(CCCV, target)
    assert export(CCCV, target, nominal_capacity_ah=2.0).primary_bytes


@pytest.mark.parametrize("target", ["maccor", "arbin", "novonix"])
def test_native_c_rate_targets_need_no_capacity(target: str) -> None:
    assert export(CCCV, target).primary_bytes


def test_arbin_sdx_not_supported_yet() -> None:
    with pytest.raises(ExportError, match=r"arbin_sdx.*not supported yet"):
        export(CCCV, "arbin_sdx")


@pytest.mark.parametrize("stem", ["", "../x", "a/b", "a\\b", "x" * 101, "..", ".hidden"])
def test_bad_stems(stem: str) -> None:
    with pytest.raises(ExportError, match="filename_stem"):
        export(CCCV, "maccor", filename_stem=stem)


def test_unknown_target_and_bad_capacity() -> None:
    with pytest.raises(ExportError, match="unknown target"):
        export(CCCV, "gamry")
    with pytest.raises(ExportError, match="must be > 0"):
        export(CCCV, "neware", nominal_capacity_ah=0)


def test_unresolved_repeat_and_global_inputs() -> None:
    text = 'steps:\n  - B: {repeat: input["N"], steps: [{Rest: {duration: 1}}]}\n'
    with pytest.raises(ExportError, match="input"):
        export(text, "maccor")
