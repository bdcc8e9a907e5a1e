"""Checks and completion of what a reader found (:class:`._common.Parsed`) into our table.

Checks, each failing with a :class:`RawFileError` that names the file, the file's column and
the line or record: time, current and voltage present and finite on every row, voltage
within ±``MAX_ABS_VOLTAGE`` (a millivolt column read as volts fails here), time
non-decreasing. Then ``Time [s]`` is shifted to start at 0, ``Step count`` (0-based,
consecutive: a new step wherever the cycler's step (or cycle) number changes) and
``Cycle count`` (0-based, a new cycle wherever the cycler's cycle number changes) are added
when the file has those numbers, and the cycler's capacity counters become per-step
``Discharge capacity [A.h]`` / ``Charge capacity [A.h]`` (reset to 0 at each step start,
non-negative), as in our simulated time series (``ionworks/ucp/results.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import polars as pl

from ._common import AT, Columns, Parsed, RawFileError

__all__ = [
    "CHARGE_COUNTER",
    "DISCHARGE_COUNTER",
    "MAX_ABS_VOLTAGE",
    "NET_COUNTER",
    "finish",
    "index_columns",
]

#: Voltages beyond ± this (V) are refused: no cell a cycler file describes has them.
MAX_ABS_VOLTAGE: Final = 100.0
#: Raw capacity counters a reader may hand over (A.h): non-negative charge and discharge
#: counters (cumulative or per step), or one signed counter that grows on charge.
CHARGE_COUNTER: Final = "_charge"
DISCHARGE_COUNTER: Final = "_discharge"
NET_COUNTER: Final = "_net"

TIME, CURRENT, VOLTAGE = "Time [s]", "Current [A]", "Voltage [V]"
TEMPERATURE = "Temperature [°C]"
STEP_FROM, CYCLE_FROM = "Step from cycler", "Cycle from cycler"
STEP_COUNT, CYCLE_COUNT = "Step count", "Cycle count"
DISCHARGE, CHARGE = "Discharge capacity [A.h]", "Charge capacity [A.h]"
#: Our columns in the order the table has them (those the file gave).
ORDER: Final = (
    TIME, CURRENT, VOLTAGE, TEMPERATURE, STEP_COUNT, CYCLE_COUNT, STEP_FROM, CYCLE_FROM,
    DISCHARGE, CHARGE,
)  # fmt: skip


def index_columns(
    columns: Columns, parsed: dict[str, Any], step: Sequence[str], cycle: Sequence[str]
) -> list[str]:
    """Put the cycler's step and cycle indices (the first of each list of names that the
    table has, with values) into ``parsed``; the names of those it had."""
    found: list[str] = []
    for bases, ours in ((step, STEP_FROM), (cycle, CYCLE_FROM)):
        values = columns.index(bases)
        if values is not None:
            parsed[ours] = values
            found.append(ours)
    return found


def _where(parsed: Parsed, row: int) -> str:
    return f"{parsed.at} {parsed.frame[AT][row]}"


def _check(name: str, parsed: Parsed) -> None:
    frame = parsed.frame
    if frame.height == 0:
        raise RawFileError(f"{name} has no data rows")
    for column in (TIME, CURRENT, VOLTAGE):
        values = frame[column]
        bad = values.is_null() | ~values.is_finite().fill_null(False)
        if bad.any():
            row = int(bad.arg_true()[0])
            value = values[row]
            shown = "empty" if value is None else f"{value!r}, not a finite number"
            raise RawFileError(
                f"{name} column {parsed.sources[column]!r} {_where(parsed, row)} is {shown}"
            )
    voltage = frame[VOLTAGE]
    outside = voltage.abs() > MAX_ABS_VOLTAGE
    if outside.any():
        row = int(outside.arg_true()[0])
        raise RawFileError(
            f"{name} column {parsed.sources[VOLTAGE]!r} {_where(parsed, row)}: {voltage[row]:g} V "
            f"is outside ±{MAX_ABS_VOLTAGE:g} V (is the column in millivolts?)"
        )
    time = frame[TIME]
    backwards = time.diff() < 0
    if backwards.any():
        row = int(backwards.arg_true()[0])
        raise RawFileError(
            f"{name} column {parsed.sources[TIME]!r} {_where(parsed, row)}: time goes backwards "
            f"({time[row - 1]:g} s -> {time[row]:g} s); time must be non-decreasing"
        )


def _changes(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """0-based counter that grows by one wherever any of ``columns`` changes."""
    changed = pl.lit(False)
    for column in columns:
        changed = changed | (pl.col(column) != pl.col(column).shift(1)).fill_null(False)
    return changed.cast(pl.Int64).cum_sum()


def _per_step(values: pl.Expr) -> pl.Expr:
    """A counter reset to 0 at each step start (its value there subtracted), non-negative."""
    return (values - values.first().over(STEP_COUNT)).abs()


def finish(name: str, parsed: Parsed) -> Any:
    """The checked ``pyarrow.Table`` of our columns (see the module docstring)."""
    _check(name, parsed)
    frame = parsed.frame.with_columns(
        pl.col(TIME) - pl.col(TIME).first(),
        pl.when(pl.col(CURRENT) == 0).then(0.0).otherwise(pl.col(CURRENT)).alias(CURRENT),
    )
    steps = [c for c in parsed.steps if c in frame.columns]
    if steps:
        frame = frame.with_columns(_changes(frame, steps).alias(STEP_COUNT))
    if CYCLE_FROM in frame.columns:
        frame = frame.with_columns(_changes(frame, [CYCLE_FROM]).alias(CYCLE_COUNT))
    if STEP_COUNT in frame.columns:
        if CHARGE_COUNTER in frame.columns and DISCHARGE_COUNTER in frame.columns:
            frame = frame.with_columns(
                _per_step(pl.col(DISCHARGE_COUNTER).fill_null(0.0)).alias(DISCHARGE),
                _per_step(pl.col(CHARGE_COUNTER).fill_null(0.0)).alias(CHARGE),
            )
        elif NET_COUNTER in frame.columns:
            # the counter's increments, charge or discharge by the current's sign, summed
            delta = pl.col(NET_COUNTER).fill_null(strategy="forward").diff().fill_null(0.0)
            current = pl.col(CURRENT)
            discharged = pl.when(current > 0).then(-delta).otherwise(0.0).cum_sum()
            charged = pl.when(current < 0).then(delta).otherwise(0.0).cum_sum()
            frame = frame.with_columns(
                _per_step(discharged).alias(DISCHARGE), _per_step(charged).alias(CHARGE)
            )
    for column in (STEP_FROM, CYCLE_FROM, STEP_COUNT, CYCLE_COUNT):
        if column in frame.columns:
            frame = frame.with_columns(pl.col(column).cast(pl.Int64))
    floats = [c for c in (TIME, CURRENT, VOLTAGE, TEMPERATURE, DISCHARGE, CHARGE)]
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in floats if c in frame.columns)
    return frame.select([c for c in ORDER if c in frame.columns]).to_arrow()
