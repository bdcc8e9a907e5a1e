"""A fit's model-vs-data plots (``GET /pipelines/datafits/{id}/plot_data``, also
``GET /jobs/{id}/plot_data``), built from the series the job recorded (:mod:`.job_series`).

Each objective has :data:`~.job_series.PLOT_COUNT` plots, in the stored-plot vocabulary the
official client draws (``{"traces": [{"name", "x", "y"}], "layout": {"xaxis": {"title":
{"text"}}, ...}}``): index 0 the measured voltage (``Data``), the model at the fitted values
(``Fit``) and, for a fit, at the initial guess (``Baseline``); index 1 the model-minus-data
``Error``. Traces are windowed to ``x_min``..``x_max`` and thinned evenly to at most
``max_points`` points (100..80,000, default 2,000). A job with no series for the objective,
or an index past the last plot, is a 404 (the official client reads that as "no plot").
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import fail

from . import job_series as js

__all__ = ["plot_data"]

PARAMS: Final = frozenset({"objective_name", "plot_index", "max_points", "x_min", "x_max"})
MIN_POINTS, MAX_POINTS, DEFAULT_POINTS = 100, 80_000, 2000
MEASURED: Final = "Measured voltage [V]"
MODEL: Final = "Model voltage [V]"
Y_LABEL: Final = "Voltage [V]"


def _layout(y_label: str) -> dict[str, Any]:
    return {"xaxis": {"title": {"text": js.X_COLUMN}}, "yaxis": {"title": {"text": y_label}}}


def _take(values: list[Any], rows: list[int]) -> list[Any]:
    return [values[i] if i < len(values) else None for i in rows]


def _error(model: list[Any], measured: list[Any]) -> list[float | None]:
    return [
        m - d if isinstance(m, int | float) and isinstance(d, int | float) else None
        for m, d in zip(model, measured, strict=False)
    ]


def plot_data(request: web.Request, job_id: str, result: Any) -> dict[str, Any]:
    """The plot the request asks for (see the module docstring); 422 for a malformed or
    unknown parameter."""
    js.check_params(request, PARAMS)
    objective = request.query.get("objective_name")
    if not objective:
        fail(422, "query parameter 'objective_name' is required (an objective of the fit)")
    index = js.whole_number(request, "plot_index", 0) or 0
    points = js.whole_number(request, "max_points", MIN_POINTS, MAX_POINTS) or DEFAULT_POINTS
    x_min, x_max = js.finite_number(request, "x_min"), js.finite_number(request, "x_max")
    optimal = js.find(job_id, result, objective, "optimal")
    if index >= js.PLOT_COUNT:
        fail(
            404,
            f"objective {objective!r} of job {job_id} has {js.PLOT_COUNT} plots "
            f"(plot_index 0..{js.PLOT_COUNT - 1}), got {index}",
        )
    x = optimal.get(js.X_COLUMN) or []
    rows = js.window(x, x_min, x_max, points)
    times = _take(x, rows)
    measured = _take(optimal.get(MEASURED) or [], rows)
    model = _take(optimal.get(MODEL) or [], rows)
    if index == 0:
        traces = [
            {"name": "Data", "x": times, "y": measured, "mode": "markers"},
            {"name": "Fit", "x": times, "y": model, "mode": "lines"},
        ]
        baseline = js.recorded(result)[objective].get("baseline")
        if baseline is not None:
            base_rows = js.window(baseline.get(js.X_COLUMN) or [], x_min, x_max, points)
            traces.append(
                {
                    "name": "Baseline (initial guess)",
                    "x": _take(baseline.get(js.X_COLUMN) or [], base_rows),
                    "y": _take(baseline.get(MODEL) or [], base_rows),
                    "mode": "lines",
                }
            )
        layout = _layout(Y_LABEL)
    else:
        traces = [{"name": "Error", "x": times, "y": _error(model, measured), "mode": "lines"}]
        layout = _layout("Error [V]")
    return {
        "objective_name": objective,
        "plot_index": index,
        "plot_count": js.PLOT_COUNT,
        "type": js.OBJECTIVE_TYPE,
        "traces": traces,
        "layout": layout,
        "total_points": len(x),
        "returned_points": len(rows),
    }
