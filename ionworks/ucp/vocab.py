"""Vocabulary and limits of the UCP grammar (step kinds, modes, quantities, units)."""

from __future__ import annotations

import enum

__all__ = [
    "ABSOLUTE_ZERO_C",
    "MAX_BLOCK_DEPTH",
    "MAX_REPEAT",
    "MAX_UNROLLED_STEPS",
    "MODES",
    "MODE_UNITS",
    "QUANTITIES",
    "QUANTITY_UNITS",
    "SAFETY_KEYS",
    "SPECIAL_TARGETS",
    "STEP_KINDS",
    "Constraint",
]

STEP_KINDS = ("Charge", "Discharge", "Rest", "Drive", "Waveform", "EIS", "Ambient temperature")
MODES = ("C-rate", "Current", "Power", "Voltage", "Resistance")
MODE_UNITS = {"C-rate": "1/h", "Current": "A", "Power": "W", "Voltage": "V", "Resistance": "Ohm"}
QUANTITIES = ("Voltage", "Current", "C-rate", "Capacity", "Temperature", "Time")
QUANTITY_UNITS = {
    "Voltage": "V",
    "Current": "A",
    "C-rate": "1/h",
    "Capacity": "A.h",
    "Temperature": "°C",
    "Time": "s",
}
SAFETY_KEYS = (
    "voltage_min",
    "voltage_max",
    "temperature_min",
    "temperature_max",
    "charge_current_max",
    "discharge_current_max",
)
#: goto targets that always exist.
SPECIAL_TARGETS = ("End", "next")
MAX_REPEAT = 10_000
MAX_UNROLLED_STEPS = 100_000
MAX_BLOCK_DEPTH = 8
ABSOLUTE_ZERO_C = -273.15


class Constraint(enum.Enum):
    """Range rule of a numeric field, checked as soon as the value is a constant."""

    ANY = "a finite number"
    POSITIVE = "a positive number (> 0)"
    NON_NEGATIVE = "a non-negative number (>= 0)"
    SOC = "an SOC fraction in 0-1 or a percentage in 0-100"
    PERCENT = "a percentage in 0-100"
    CELSIUS = "a temperature above absolute zero (-273.15 °C)"
    REPEAT = f"an integer from 1 to {MAX_REPEAT}"
    COUNT = "a positive integer"

    def violated(self, number: float) -> bool:
        """Whether ``number`` breaks the rule."""
        if self is Constraint.POSITIVE:
            return number <= 0
        if self is Constraint.NON_NEGATIVE:
            return number < 0
        if self in (Constraint.SOC, Constraint.PERCENT):
            return not 0 <= number <= 100
        if self is Constraint.CELSIUS:
            return number <= ABSOLUTE_ZERO_C
        if self is Constraint.REPEAT:
            return not (number.is_integer() and 1 <= number <= MAX_REPEAT)
        if self is Constraint.COUNT:
            return not (number.is_integer() and number >= 1)
        return False
