"""Result columns derived from others (wire.md §4.4), for the engine (Arrow tables) and the
client (polars frames) alike: ``column(name)`` gives one column as a numpy array."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "CAPACITY",
    "CHARGE",
    "DISCHARGE",
    "STEP",
    "STEP_CAPACITY",
    "Column",
    "Derive",
    "steps_derived",
    "time_series_derived",
]

DISCHARGE = "Discharge capacity [A.h]"
CHARGE = "Charge capacity [A.h]"
STEP_CAPACITY = "Step capacity [A.h]"
CAPACITY = "Capacity [A.h]"
STEP = "Step count"


Column = Callable[[str], np.ndarray]


def _floats(column: Column, cols: set[str], name: str, length: int) -> np.ndarray:
    if name not in cols:
        return np.zeros(length)  # a missing side counts as 0 (wire.md §4.4)
    return np.asarray(column(name), dtype=np.float64)  # nulls become NaN (see _add_columns)


def time_series_derived(column: Column, cols: set[str], length: int) -> dict[str, np.ndarray]:
    """The columns a time series gets when absent (wire.md §4.4): ``Step capacity [A.h]``
    (discharge − charge) and ``Capacity [A.h]``, chained across steps — rows of one step are
    contiguous, so each step is offset by the running sum of the earlier steps' end values
    (on their last rows). ``column(name)`` gives one column as an array (polars frames and
    Arrow tables alike)."""
    if not cols & {DISCHARGE, CHARGE}:
        return {}
    out: dict[str, np.ndarray] = {}
    if STEP_CAPACITY in cols:
        step_capacity = np.asarray(column(STEP_CAPACITY), dtype=np.float64)
    else:
        step_capacity = _floats(column, cols, DISCHARGE, length)
        step_capacity = step_capacity - _floats(column, cols, CHARGE, length)
        out[STEP_CAPACITY] = step_capacity
    if CAPACITY not in cols:
        step = np.asarray(column(STEP)) if STEP in cols else np.zeros(0)
        ends = np.flatnonzero(step[1:] != step[:-1])  # last rows of all steps but the final
        if len(ends):
            # a missing end value adds nothing (as a null in a polars cum_sum)
            end_values = np.nan_to_num(step_capacity[ends], nan=0.0)
            offsets = np.concatenate(([0.0], np.cumsum(end_values)))
            rows = np.diff(np.concatenate(([0], ends + 1, [length])))
            out[CAPACITY] = step_capacity + np.repeat(offsets, rows)
        else:
            out[CAPACITY] = step_capacity
    return out


def steps_derived(column: Column, cols: set[str], length: int) -> dict[str, np.ndarray]:
    """``Delta capacity [A.h]`` and ``Delta energy [W.h]`` of a step table (wire.md §4.4)."""
    out = {}
    for discharge, charge, name in (
        (DISCHARGE, CHARGE, "Delta capacity [A.h]"),
        ("Discharge energy [W.h]", "Charge energy [W.h]", "Delta energy [W.h]"),
    ):
        if name not in cols and cols & {discharge, charge}:
            out[name] = _floats(column, cols, discharge, length) - _floats(
                column, cols, charge, length
            )
    return out


Derive = Callable[[Column, set[str], int], dict[str, np.ndarray]]
