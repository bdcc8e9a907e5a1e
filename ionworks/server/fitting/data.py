"""Measured data of an objective as numpy arrays.

Accepted forms (after reference resolution, see :mod:`.config`):

- inline columns ``{"Time [s]": [...], "Current [A]": [...], "Voltage [V]": [...]}``
  (what the client makes of a DataFrame or a ``file:`` CSV);
- the typed builders' wrapper ``{"data": {<columns>}}``;
- a ``folder:`` upload ``{"time_series": {<columns>}, "steps": {...}}``;
- ``"db:<measurement id>"``: an uploaded measurement, resolved by the server into
  ``measurements[<id>] = {"time_series": <parquet path>, ...}`` of the job payload.

Current follows PyBaMM's sign convention (positive = discharge), as in the server's
simulation results. Time is shifted to start at 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import numpy as np

__all__ = ["Measured", "load_measured"]

TIME: Final = "Time [s]"
CURRENT: Final = "Current [A]"
VOLTAGE: Final = "Voltage [V]"
MIN_POINTS: Final = 3


@attrs.frozen(eq=False)
class Measured:
    """Time (from 0), current and voltage of one measurement, finite rows only."""

    t: np.ndarray
    current: np.ndarray
    voltage: np.ndarray


def _columns(data: Any, measurements: Mapping[str, Mapping[str, str | None]]) -> Mapping[str, Any]:
    if isinstance(data, str):
        if data.startswith("db:"):
            paths = measurements.get(data[3:])
            if paths is None or not paths.get("time_series"):
                raise ValueError(f"measurement {data[3:]!r} not found (data reference {data!r})")
            import pyarrow.parquet as pq

            table: dict[str, Any] = pq.read_table(str(paths["time_series"])).to_pydict()
            return table
        if data.startswith(("file:", "folder:")):
            raise ValueError(
                f"{data!r}: file: and folder: references are read by the client and sent "
                "inline; this server cannot read client paths"
            )
        raise ValueError(f"unsupported data reference {data!r}")
    if isinstance(data, Mapping):
        if isinstance(data.get("time_series"), Mapping):
            return _columns(data["time_series"], measurements)
        if isinstance(data.get("data"), Mapping | str) and TIME not in data:
            return _columns(data["data"], measurements)
        return data
    raise ValueError(
        f"objective data must be columns, 'db:<measurement id>' or '<element>.<key>'; "
        f"got {type(data).__name__}"
    )


def _array(columns: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in columns:
        raise ValueError(
            f"measured data has no {name!r} column (columns: "
            f"{', '.join(map(repr, columns)) or 'none'}); required: {TIME!r}, {CURRENT!r}, "
            f"{VOLTAGE!r}"
        )
    try:
        return np.asarray([np.nan if v is None else v for v in columns[name]], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} must hold numbers: {exc}") from None


def load_measured(
    data: Any, measurements: Mapping[str, Mapping[str, str | None]] | None = None
) -> Measured:
    """Time, current and voltage arrays of ``data`` (see the module docstring)."""
    columns = _columns(data, measurements or {})
    t, current, voltage = (_array(columns, n) for n in (TIME, CURRENT, VOLTAGE))
    if not len(t) == len(current) == len(voltage):
        raise ValueError("measured columns have different lengths")
    keep = np.isfinite(t) & np.isfinite(current) & np.isfinite(voltage)
    t, current, voltage = t[keep], current[keep], voltage[keep]
    if np.any(np.diff(t) < 0):
        raise ValueError(f"{TIME!r} must be non-decreasing")
    # drop repeated time stamps (an interpolant needs strictly increasing time)
    unique = np.concatenate([[True], np.diff(t) > 0])[: len(t)]
    t, current, voltage = t[unique], current[unique], voltage[unique]
    if len(t) < MIN_POINTS:
        raise ValueError(
            f"measured data needs at least {MIN_POINTS} distinct finite rows, got {len(t)}"
        )
    return Measured(t - t[0], current, voltage)
