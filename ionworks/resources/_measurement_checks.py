"""Client-side checks of ``cell_measurement.create``'s options and its strict mode (not part of
the public surface).

The always-on rules both sides apply are in :mod:`ionworks.wire.measurements`; these are the
extra checks ``validate_strict=True`` adds (each skippable by name with ``skip_checks``), run
before anything is uploaded. The names are the official client's, so a ``skip_checks`` list
written for it works here too; the checks it lists that need data this client does not look
at (``capacity_energy_from_current_power``, ``charge_discharge_column_direction`` and the two
EIS checks) are accepted and not run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import polars as pl

from ionworks.errors import MeasurementValidationError

__all__ = ["STRICT_CHECK_NAMES", "check_options", "strict_checks"]

STRICT_CHECK_NAMES: frozenset[str] = frozenset(
    {
        "minimum_points_per_step",
        "cycle_constant_within_step",
        "time_gaps",
        "voltage_continuity",
        "consecutive_same_direction_full_steps",
        "step_capacity_within_rated",
        "charge_discharge_column_direction",
        "capacity_energy_from_current_power",
        "eis_zim_sign",
        "eis_impedance_magnitude",
    }
)
STEP = "Step count"
CYCLE_COLUMNS = ("Cycle count", "Cycle number", "Cycle from cycler")
MAX_GAP_SECONDS = 5 * 3600.0
JUMP_FRACTION, MAX_BAD_FRACTION = 0.80, 0.05
FULL_STEP_FRACTION, STEP_CAPACITY_WARN = 2.0, 5.0


def check_options(
    rated_capacity: float | None,
    voltage_window: tuple[float, float] | None,
    skip_checks: Iterable[str] | None,
) -> frozenset[str]:
    """The set of checks to skip; ``ValueError`` for unknown names (as the official client),
    ``MeasurementValidationError`` for a capacity or window that is not a positive number or
    an increasing pair."""
    skip = frozenset([skip_checks] if isinstance(skip_checks, str) else skip_checks or ())
    unknown = skip - STRICT_CHECK_NAMES
    if unknown:
        raise ValueError(
            f"Unknown check name(s) in skip_checks: {sorted(unknown)}. "
            f"Valid names: {sorted(STRICT_CHECK_NAMES)}"
        )
    if rated_capacity is not None and not _positive(rated_capacity):
        raise MeasurementValidationError(
            f"rated_capacity must be a positive number of A.h, got {rated_capacity!r}"
        )
    if voltage_window is not None:
        pair = tuple(voltage_window) if isinstance(voltage_window, list | tuple) else ()
        if len(pair) != 2 or not all(_finite(v) for v in pair) or not pair[0] < pair[1]:
            raise MeasurementValidationError(
                f"voltage_window must be (V_min, V_max) with V_min < V_max, got {voltage_window!r}"
            )
    return skip


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _finite(value) and value > 0


def strict_checks(
    ts: pl.DataFrame,
    steps: pl.DataFrame | None,
    *,
    rated_capacity: float | None,
    voltage_window: tuple[float, float] | None,
    skip: frozenset[str],
) -> None:
    """Run the strict checks not in ``skip``; one ``MeasurementValidationError`` lists every
    failure (``step_capacity_within_rated`` only warns, as in the official client)."""
    errors: list[str] = []
    if STEP in ts.columns:
        groups = (ts[STEP] != ts[STEP].shift(1)).fill_null(True).cast(pl.Int64).cum_sum() - 1
        if "minimum_points_per_step" not in skip:
            counts = groups.value_counts(sort=False).sort(groups.name)
            short = counts.filter(pl.col("count") < 2)
            if short.height:
                errors.append(
                    f"{short.height} step(s) have fewer than 2 data points (the first is step "
                    f"{int(short[groups.name][0])}); skip with "
                    "skip_checks=['minimum_points_per_step']"
                )
        cycle = next((c for c in CYCLE_COLUMNS if c in ts.columns), None)
        if cycle is not None and "cycle_constant_within_step" not in skip:
            changed = (ts[cycle] != ts[cycle].shift(1)) & (groups == groups.shift(1))
            if changed.fill_null(False).any():
                row = int(changed.fill_null(False).arg_true()[0])
                errors.append(f"{cycle!r} changes within a step at row {row}")
    time = ts["Time [s]"].cast(pl.Float64)
    if "time_gaps" not in skip and ts.height > 1:
        gaps = time.diff().fill_null(0.0)
        if (gaps > MAX_GAP_SECONDS).any():
            row = int((gaps > MAX_GAP_SECONDS).arg_true()[0])
            errors.append(
                f"time gap of {float(gaps[row]) / 3600:.2f} h between rows {row - 1} and {row} "
                f"exceeds {MAX_GAP_SECONDS / 3600:.0f} h (rows were probably dropped)"
            )
    if voltage_window is not None and "voltage_continuity" not in skip and ts.height > 1:
        span = float(voltage_window[1]) - float(voltage_window[0])
        jumps = ts["Voltage [V]"].cast(pl.Float64).diff().abs().drop_nulls()
        bad = int((jumps > JUMP_FRACTION * span).sum())
        if bad > MAX_BAD_FRACTION * jumps.len():
            errors.append(
                f"{bad} of {jumps.len()} consecutive rows jump by more than "
                f"{JUMP_FRACTION:.0%} of the voltage window: the rows look out of order"
            )
    if steps is not None and rated_capacity is not None:
        errors.extend(_step_capacity(steps, rated_capacity, skip))
    if errors:
        raise MeasurementValidationError(
            f"Measurement data validation failed with {len(errors)} error(s):\n"
            + "\n".join(f"  - {e}" for e in errors)
        )


def _step_capacity(steps: pl.DataFrame, rated: float, skip: frozenset[str]) -> list[str]:
    """Two consecutive same-direction steps over 2x the rated capacity fail; a step over 5x
    warns."""
    columns = {"Discharge capacity [A.h]": "discharge", "Charge capacity [A.h]": "charge"}
    if not all(c in steps.columns for c in columns) or not all(
        steps[c].dtype.is_numeric() for c in columns
    ):
        return []
    dis = steps["Discharge capacity [A.h]"].cast(pl.Float64).fill_null(0.0).abs()
    chg = steps["Charge capacity [A.h]"].cast(pl.Float64).fill_null(0.0).abs()
    errors: list[str] = []
    last: str | None = None
    for index, (d, c) in enumerate(zip(dis, chg, strict=True)):
        biggest = max(d, c)
        if "step_capacity_within_rated" not in skip and biggest > STEP_CAPACITY_WARN * rated:
            warnings.warn(
                f"step {index} moves {biggest:g} A.h, over {STEP_CAPACITY_WARN:.0%} of the "
                f"rated capacity {rated:g} A.h",
                stacklevel=4,
            )
        if biggest <= FULL_STEP_FRACTION * rated:
            continue
        direction = "discharge" if d >= c else "charge"
        if direction == last and "consecutive_same_direction_full_steps" not in skip:
            errors.append(
                f"steps before and at step {index} are consecutive full {direction}s (each over "
                f"{FULL_STEP_FRACTION:g}x the rated capacity): separate experiments?"
            )
        last = direction
    return errors
