"""Protocols used by the UCP tests: the python-api.md seeds and the ucp.md examples."""

from __future__ import annotations

from pathlib import Path

# --- python-api.md (tests/data/protocols/, shared with tests/official/drive_official.py) --

_SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "protocols"


def _seed(name: str) -> str:
    return (_SEED_DIR / f"{name}.yaml").read_text(encoding="utf-8")


SEED_SINGLE = _seed("seed_single")
SEED_INPUTS = _seed("seed_inputs")
SEED_INPUTS_PARAMETERS = {"Initial SOC": 1.0, "C-rate": 0.5}
# Only ever passed to find_input_references in the docs (it has no end condition).
SEED_REFERENCES_SNIPPET = _seed("seed_references_snippet")
SEED_CONVERT = _seed("seed_convert")

SEEDS = {
    "single": SEED_SINGLE,
    "inputs": SEED_INPUTS,
    "convert": SEED_CONVERT,
}

# --- ucp.md §2 and §13 -----------------------------------------------------------------

KEYED_FORM = """
global:
  initial_temperature: 25
  initial_state_type: soc_percentage
  initial_state_value: 100
steps:
  - Charge:
      mode: C-rate
      value: "0.6"
      ends:
        - Voltage > 4.2
  - Rest:
      duration: 3600
  - Discharge:
      mode: C-rate
      value: 0.5
      ends: ["Voltage < 2.5"]
"""

E1 = """
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 2.5"]}
"""

E2 = """
global: {initial_soc: input["Initial SOC"]}
steps:
  - direction: Discharge
    mode: C-rate
    value: input["C-rate"]
    ends: [{variable: Voltage [V], value: 2.5}]
"""

E3 = """
global: {initial_state_type: soc_percentage, initial_state_value: 0}
steps:
  - Charge: {mode: C-rate, value: 0.5, ends: ["Voltage > 4.2"]}
  - Charge: {mode: Voltage, value: 4.2, ends: ["C-rate < 0.05"]}
  - Rest: {duration: 1800}
"""

E4 = """
steps:
  - Discharge: {mode: Current, value: 2, duration: 600, ends: ["Voltage < 3.0"]}
"""

E5 = """
steps:
  - Discharge: {mode: Power, value: 5, ends: ["Voltage < 2.8"]}
"""

E6 = """
steps:
  - "Cycle":
      repeat: 3
      steps:
        - Charge: {mode: C-rate, value: 1, ends: ["Voltage > 4.2"]}
        - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}
"""

E7 = """
steps:
  - "Ageing":
      repeat: 10
      steps:
        - "Pulse train":
            repeat: 5
            steps:
              - Discharge: {mode: C-rate, value: 2, duration: 10}
              - Rest: {duration: 40}
        - Charge: {mode: C-rate, value: 0.5, ends: ["Voltage > 4.2"]}
"""

E8 = """
global: {initial_temperature: 25, resolution: {time: 10}}
steps:
  - Discharge: {mode: C-rate, value: 1, temperature: 0, resolution: {time: 1}, ends: ["Voltage < 2.5"]}
"""

E9 = """
global: {initial_state_type: voltage, initial_state_value: 3.7}
steps: [{Rest: {duration: 60}}]
"""

E10 = """
safety_limits: {voltage_min: 2.5, voltage_max: 4.25, discharge_current_max: 10}
steps:
  - Discharge: {mode: Current, value: 3, duration: 7200}
"""

E11 = """
steps:
  - Discharge: {mode: Current, value: 2, ends: ["Capacity > 1.0"]}
"""

E12 = """
steps:
  - Drive: {drive_cycle: US06, ends: ["Voltage < 2.7"]}
"""

E13 = """
steps:
  - Charge: {mode: Magic, value: 1, ends: ["Voltage > 4.2"]}
"""

E14 = """
steps:
  - Discharge: {mode: C-rate, value: 1}
"""

SAFETY_EXAMPLE = """
safety_limits:
  voltage_min: 2.5
  voltage_max: {value: 4.25, goto: "Recovery"}
  discharge_current_max: 15
  goto: "End"
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 2.6"]}
  - Recovery:
      - Rest: {duration: 60}
"""

FLAT_BLOCK = """
steps:
  - block: Cycle
    repeat: 3
    steps:
      - direction: charge
        mode: CRate
        value: 1
        ends: [{variable: Voltage [V], value: 4.2}]
      - Discharge: {mode: c rate, value: 1, ends: ["Voltage < 3.0"]}
"""

# --- for tests that need a job still running (cancellation): 200 cycles of a DFN ------------


def cycling(repeat: int) -> str:
    """``repeat`` cycles of a 1C discharge to 3.0 V and a 1C charge to 4.1 V."""
    return f"""
global: {{initial_soc: 1, temperature: 25}}
steps:
  - "Cycle":
      repeat: {repeat}
      steps:
        - Discharge: {{mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}}
        - Charge: {{mode: C-rate, value: 1, ends: ["Voltage > 4.1"]}}
"""


LONG_CYCLING = cycling(200)

EXAMPLES = {
    "keyed": KEYED_FORM,
    "E1": E1,
    "E2": E2,
    "E3": E3,
    "E4": E4,
    "E5": E5,
    "E6": E6,
    "E7": E7,
    "E8": E8,
    "E9": E9,
    "E10": E10,
    "E11": E11,
    "E12": E12,
    "safety": SAFETY_EXAMPLE,
    "flat block": FLAT_BLOCK,
}
