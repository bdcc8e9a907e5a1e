"""Arbin CSV exports (MITS Pro "Export to CSV" of a channel's data, and the same columns
without units that some data pipelines write).

Columns: ``Test_Time(s)`` (or ``Test Time (s)``; seconds or ``d.hh:mm:ss``),
``Current(A)``, ``Voltage(V)``, ``Step_Index``, ``Cycle_Index``, the cumulative
``Charge_Capacity(Ah)`` / ``Discharge_Capacity(Ah)`` and ``Aux_Temperature_1(C)`` (or
``Temperature``). Arbin's current is positive on charge: ours is negated. A header without
units is read in Arbin's SI units (s, A, V, A.h, °C).

Not read: ``.res`` files (a Microsoft Access database, which needs mdbtools, a C program this
server does not run on uploads) and Excel workbooks: export the channel as CSV.
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["looks_like", "read"]


def looks_like(header: str) -> bool:
    """Whether a CSV header line is an Arbin export's."""
    normal = header.lower().replace(" ", "_")
    return "test_time" in normal and "step_index" in normal and "cycle_index" in normal


def read(name: str, table: Table) -> Parsed:
    """The table of an Arbin CSV export (see the module docstring)."""
    cols = Columns(name, table)
    time = cols.find(("test time",), TIME_UNITS, "s", "a time")
    voltage = cols.find(("voltage",), VOLTAGE_UNITS, "v", "V or mV")
    current = cols.find(("current",), CURRENT_UNITS, "a", "A or mA")
    if time is None or voltage is None or current is None:
        raise RawFileError(
            f"{name} is not an Arbin CSV export with Test_Time, Current and Voltage "
            f"columns; has {', '.join(cols.names)}"
        )
    parsed: dict[str, Any] = {
        "Time [s]": durations(name, table.frame, time[0], time[1]),
        "Voltage [V]": cols.values(voltage),
        "Current [A]": -cols.values(current),
        AT: table.frame[AT],
    }
    sources = {"Time [s]": time[0], "Voltage [V]": voltage[0], "Current [A]": current[0]}
    steps = index_columns(cols, parsed, ("step index",), ("cycle index",))
    charge = cols.find(("charge capacity",), CAPACITY_UNITS, "ah", "A.h or mA.h")
    discharge = cols.find(("discharge capacity",), CAPACITY_UNITS, "ah", "A.h or mA.h")
    if charge is not None and discharge is not None:
        parsed[CHARGE_COUNTER] = cols.values(charge)
        parsed[DISCHARGE_COUNTER] = cols.values(discharge)
    temperature = cols.find(
        ("aux temperature 1", "temperature", "surface temp"), TEMPERATURE_UNITS, "c", "°C"
    )
    if temperature is not None:
        parsed["Temperature [°C]"] = cols.values(temperature)
    return Parsed(pl.DataFrame(parsed), sources, "line", steps)
