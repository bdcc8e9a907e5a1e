"""The model-vs-data series a pipeline job recorded (``GET /jobs/{id}/series/channels`` and
``GET /jobs/{id}/series``), read from the job's stored result.

What the local fit engine records (:mod:`ionworks.server.fitting.runner`): a ``validation``
element keeps, per objective, ``Time [s]``, ``Measured voltage [V]`` and ``Model voltage [V]``
(at most 1,000 rows each) under ``validation_results``: the solve at the pipeline's values when
the element ran, served as the ``optimal`` source. A ``data_fit`` element keeps summary
statistics only, and no element keeps a ``baseline`` solve, so those are never listed and
asking for them is a 404 that says so. Every element of a pipeline reports the pipeline's job,
so the objectives of all its validation elements are listed together; an objective name that
two elements share is listed as ``<element>/<objective>`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import fail

__all__ = ["SOURCES", "X_COLUMN", "channels", "select"]

#: The sources the cloud's series have: the solve at the fitted values and at the initial
#: guess. The local engine records the first only.
SOURCES: Final = ("optimal", "baseline")
RECORDED: Final = "optimal"
#: The x channel of every series the local engine records.
X_COLUMN: Final = "Time [s]"
PARAMS: Final = frozenset(
    {"objective", "source", "columns", "x_column", "max_points", "x_min", "x_max"}
)

Series = dict[str, list[Any]]


def recorded(result: Any) -> dict[str, Series]:
    """``{objective key: {channel: [values]}}`` of a job's stored result (empty for a job
    that recorded none, e.g. a simulation or a running pipeline)."""
    if not isinstance(result, Mapping):
        return {}
    elements = result.get("element_results")
    if not isinstance(elements, Mapping):
        return {}
    found: list[tuple[str, str, Series]] = []
    for element, element_result in elements.items():
        series = (
            element_result.get("validation_results")
            if isinstance(element_result, Mapping)
            else None
        )
        if not isinstance(series, Mapping):
            continue
        for objective, channels in series.items():
            if isinstance(channels, Mapping):
                kept = {str(k): v for k, v in channels.items() if isinstance(v, list)}
                found.append((str(element), str(objective), kept))
    names = [objective for _, objective, _ in found]
    return {
        (objective if names.count(objective) == 1 else f"{element}/{objective}"): channels
        for element, objective, channels in found
    }


def channels(result: Any) -> dict[str, dict[str, list[str]]]:
    """``{objective: {"optimal": [channel, ...]}}`` of the job's recorded series."""
    return {key: {RECORDED: list(series)} for key, series in recorded(result).items()}


def _number(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        fail(422, f"query parameter '{name}' must be a finite number, got {raw!r}")
    return value


def _max_points(request: web.Request) -> int | None:
    raw = request.query.get("max_points")
    if raw is None or raw == "":
        return None
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    if value is None and raw.isascii() and raw.isdigit():
        value = 10**18  # more than any series has
    if value is None or value < 1:
        fail(422, f"query parameter 'max_points' must be a whole number >= 1, got {raw!r}")
    return value


def select(request: web.Request, job_id: str, result: Any) -> Series:
    """The series the request asks for (``objective``, ``source``, ``columns``, ``x_column``,
    ``x_min``/``x_max``, ``max_points``): 422 for a malformed or unknown parameter, 404 for an
    objective or source the job has not recorded."""
    query = request.query
    unknown = sorted(set(query) - PARAMS)
    if unknown:
        fail(
            422,
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(PARAMS))}",
        )
    objective = query.get("objective")
    if not objective:
        fail(422, "query parameter 'objective' is required (see GET /jobs/{id}/series/channels)")
    source = query.get("source") or RECORDED
    if source not in SOURCES:
        fail(422, f"query parameter 'source' must be one of {', '.join(SOURCES)}, got {source!r}")
    x_min, x_max = _number(request, "x_min"), _number(request, "x_max")
    max_points = _max_points(request)
    series = recorded(result)
    if objective not in series:
        listed = ", ".join(map(repr, series)) or "none"
        fail(
            404,
            f"job {job_id} recorded no series for objective {objective!r} (objectives with "
            f"series: {listed}; the local server records series of validation elements only)",
        )
    if source != RECORDED:
        fail(
            404,
            f"job {job_id} has no {source!r} series: the local server records the {RECORDED!r} solve only",
        )
    data = series[objective]
    x_column = query.get("x_column") or X_COLUMN
    wanted = [c for c in query.get("columns", "").split(",") if c] or list(data)
    missing = [c for c in (x_column, *wanted) if c not in data]
    if missing:
        fail(
            422,
            f"objective {objective!r} has no channel(s) {', '.join(map(repr, missing))}; channels: {', '.join(map(repr, data))}",
        )
    names = [x_column, *(c for c in dict.fromkeys(wanted) if c != x_column)]
    rows = list(range(len(data[x_column])))
    if x_min is not None or x_max is not None:
        low, high = -math.inf if x_min is None else x_min, math.inf if x_max is None else x_max
        rows = [
            i for i in rows if isinstance(x := data[x_column][i], int | float) and low <= x <= high
        ]
    if max_points is not None and len(rows) > max_points:
        rows = rows[:: math.ceil(len(rows) / max_points)]
    return {name: [data[name][i] if i < len(data[name]) else None for i in rows] for name in names}
