"""Neware files: ``.nda`` / ``.ndax`` (binary, read by NewareNDA) and BTSDA CSV exports.

NewareNDA gives the step time (``Time``, reset at each step), ``Voltage``, ``Current(mA)``
(negative on discharge: negated for ours), the executed step (``Step``), the protocol step
(``Step_Index``), the cycle (``Cycle``), per-step ``Charge_Capacity(mAh)`` /
``Discharge_Capacity(mAh)``, ``Timestamp`` and auxiliary temperatures ``T1`` …. The test
time is each step's start (its first record's timestamp, never before the previous step's
last record) plus the step time. A ``.ndax`` is a zip archive: its members' declared sizes
are checked (they bound what is decompressed) before NewareNDA opens it.

The flat CSV export (``DataPoint, Cycle Index, Step Index, Step Type, Time, Total Time``
or ``Cumulative Time``, ``Current(A)``, ``Voltage(V)``, ``Chg. Cap.(Ah)``, ``DChg.
Cap.(Ah)``, ``T1(℃)`` …) is read as text; the nested export (cycle, step and record
layers in one file) is refused with a message.
"""

from __future__ import annotations

import importlib
import tempfile
import warnings
import zipfile
from pathlib import Path
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
    Columns,
    Parsed,
    RawFileError,
    Table,
    check_shape,
    durations,
    integers,
)
from ._finish import CHARGE_COUNTER, DISCHARGE_COUNTER, index_columns

__all__ = ["NDA_MAGIC", "is_nested_csv", "read_binary", "read_csv"]

NDA_MAGIC: Final = b"NEWARE"
_MAX_MEMBERS: Final = 256
#: The test time of a CSV export (its "Time" is the step time).
_TIME: Final = ("total time", "cumulative time", "test time")


def _check_zip(name: str, path: Path, bounds: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise RawFileError(f"{name} is not a readable .ndax (zip) archive: {exc}") from None
    if len(members) > _MAX_MEMBERS:
        raise RawFileError(f"{name} holds {len(members):,} files; a .ndax holds a few dozen")
    total = sum(member.file_size for member in members)
    if total > bounds.max_upload_bytes:
        raise RawFileError(
            f"{name} holds {total:,} bytes once decompressed; the limit is "
            f"{bounds.max_upload_bytes:,} (max_upload_bytes)",
            status=413,
        )


def _test_time(frame: pl.DataFrame) -> pl.Series:
    """Seconds since the first record, from step starts (timestamps) plus the step time."""
    step_time = frame["Time"].cast(pl.Float64)
    stamp = frame["Timestamp"]
    if isinstance(stamp.dtype, pl.Datetime):
        seconds = (stamp - stamp[0]).dt.total_microseconds().cast(pl.Float64) / 1e6
    else:
        seconds = pl.Series([None] * frame.height, dtype=pl.Float64)
    new_step = (frame["Step"] != frame["Step"].shift(1)).fill_null(True)
    starts = [int(i) for i in new_step.arg_true()]
    ends = [*starts[1:], frame.height]
    offsets: list[float] = []
    previous_end = 0.0
    for start, end in zip(starts, ends, strict=True):
        stamped = seconds[start]
        offset = previous_end if stamped is None else max(float(stamped), previous_end)
        offsets.append(offset)
        previous_end = offset + float(step_time[end - 1] or 0.0)
    lengths = [end - start for start, end in zip(starts, ends, strict=True)]
    offset_rows = pl.Series(offsets, dtype=pl.Float64).repeat_by(
        pl.Series(lengths, dtype=pl.UInt32)
    )
    return offset_rows.explode() + step_time


def read_binary(name: str, suffix: str, data: bytes | Path, bounds: Limits) -> Parsed:
    """A ``.nda`` or ``.ndax`` file through NewareNDA."""
    try:
        NewareNDA: Any = importlib.import_module("NewareNDA")
    except ImportError:
        raise RawFileError(
            f"{name}: reading Neware {suffix} files needs the optional 'NewareNDA' package "
            "(pip install 'ionworks[cycler]'); export the test as CSV from BTSDA instead"
        ) from None
    with tempfile.TemporaryDirectory(prefix="ionworks-raw-") as folder:
        path = Path(folder) / f"upload{suffix}"
        if isinstance(data, Path):
            path.symlink_to(data.resolve())
        else:
            path.write_bytes(data)
        if suffix == ".ndax":
            _check_zip(name, path, bounds)
        # a .nda's rows are known only once decoded: its size (max_upload_bytes) bounds them
        with warnings.catch_warnings():  # pandas deprecations inside NewareNDA
            warnings.simplefilter("ignore")
            frame: Any = NewareNDA.read(str(path), log_level="CRITICAL")  # no tracebacks
    check_shape(name, int(frame.shape[0]), int(frame.shape[1]), bounds)
    if frame.shape[0] == 0:
        raise RawFileError(f"{name} holds no data records")
    table = pl.from_pandas(frame.drop(columns=["Status"], errors="ignore"))
    at = pl.Series(AT, range(1, table.height + 1), dtype=pl.Int64)
    columns: dict[str, pl.Series] = {
        "Time [s]": _test_time(table),
        "Voltage [V]": table["Voltage"].cast(pl.Float64),
        "Current [A]": -table["Current(mA)"].cast(pl.Float64) * 1e-3,
        "Step from cycler": integers(name, table["Step_Index"], "Step_Index", at, "record"),
        "Cycle from cycler": integers(name, table["Cycle"], "Cycle", at, "record"),
        "_step": integers(name, table["Step"], "Step", at, "record"),
        CHARGE_COUNTER: table["Charge_Capacity(mAh)"].cast(pl.Float64) * 1e-3,
        DISCHARGE_COUNTER: table["Discharge_Capacity(mAh)"].cast(pl.Float64) * 1e-3,
        AT: at,
    }
    if "T1" in table.columns:
        columns["Temperature [°C]"] = table["T1"].cast(pl.Float64)
    sources = {"Time [s]": "Time", "Voltage [V]": "Voltage", "Current [A]": "Current(mA)"}
    return Parsed(pl.DataFrame(columns), sources, "record", ("_step", "Cycle from cycler"))


def is_nested_csv(lines: list[str]) -> bool:
    """A nested BTSDA export starts with the cycle layer's header, then indented layers."""
    return len(lines) > 2 and lines[0].startswith("Cycle Index,") and lines[1].startswith(",")


def read_csv(name: str, table: Table) -> Parsed:
    """A flat BTSDA CSV export (see the module docstring)."""
    cols = Columns(name, table)
    time = cols.find(_TIME, TIME_UNITS, "s", "a time or HH:MM:SS")
    voltage = cols.find(("voltage",), VOLTAGE_UNITS, None, "V or mV")
    current = cols.find(("current",), CURRENT_UNITS, None, "A or mA")
    if time is None or voltage is None or current is None:
        raise RawFileError(
            f"{name} is not a Neware CSV export with Total Time (or Cumulative Time), "
            f"Current and Voltage columns; has {', '.join(cols.names)}"
        )
    parsed: dict[str, pl.Series] = {
        "Time [s]": durations(name, table.frame, time[0], time[1]),
        "Voltage [V]": cols.values(voltage),
        "Current [A]": -cols.values(current),
        AT: table.frame[AT],
    }
    sources = {"Time [s]": time[0], "Voltage [V]": voltage[0], "Current [A]": current[0]}
    steps = index_columns(cols, parsed, ("step index",), ("cycle index",))
    charge = cols.find(("chg. cap.", "chg. capacity"), CAPACITY_UNITS, None, "A.h or mA.h")
    discharge = cols.find(("dchg. cap.", "dchg. capacity"), CAPACITY_UNITS, None, "A.h or mA.h")
    if charge is not None and discharge is not None:
        parsed[CHARGE_COUNTER] = cols.values(charge)
        parsed[DISCHARGE_COUNTER] = cols.values(discharge)
    temperature = cols.find(("t1", "temperature", "auxiliary temperature"), TEMPERATURE_UNITS)
    if temperature is not None:
        parsed["Temperature [°C]"] = cols.values(temperature)
    return Parsed(pl.DataFrame(parsed), sources, "line", steps)
