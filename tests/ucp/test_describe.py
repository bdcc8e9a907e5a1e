"""``ionworks.ucp.describe``: a protocol as readable text, one line per step."""

from __future__ import annotations

import pytest

from ionworks import ucp
from ionworks.ucp.describe import describe, duration_text, number_text
from tests.ucp import protocols as P


def text(protocol: str) -> str:
    return describe(ucp.parse(protocol))


def test_settings_then_one_numbered_line_per_step_with_blocks_as_headings() -> None:
    assert text(P.SEED_CONVERT) == (
        "Initial state: SOC 100 %\n"
        "Initial temperature: 25 °C\n"
        "CC Charge:\n"
        "  1. Charge at 1C until voltage > 4.2 V\n"
        "CV Charge:\n"
        "  2. Charge at constant voltage 4.2 V until current < 0.05 A\n"
        "Discharge:\n"
        "  3. Discharge at 1C until voltage < 2.7 V\n"
    )


def test_repeated_and_nested_blocks_are_indented_loops() -> None:
    assert text(P.E7).splitlines() == [
        "Ageing (repeat 10 times):",
        "  Pulse train (repeat 5 times):",
        "    1. Discharge at 2C for 10 s",
        "    2. Rest for 40 s",
        "  3. Charge at 0.5C until voltage > 4.2 V",
    ]


def test_an_unnamed_repeated_block() -> None:
    protocol = """
steps:
  - repeat: 3
    steps:
      - {direction: Rest, duration: 5400}
"""
    assert text(protocol).splitlines() == ["Repeat 3 times:", "  1. Rest for 1 h 30 min"]


@pytest.mark.parametrize(
    ("step", "line"),
    [
        ("Discharge: {mode: Current, value: 2, ends: ['Voltage < 3.0']}", "Discharge at 2 A until voltage < 3 V"),
        ("Discharge: {mode: Power, value: 5, ends: ['Voltage < 2.8']}", "Discharge at 5 W until voltage < 2.8 V"),
        ("Charge: {mode: Voltage, value: 4.2, ends: ['C-rate < 0.05']}", "Charge at constant voltage 4.2 V until C-rate < 0.05C"),
        ("Discharge: {mode: C-rate, value: 1, duration: 600, ends: ['Voltage < 3']}", "Discharge at 1C until voltage < 3 V, for at most 10 min"),
        ("Discharge: {mode: Current, value: 2, ends: ['Capacity > 1 Ah']}", "Discharge at 2 A until capacity > 1 A.h"),
        ("Discharge: {mode: Current, value: 1, ends: ['d/dt(Voltage) < 0.0001']}", "Discharge at 1 A until d(voltage)/dt < 0.0001 V/s"),
        ("Discharge: {mode: Current, value: 1, ends: ['Voltage < 3', 'Time > 5 min']}", "Discharge at 1 A until voltage < 3 V or time > 5 min"),
        ("Discharge: {mode: C-rate, value: 1, temperature: 45, ends: ['Voltage < 3']}", "Discharge at 1C at 45 °C ambient until voltage < 3 V"),
        ("Drive: {drive_cycle: US06, ends: ['Voltage < 2.7']}", "Run drive cycle 'US06' as current until voltage < 2.7 V"),
        ("Ambient temperature: {value: 40, duration: 3600}", "Set the ambient temperature to 40 °C and hold it for 1 h"),
        ("Rest: {duration: 90}", "Rest for 90 s"),
        ("Rest: {duration: 12.5, label: soak, note: 'let it  settle'}", "Rest for 12.5 s [label: soak] — let it settle"),
    ],
)  # fmt: skip
def test_step_lines(step: str, line: str) -> None:
    assert text(f"steps:\n  - {step}\n") == f"1. {line}\n"


def test_goto_on_an_end_condition() -> None:
    protocol = """
steps:
  - Discharge:
      mode: C-rate
      value: 1
      ends: [{variable: Voltage [V], value: 3.0, goto: Rest here}]
  - Rest: {duration: 60, label: Rest here}
"""
    assert text(protocol).splitlines()[0] == (
        "1. Discharge at 1C until voltage < 3 V (then go to Rest here)"
    )


def test_inputs_are_shown_as_written() -> None:
    assert text(P.SEED_INPUTS) == (
        'Initial state: SOC input["Initial SOC"]\n'
        '1. Discharge at C-rate input["C-rate"] until voltage < 2.5 V\n'
    )


def test_initial_voltage_resolution_and_safety_limits() -> None:
    assert text(P.E9).splitlines()[0] == "Initial state: 3.7 V"
    assert text(P.E8).splitlines()[:2] == ["Initial temperature: 25 °C", "Record every 10 s"]
    assert text(P.E10).splitlines()[0] == (
        "Safety limits: voltage ≥ 2.5 V, voltage ≤ 4.25 V, discharge current ≤ 10 A; "
        "on a breach: end the protocol"
    )


def test_eis_and_waveform_steps() -> None:
    protocol = """
steps:
  - EIS: {start_frequency: 10000, end_frequency: 0.1, points_per_decade: 10, amplitude: 0.005}
  - Waveform: {mode: Power, waveform: {time: [0, 1, 2], value: [1, 2, 1]}, duration: 2}
"""
    assert text(protocol).splitlines() == [
        "1. EIS (galvanostatic) from 10000 Hz to 0.1 Hz, 10 points per decade, amplitude 0.005 A",
        "2. Run a power waveform of 3 points for 2 s",
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.5, "0.5 s"), (90, "90 s"), (120, "2 min"), (3600, "1 h"), (5400, "1 h 30 min"),
     (3661, "1 h 1 min 1 s"), (125, "2 min 5 s"), (86400, "24 h")],
)  # fmt: skip
def test_durations(seconds: float, shown: str) -> None:
    assert duration_text(float(seconds)) == shown


def test_numbers() -> None:
    assert [number_text(x) for x in (0.0, 4.2, 3.0, 1e-14, 0.05)] == [
        "0",
        "4.2",
        "3",
        "1e-14",
        "0.05",
    ]
