"""Drive-cycle samples: the accepted forms, validation, and zero-order-hold segments.

Shared by the PyBaMM translation (:mod:`._builder`) and the vendor exporters (:mod:`.export`),
so a drive cycle either side accepts, the other accepts too.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["as_plain", "parse_samples", "segments", "step_samples", "validated"]


def _finite(raw: Any) -> float:
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError(f"non-finite sample {raw!r}")
    return number


def validated(rows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``rows`` (finite numbers, see :func:`_finite`) shifted to start at t = 0, after
    checking there are ≥ 2 and time strictly increases."""
    if len(rows) < 2:
        raise ValueError("needs at least 2 samples")
    if any(b[0] <= a[0] for a, b in itertools.pairwise(rows)):
        raise ValueError("time must be strictly increasing")
    start = rows[0][0]
    return [(t - start, v) for t, v in rows]


def _columns(data: Mapping[str, Sequence[Any]]) -> list[tuple[float, float]]:
    keys = list(data)
    times = [k for k in keys if "time" in str(k).lower()]
    if len(keys) == 2 and not times:
        times = [keys[0]]
    if len(times) != 1:
        raise ValueError(f"expected one time column, got columns {keys}")
    values = [k for k in keys if k != times[0]]
    if len(values) > 1:
        values = [k for k in values if re.search("value|current|power", str(k), re.I)] or values
    if len(values) != 1:
        raise ValueError(f"expected one value column besides {times[0]!r}, got {keys}")
    t, v = data[times[0]], data[values[0]]
    if isinstance(t, str | bytes) or isinstance(v, str | bytes) or len(t) != len(v):
        raise ValueError("time and value columns must be lists of the same length")
    return [(_finite(a), _finite(b)) for a, b in zip(t, v, strict=True)]


def _csv(text: str) -> list[tuple[float, float]]:
    rows = [row for row in csv.reader(io.StringIO(text.strip())) if any(c.strip() for c in row)]
    if not rows:
        raise ValueError("empty CSV")
    try:
        [_finite(c) for c in rows[0][:2]]
    except ValueError:
        header, body = rows[0], rows[1:]
        columns = {name.strip(): [r[i] for r in body] for i, name in enumerate(header)}
        return _columns(columns)
    if any(len(r) < 2 for r in rows):
        raise ValueError("every CSV row needs a time and a value")
    return [(_finite(r[0]), _finite(r[1])) for r in rows]


def as_plain(samples: Any) -> Any:
    """DataFrames (polars, pandas) → column dicts, arrays → nested lists, bytes → text;
    anything else unchanged."""
    to_dict = getattr(samples, "to_dict", None)
    if hasattr(samples, "columns") and callable(to_dict):
        try:
            return to_dict(as_series=False)  # polars
        except TypeError:
            return to_dict(orient="list")  # pandas
    tolist = getattr(samples, "tolist", None)
    if callable(tolist) and not isinstance(samples, str | bytes):
        return tolist()
    if isinstance(samples, bytes):
        return samples.decode("utf-8")
    return samples


def parse_samples(samples: Any) -> list[tuple[float, float]]:
    """Samples from CSV text, ``[[t, v], ...]`` (also an N x 2 array), ``{"time": [...],
    "value": [...]}``, a column dict or a DataFrame (see :func:`as_plain`); validated (≥ 2 finite rows, strictly increasing time) and shifted to t=0."""
    try:
        samples = as_plain(samples)
        if isinstance(samples, str):
            rows = _csv(samples)
        elif isinstance(samples, Mapping):
            rows = _columns(samples)
        elif isinstance(samples, Sequence):
            rows = []
            for row in samples:
                row = as_plain(row)  # e.g. numpy rows
                if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) != 2:
                    raise ValueError("list samples must be [time, value] pairs")
                rows.append((_finite(row[0]), _finite(row[1])))
        else:
            raise ValueError(f"unsupported samples type {type(samples).__name__}")
        return validated(rows)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid drive-cycle samples: {exc}") from None


def segments(rows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Zero-order-hold segments ``(value, duration s)``: each sample holds until the next;
    consecutive equal values are merged; the last sample only marks the end time."""
    out: list[tuple[float, float]] = []
    for (t0, value), (t1, _) in itertools.pairwise(rows):
        if out and out[-1][0] == value:
            out[-1] = (value, out[-1][1] + (t1 - t0))
        else:
            out.append((value, t1 - t0))
    return out


def step_samples(step: Any, drive_cycles: Mapping[str, Any]) -> list[tuple[float, float]]:
    """``(t from 0 s, value)`` samples of a waveform or drive-cycle step (a drive cycle's
    samples come from ``drive_cycles`` by name); ValueError says what is wrong."""
    if step.waveform is not None:
        rows = zip(step.waveform.time, step.waveform.values, strict=True)
        return validated([(_finite(t), _finite(v)) for t, v in rows])
    name = step.drive_cycle or ""
    if name not in drive_cycles:
        raise ValueError(f"missing drive cycle {name!r}; pass its samples in drive_cycles")
    try:
        return parse_samples(drive_cycles[name])
    except ValueError as exc:
        raise ValueError(f"{name!r}: {exc}") from None
