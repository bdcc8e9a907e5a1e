"""The measurement time-series rules both sides apply (wire.md §10): required columns,
numeric and finite, time non-decreasing; errors name the column and the first bad row."""

from __future__ import annotations

import polars as pl

from ionworks.errors import MeasurementValidationError

__all__ = ["REQUIRED_COLUMNS", "validate_time_series"]

REQUIRED_COLUMNS = ("Time [s]", "Current [A]", "Voltage [V]")


def validate_time_series(frame: pl.DataFrame) -> None:
    """Required columns present, numeric and finite, time non-decreasing; errors name the
    column and the first bad row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise MeasurementValidationError(
            f"time_series is missing required column(s) {', '.join(map(repr, missing))}; "
            f"has {', '.join(map(repr, frame.columns))}"
        )
    if frame.height == 0:
        raise MeasurementValidationError("time_series has no rows")
    for column in REQUIRED_COLUMNS:
        series = frame[column]
        if not series.dtype.is_numeric():
            raise MeasurementValidationError(
                f"time_series column {column!r} must be numeric, got {series.dtype}"
            )
        bad = series.cast(pl.Float64).is_nan() | series.cast(pl.Float64).is_infinite()
        bad = bad | series.is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise MeasurementValidationError(
                f"time_series column {column!r} row {row}: value {series[row]!r} is not a "
                "finite number"
            )
    diffs = frame["Time [s]"].cast(pl.Float64).diff().drop_nulls()
    decreasing = diffs < 0
    if decreasing.any():
        row = int(decreasing.arg_true()[0]) + 1
        raise MeasurementValidationError(
            f"time_series column 'Time [s]' row {row}: time goes backwards "
            f"({frame['Time [s]'][row - 1]} -> {frame['Time [s]'][row]}); time must be "
            "non-decreasing"
        )
