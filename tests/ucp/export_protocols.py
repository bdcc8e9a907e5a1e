"""Protocols shared by the exporter tests (structural, server and independent-parser checks)."""

from __future__ import annotations

from datetime import datetime

from tests.ucp.protocols import SEED_CONVERT

CLOCK = datetime(2024, 1, 2, 3, 4, 5)
TARGETS = ("maccor", "arbin", "neware", "biologic_bttest", "novonix")

#: The python-api.md convert example: CC charge (1C to 4.2 V), CV hold, 1C discharge.
CCCV = SEED_CONVERT

#: Rest, a 3x loop with a nested 2x loop, safety limits and time/current ends.
CYCLING = """
global:
  initial_state_type: soc_percentage
  initial_state_value: 0
  resolution: {time: 10}
safety_limits:
  voltage_min: 2.5
  voltage_max: 4.3
  charge_current_max: 6
  discharge_current_max: 6
steps:
  - Rest: {duration: 600}
  - Cycle:
      repeat: 3
      steps:
        - Charge: {mode: Current, value: 2.5, ends: ["Voltage > 4.2"]}
        - Charge: {mode: Voltage, value: 4.2, ends: ["Current < 0.1"], duration: 3600}
        - Pulses:
            repeat: 2
            steps:
              - Discharge: {mode: Current, value: 5, duration: 10, ends: ["Voltage < 2.6"]}
              - Rest: {duration: 30}
        - Discharge: {mode: Current, value: 2.5, ends: ["Voltage < 2.7"]}
"""

#: A drive cycle between two rests (samples passed separately).
DRIVE = """
steps:
  - Rest: {duration: 60}
  - Drive:
      drive_cycle: us06
      ends: ["Voltage < 2.5", "Voltage > 4.25"]
  - Rest: {duration: 60}
"""
DRIVE_SAMPLES = {"us06": "time,current\n0,1.0\n1,1.0\n2,-0.5\n3,0\n4,2\n5,2\n"}
