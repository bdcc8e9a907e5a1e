"""Maccor text exports (MIMS Client / MacData "Export to text"): a few lines about the test,
then a tab-separated table whose first column is ``Rec#``.

Time is ``Test (Sec)`` / ``Test (Min)`` / ``Test (Hr)`` / ``Test Time (sec)`` / ``Test Time
(Hr)``, or ``TestTime`` as ``1d 02:03:04.5``; current ``Amps`` / ``Current (A)`` / ``mAmps``;
voltage ``Volts`` / ``Voltage (V)``; capacity ``Amp-hr`` / ``Capacity (AHr)`` / ``mAmp-hr``;
the mode ``State`` / ``MD`` (``C`` charge, ``D`` discharge, ``R`` rest …). Maccor writes the
current unsigned in most export settings, so its sign comes from the mode (``D`` positive,
``C`` negative); other modes keep the file's sign, negated (Maccor's signed currents are
positive on charge). ``Step`` and ``Cyc#`` / ``Cycle C`` / ``Cycle`` are the cycler's step and
cycle; the capacity counts discharge on ``D`` rows and charge on ``C`` rows.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from ._common import (
    AT,
    CAPACITY_UNITS,
    CURRENT_UNITS,
    TEMPERATURE_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
    Columns,
    Parsed,
    RawFileError,
    Table,
    durations,
)
from ._finish import CHARGE_COUNTER, DISCHARGE_COUNTER, index_columns

__all__ = ["header_line", "read"]

#: Lines before the ``Rec#`` header that a Maccor export may have.
_MAX_PREAMBLE: Final = 30


def header_line(lines: list[str]) -> int | None:
    """The index of the ``Rec#`` header line, if one of the first lines is one."""
    for index, line in enumerate(lines[:_MAX_PREAMBLE]):
        if line.lstrip().startswith("Rec#"):
            return index
    return None


def read(name: str, table: Table) -> Parsed:
    """The table of a Maccor export (see the module docstring)."""
    cols = Columns(name, table)
    time = cols.find(("test", "test time", "testtime", "prog time"), TIME_UNITS, "s", "a time")
    voltage = cols.find(("volts", "voltage"), VOLTAGE_UNITS, "v", "V or mV")
    current = cols.find(("amps", "current"), CURRENT_UNITS, "a", "A or mA")
    if current is None and (milli := cols.find(("mamps",))) is not None:
        current = (milli[0], 1e-3)
    mode = cols.find(("state", "md", "status"))
    if time is None or voltage is None or current is None or mode is None:
        raise RawFileError(
            f"{name} is not a Maccor export with Test time, Amps, Volts and State (or MD) "
            f"columns; has {', '.join(cols.names)}"
        )
    states = table.frame[mode[0]].str.strip_chars().str.to_uppercase()
    reported = cols.values(current)
    signed = (
        pl.when(states == "D")
        .then(reported.abs())
        .when(states == "C")
        .then(-reported.abs())
        .otherwise(-reported)
    )
    parsed: dict[str, Any] = {
        "Time [s]": durations(name, table.frame, time[0], time[1]),
        "Voltage [V]": cols.values(voltage),
        "Current [A]": pl.select(signed).to_series(),
        AT: table.frame[AT],
    }
    sources = {"Time [s]": time[0], "Voltage [V]": voltage[0], "Current [A]": current[0]}
    steps = index_columns(cols, parsed, ("step", "step id"), ("cyc#", "cycle c", "cycle"))
    capacity = cols.find(("amp-hr", "capacity", "cap."), CAPACITY_UNITS, "ah", "A.h or mA.h")
    if capacity is None and (milli := cols.find(("mamp-hr",))) is not None:
        capacity = (milli[0], 1e-3)
    if capacity is not None:
        amount = cols.values(capacity).abs()
        counters = pl.select(
            pl.when(states == "D").then(amount).otherwise(0.0).alias(DISCHARGE_COUNTER),
            pl.when(states == "C").then(amount).otherwise(0.0).alias(CHARGE_COUNTER),
        )
        parsed.update(counters.to_dict())
    temperature = cols.find(
        ("temperature", "logtemp001", "evtemp"), TEMPERATURE_UNITS, "c", "degrees Celsius"
    )
    if temperature is not None:
        parsed["Temperature [°C]"] = cols.values(temperature)
    return Parsed(pl.DataFrame(parsed), sources, "line", steps)
