"""BioLogic EC-Lab files: ``.mpr`` (binary, read by galvani) and ``.mpt`` (its text export).

Columns: ``time/s``; the cell voltage ``Ecell/V`` or ``Ewe-Ece/V`` (``Ewe/V`` − ``Ece/V``
when a ``.mpr`` records both), else ``Ewe/V`` / ``<Ewe>/V``; current ``I/mA`` or ``<I>/mA``
— a GCPL ``.mpr`` has neither, so the average current is taken from ``dq/mA.h`` over the
time step, as EC-Lab computes ``<I>/mA`` for its text export. EC-Lab's current is positive
for oxidation at the working electrode (charge): ours is positive on discharge, so it is
negated. ``Ns`` is the cycler's step, ``cycle number`` (text exports only) its cycle (a new
``half cycle`` also starts a new step, so that ``.mpr`` and ``.mpt`` count steps alike),
``(Q-Qo)/mA.h`` its capacity counter, ``Temperature/°C`` the temperature.
"""

from __future__ import annotations

import importlib
import io
import re
import warnings
from typing import Any, Final

import polars as pl

from ionworks.server.limits import Limits

from ._common import (
    AT,
    CAPACITY_UNITS,
    CURRENT_UNITS,
    TEMPERATURE_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
    Parsed,
    RawFileError,
    check_shape,
    find_column,
    integers,
    numbers,
    read_table,
)
from ._finish import NET_COUNTER

__all__ = ["MPR_MAGIC", "MPT_MAGIC", "read_mpr", "read_mpt"]

MPR_MAGIC: Final = b"BIO-LOGIC MODULAR FILE"
MPT_MAGIC: Final = b"EC-Lab ASCII FILE"
_HEADER_LINES: Final = re.compile(r"^Nb header lines\s*:\s*(\d+)\s*$")

_VOLTAGE: Final = ("ecell", "ewe-ece", "ewe", "<ewe>")
_CURRENT: Final = ("i", "<i>")


def _columns(name: str, columns: list[str]) -> dict[str, tuple[str, float] | None]:
    return {
        "time": find_column(name, columns, ("time",), TIME_UNITS, what="a time"),
        "voltage": find_column(name, columns, _VOLTAGE, VOLTAGE_UNITS, what="a voltage"),
        "current": find_column(name, columns, _CURRENT, CURRENT_UNITS, what="a current"),
        "dq": find_column(name, columns, ("dq",), CAPACITY_UNITS, what="a charge"),
        "net": find_column(name, columns, ("(q-qo)",), CAPACITY_UNITS, what="a charge"),
        "temperature": find_column(
            name, columns, ("temperature",), TEMPERATURE_UNITS, what="degrees Celsius"
        ),
        "step": find_column(name, columns, ("ns",), None),
        "cycle": find_column(name, columns, ("cycle number",), None),
        "half": find_column(name, columns, ("half cycle",), None),
    }


def _build(
    name: str, raw: dict[str, pl.Series], found: dict[str, tuple[str, float] | None], at: str
) -> Parsed:
    """Our frame from the file's columns (already numbers, in the file's units)."""
    time, voltage = found["time"], found["voltage"]
    if time is None or voltage is None:
        missing = "time/s" if time is None else "a voltage (Ecell/V, Ewe/V or <Ewe>/V)"
        raise RawFileError(f"{name} has no {missing} column; has {', '.join(raw)}")
    columns: dict[str, pl.Series] = {
        "Time [s]": raw[time[0]] * time[1],
        "Voltage [V]": raw[voltage[0]] * voltage[1],
        AT: raw[AT],
    }
    sources = {"Time [s]": time[0], "Voltage [V]": voltage[0]}
    if (
        voltage[0] in ("Ewe/V", "<Ewe>/V", "<Ewe/V>") and "Ece/V" in raw
    ):  # a .mpr with both electrodes
        columns["Voltage [V]"] = columns["Voltage [V]"] - raw["Ece/V"]
        sources["Voltage [V]"] = f"{voltage[0]} - Ece/V"
    current, dq = found["current"], found["dq"]
    if current is not None:
        columns["Current [A]"] = -raw[current[0]] * current[1]
        sources["Current [A]"] = current[0]
    elif dq is not None:
        step = columns["Time [s]"].diff()
        average = (raw[dq[0]] * dq[1] * 3600.0) / step
        columns["Current [A]"] = -average.fill_null(0.0)  # EC-Lab's first <I>/mA is 0
        sources["Current [A]"] = f"{dq[0]} over time/s"
    else:
        raise RawFileError(
            f"{name} has no current column (I/mA, <I>/mA or dq/mA.h); has {', '.join(raw)}"
        )
    steps: list[str] = []
    for key, ours in (
        ("step", "Step from cycler"),
        ("cycle", "Cycle from cycler"),
        ("half", "_half_cycle"),  # loops of one sequence: a new half cycle is a new step
    ):
        if (hit := found[key]) is not None:
            columns[ours] = integers(name, raw[hit[0]], hit[0], raw[AT], at)
            steps.append(ours)
    if (hit := found["net"]) is not None:
        columns[NET_COUNTER] = raw[hit[0]] * hit[1]
    if (hit := found["temperature"]) is not None:
        columns["Temperature [°C]"] = raw[hit[0]]
    return Parsed(pl.DataFrame(columns), sources, at, steps)


def read_mpr(name: str, data: bytes, bounds: Limits) -> Parsed:
    """A ``.mpr`` file through galvani (its rows are checked before they are copied)."""
    try:
        BioLogic: Any = importlib.import_module("galvani.BioLogic")
    except ImportError:
        raise RawFileError(
            f"{name}: reading BioLogic .mpr files needs the optional 'galvani' package "
            "(pip install 'ionworks[cycler]'); export the file as .mpt from EC-Lab instead"
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mpr: Any = BioLogic.MPRfile(io.BytesIO(data))
    except NotImplementedError as exc:
        raise RawFileError(
            f"{name} is a BioLogic .mpr file galvani cannot read ({exc}); export it as .mpt "
            "from EC-Lab instead"
        ) from None
    records = mpr.data  # a numpy view of the file's bytes: nothing decoded yet
    names = [n for n in records.dtype.names if n != "flags"]
    check_shape(name, int(records.shape[0]), len(names), bounds)
    raw = {n: pl.Series(n, records[n]).cast(pl.Float64) for n in names}
    raw[AT] = pl.Series(AT, range(1, records.shape[0] + 1), dtype=pl.Int64)
    return _build(name, raw, _columns(name, names), "record")


def read_mpt(name: str, data: bytes, lines: list[str], bounds: Limits) -> Parsed:
    """A ``.mpt`` text export (``lines``: its first lines): ``Nb header lines`` gives the
    line of the column names."""
    count = _HEADER_LINES.match(lines[1].strip()) if len(lines) > 1 else None
    if count is None or not 1 <= int(count.group(1)) <= len(lines):
        raise RawFileError(
            f"{name} is not a readable EC-Lab text file: its second line should be "
            "'Nb header lines : N' with N at most the number of lines"
        )
    header = int(count.group(1)) - 1
    table = read_table(name, data, header, "\t", bounds)
    columns = [c for c in table.frame.columns if c != AT and c.strip()]
    found = _columns(name, columns)
    wanted = {hit[0] for hit in found.values() if hit is not None}
    if found["voltage"] is not None and found["voltage"][0] in ("Ewe/V", "<Ewe>/V", "<Ewe/V>"):
        wanted |= {"Ece/V"} & set(columns)
    raw = {
        c: numbers(name, table.frame, c, decimal_comma=table.decimal_comma)
        for c in columns
        if c in wanted
    }
    raw[AT] = table.frame[AT]
    return _build(name, raw, found, "line")
