"""A pipeline element's result with its diagnostics filled (``client.pipeline.element_result``).

The raw ``element_results[name]`` of ``GET /pipelines/{id}/result`` carries the fitted values
and statistics; a fit or validation also has diagnostics behind its job: model-vs-data
``series`` (``{objective: {source: {channel: [values]}}}``), the ``overlay`` plots
(``{objective: {"type", "plots": [{"traces", "layout"}, ...]}}``, the shape the official
``ionworks_schema`` result classes draw), a fit's ``trace`` (per-iteration rows with
``best_cost`` and ``inputs_unscaled``) and a sampler fit's ``posterior`` (``samples``,
``sample_costs``, ``sample_param_names``, ``sample_burnin``). :class:`ElementResult` holds
them all, fetched at once; :meth:`ElementResult.plot_fit` and :meth:`ElementResult.plot_trace`
draw them (matplotlib, the ``plot`` extra; a ``Figure`` of its own, no pyplot state).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from attrs import field, frozen

__all__ = ["ElementResult"]

#: How measured data is drawn (open markers, so the model line over it stays readable).
DATA_STYLE = {"linestyle": "", "marker": "o", "markersize": 3, "alpha": 0.4, "color": "k"}


def _figure(rows: int, columns: int) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'ionworks[plot]'") from None
    figure = Figure(figsize=(5.0 * columns, 3.2 * rows), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def _numbers(values: Any) -> list[float]:
    return [math.nan if v is None else float(v) for v in values or []]


def _title(layout: Any, axis: str) -> str:
    entry = layout.get(axis) if isinstance(layout, dict) else None
    title = entry.get("title") if isinstance(entry, dict) else None
    text = title.get("text") if isinstance(title, dict) else title
    return text if isinstance(text, str) else ""


def _save(figure: Any, path: str | Path | None) -> None:
    if path is not None:
        figure.savefig(path)


@frozen
class ElementResult:
    """One element's raw result and its diagnostics (empty where the element has none)."""

    name: str
    element_type: str | None
    job_id: str | None
    result: dict[str, Any] = field(factory=dict)
    overlay: dict[str, Any] = field(factory=dict)
    series: dict[str, Any] = field(factory=dict)
    trace: list[dict[str, Any]] = field(factory=list)
    posterior: dict[str, Any] = field(factory=dict)

    @property
    def type(self) -> str | None:
        """The result's type discriminator (``OptimizationResult``, ``PosteriorResult``,
        ``ValidationResult``), as the official ``ionworks_schema`` results name them."""
        kind = self.result.get("type")
        return kind if isinstance(kind, str) else None

    @property
    def parameter_values(self) -> dict[str, Any]:
        values = self.result.get("parameter_values")
        return dict(values) if isinstance(values, dict) else {}

    def to_schema_config(self) -> dict[str, Any]:
        """The raw result as an ``ionworks_schema`` result config (``iws.from_config``)."""
        return {"type": self.type or "element_result", **self.result}

    def plot_fit(self, path: str | Path | None = None) -> tuple[Any, Any]:
        """The overlay: one row per objective, one panel per plot (data against the model,
        then the error). Saved to ``path`` when given. Returns ``(figure, axes)``."""
        plotted = [(k, v["plots"]) for k, v in self.overlay.items() if v.get("plots")]
        if not plotted:
            raise ValueError(
                f"element {self.name!r} has no overlay plots (data_fit and validation "
                "elements record them)"
            )
        figure, axes = _figure(len(plotted), max(len(plots) for _, plots in plotted))
        for row, (objective, plots) in enumerate(plotted):
            for column, plot in enumerate(plots):
                ax = axes[row][column]
                for trace in plot.get("traces") or []:
                    style = DATA_STYLE if trace.get("name") == "Data" else {}
                    x, y = _numbers(trace.get("x")), _numbers(trace.get("y"))
                    ax.plot(x, y, label=trace.get("name"), **style)
                ax.set_xlabel(_title(plot.get("layout"), "xaxis"))
                ax.set_ylabel(_title(plot.get("layout"), "yaxis"))
                ax.set_title(objective)
                ax.legend()
        _save(figure, path)
        return figure, axes

    def plot_trace(self, path: str | Path | None = None) -> tuple[Any, Any]:
        """The best cost so far, then each parameter's value (``inputs_unscaled``), against
        the iteration. Saved to ``path`` when given. Returns ``(figure, axes)``."""
        if not self.trace:
            raise ValueError(f"element {self.name!r} has no trace (data_fit elements record one)")
        names = list(self.trace[0].get("inputs_unscaled") or {})
        figure, axes = _figure(1 + len(names), 1)
        iterations = [row.get("iteration") for row in self.trace]
        axes[0][0].plot(iterations, _numbers(row.get("best_cost") for row in self.trace))
        axes[0][0].set_ylabel("best cost")
        for i, name in enumerate(names, start=1):
            values = _numbers((row.get("inputs_unscaled") or {}).get(name) for row in self.trace)
            axes[i][0].step(iterations, values, where="post")
            axes[i][0].set_ylabel(name)
        axes[-1][0].set_xlabel("iteration")
        _save(figure, path)
        return figure, axes
