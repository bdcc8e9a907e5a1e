"""The model-vs-data series a job recorded (``GET /jobs/{id}/series/channels``,
``GET /jobs/{id}/series``) and the metadata derived from them, read from the job's stored
result (or, while it runs, from its latest checkpoint).

What the local fit engine records (:mod:`ionworks.server.fitting.runner`), per objective,
``Time [s]``, ``Measured voltage [V]`` and ``Model voltage [V]`` (at most 1,000 rows each):
a ``data_fit`` element at its fitted values (``validation_results``, the ``optimal`` source)
and at its initial guess (``baseline_validation_results``, the ``baseline`` source); a
``validation`` element at the pipeline's values when it ran (``optimal`` only). A running
fit's checkpoints carry the curves at the best values so far (``optimal``). Every element of
a pipeline reports the pipeline's job, so the objectives of all its elements are listed
together; an objective name that two elements share is listed as ``<element>/<objective>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import fail

__all__ = [
    "SOURCES",
    "X_COLUMN",
    "channels",
    "finite_number",
    "metadata",
    "recorded",
    "select",
    "whole_number",
    "window",
]

#: The sources of a series: the solve at the fitted values and at the initial guess.
SOURCES: Final = ("optimal", "baseline")
#: Element result key → source.
KEYS: Final = {"validation_results": "optimal", "baseline_validation_results": "baseline"}
#: The x channel of every series the local engine records.
X_COLUMN: Final = "Time [s]"
#: The objective type every recorded series has (the engine's only one).
OBJECTIVE_TYPE: Final = "CurrentDriven"
#: Plots per objective (``GET /pipelines/datafits/{id}/plot_data``): the curves, the error.
PLOT_COUNT: Final = 2
PARAMS: Final = frozenset(
    {"objective", "source", "columns", "x_column", "max_points", "x_min", "x_max"}
)

Series = dict[str, list[Any]]


def _element_results(result: Mapping[str, Any]) -> dict[str, Any]:
    elements = result.get("element_results")
    out = dict(elements) if isinstance(elements, Mapping) else {}
    running = result.get("element")
    if result.get("status") == "running" and isinstance(running, str):
        out[running] = {"validation_results": result.get("validation_results")}
    return out


def recorded(result: Any) -> dict[str, dict[str, Series]]:
    """``{objective key: {source: {channel: [values]}}}`` of a job's stored result (empty
    for a job that recorded none, e.g. a simulation)."""
    if not isinstance(result, Mapping):
        return {}
    found: dict[tuple[str, str], dict[str, Series]] = {}
    for element, element_result in _element_results(result).items():
        if not isinstance(element_result, Mapping):
            continue
        for key, source in KEYS.items():
            series = element_result.get(key)
            if not isinstance(series, Mapping):
                continue
            for objective, data in series.items():
                if isinstance(data, Mapping):
                    kept = {str(k): v for k, v in data.items() if isinstance(v, list)}
                    found.setdefault((str(element), str(objective)), {})[source] = kept
    names = [objective for _, objective in found]
    return {
        (objective if names.count(objective) == 1 else f"{element}/{objective}"): sources
        for (element, objective), sources in found.items()
    }


def channels(result: Any) -> dict[str, dict[str, list[str]]]:
    """``{objective: {source: [channel, ...]}}`` of the job's recorded series."""
    return {
        key: {source: list(series) for source, series in sources.items()}
        for key, sources in recorded(result).items()
    }


def metadata(result: Any) -> dict[str, Any]:
    """The official metadata keys derived from a job's result: ``validation_results`` and
    ``baseline_validation_results`` (``{objective: {channel: [values]}}``), the plot manifest
    ``validation_plot_config``, and a sampler fit's ``samples`` (``{parameter: [[draw, ...]
    per walker]}``), ``sample_costs`` (negative log-likelihoods, same shape),
    ``sample_param_names`` and ``sample_burnin`` (those of the last sampler element)."""
    series = recorded(result)
    out: dict[str, Any] = {
        key: {name: sources[source] for name, sources in series.items() if source in sources}
        for key, source in KEYS.items()
    }
    out["validation_plot_config"] = {
        "objectives": {name: {"plot_count": PLOT_COUNT, "type": OBJECTIVE_TYPE} for name in series}
    }
    elements = _element_results(result) if isinstance(result, Mapping) else {}
    for element_result in elements.values():
        if isinstance(element_result, Mapping) and isinstance(element_result.get("chains"), list):
            out.update(_samples(element_result))
    return out


def _samples(fit: Mapping[str, Any]) -> dict[str, Any]:
    chains, names = fit["chains"], list(fit.get("parameter_names") or [])
    samples = {
        name: [[draw[i] for draw in walker] for walker in chains] for i, name in enumerate(names)
    }
    log_pdfs = fit.get("log_pdfs") or []
    costs = [[None if v is None else -v for v in walker] for walker in log_pdfs]
    return {
        "samples": samples,
        "sample_costs": costs,
        "sample_param_names": names,
        "sample_burnin": fit.get("burnin"),
    }


def finite_number(request: web.Request, name: str) -> float | None:
    """Query parameter ``name`` as a finite number (``None`` when absent; 422 otherwise)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) if len(raw) <= 64 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        fail(422, f"query parameter '{name}' must be a finite number, got {raw[:64]!r}")
    return value


def whole_number(
    request: web.Request, name: str, low: int = 1, high: int | None = None
) -> int | None:
    """Query parameter ``name`` as a whole number in ``low..high`` (``None`` when absent;
    without ``high``, a larger number counts as ``10**18``)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    digits = raw.isascii() and raw.isdigit()
    value = (int(raw) if len(raw) <= 18 else 10**18) if digits else None
    if value is None or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        fail(422, f"query parameter '{name}' must be a whole number {bound}, got {raw[:64]!r}")
    return value


def check_params(request: web.Request, accepted: frozenset[str]) -> None:
    unknown = sorted(set(request.query) - accepted)
    if unknown:
        shown = ", ".join(repr(k[:64]) for k in unknown[:10])
        fail(422, f"unknown query parameter(s) {shown}; accepted: {', '.join(sorted(accepted))}")


def window(
    x: list[Any], x_min: float | None, x_max: float | None, max_points: int | None
) -> list[int]:
    """Row indices of ``x`` within ``x_min``..``x_max``, thinned evenly to ``max_points``."""
    rows = list(range(len(x)))
    if x_min is not None or x_max is not None:
        low, high = -math.inf if x_min is None else x_min, math.inf if x_max is None else x_max
        rows = [i for i in rows if isinstance(v := x[i], int | float) and low <= v <= high]
    if max_points is not None and len(rows) > max_points:
        rows = rows[:: math.ceil(len(rows) / max_points)]
    return rows


def find(job_id: str, result: Any, objective: str, source: str) -> Series:
    """One objective's recorded series of ``source``; 404 naming what the job has."""
    series = recorded(result)
    if objective not in series:
        listed = ", ".join(repr(k) for k in list(series)[:50]) or "none"
        fail(
            404,
            f"job {job_id} recorded no series for objective {objective[:200]!r} (objectives "
            f"with series: {listed}; data_fit and validation elements record series)",
        )
    if source not in series[objective]:
        fail(
            404,
            f"job {job_id} has no {source!r} series for objective {objective!r} (its sources: "
            f"{', '.join(map(repr, series[objective]))}; a validation records the 'optimal' "
            "solve only)",
        )
    return series[objective][source]


def select(request: web.Request, job_id: str, result: Any) -> Series:
    """The series the request asks for (``objective``, ``source``, ``columns``, ``x_column``,
    ``x_min``/``x_max``, ``max_points``): 422 for a malformed or unknown parameter, 404 for an
    objective or source the job has not recorded."""
    query = request.query
    check_params(request, PARAMS)
    objective = query.get("objective")
    if not objective:
        fail(422, "query parameter 'objective' is required (see GET /jobs/{id}/series/channels)")
    source = query.get("source") or SOURCES[0]
    if source not in SOURCES:
        fail(
            422,
            f"query parameter 'source' must be one of {', '.join(SOURCES)}, got {source[:64]!r}",
        )
    x_min, x_max = finite_number(request, "x_min"), finite_number(request, "x_max")
    max_points = whole_number(request, "max_points")
    data = find(job_id, result, objective, source)
    x_column = query.get("x_column") or X_COLUMN
    wanted = [c for c in query.get("columns", "").split(",") if c] or list(data)
    missing = [c for c in (x_column, *wanted) if c not in data]
    if missing:
        fail(
            422,
            f"objective {objective!r} has no channel(s) "
            f"{', '.join(repr(c[:100]) for c in missing[:10])}; channels: "
            f"{', '.join(map(repr, data))}",
        )
    names = [x_column, *(c for c in dict.fromkeys(wanted) if c != x_column)]
    rows = window(data[x_column], x_min, x_max, max_points)
    return {name: [data[name][i] if i < len(data[name]) else None for i in rows] for name in names}
