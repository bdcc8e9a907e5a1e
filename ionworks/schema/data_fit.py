"""``iws.DataFit``: fit parameters so the model matches measured data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._base import Schema, check_mapping, fail, wire
from .costs import ObjectiveFunction, cost_from
from .objectives import BaseObjective, objective_from
from .parameter import Parameter, parameter_from
from .parameter_estimators import Optimizer, optimizer_from

__all__ = ["DataFit"]


@attrs.frozen(init=False)
class DataFit(Schema):
    """A data fit.

    - ``objectives``: name → objective (``iws.objectives.CurrentDriven`` or the doc's short
      form ``{"data": ...}``); a single objective is keyed by its class name.
    - ``parameters``: name → :class:`Parameter` (or ``{"bounds": ..., "initial_value": ...}``).
    - ``cost``: ``iws.costs.RMSE()`` (default), ``SSE()``, ``MAE()``, …
    - ``optimizer``: ``iws.optimizers.DifferentialEvolution(...)``, ``ScipyMinimize(...)`` or
      ``ScipyLeastSquares(...)`` (default).
    - ``source``: a free-text note, not sent (as in ionworks-schema).
    """

    objectives: dict[str, BaseObjective | dict[str, Any]]
    source: str
    parameters: dict[str, Parameter]
    cost: ObjectiveFunction | None
    optimizer: Optimizer | None

    def __init__(
        self,
        objectives: BaseObjective | Mapping[str, BaseObjective | Mapping[str, Any]],
        source: str = "",
        parameters: Mapping[str, Parameter | Mapping[str, Any] | float] | None = None,
        *,
        cost: ObjectiveFunction | Mapping[str, Any] | str | None = None,
        optimizer: Optimizer | Mapping[str, Any] | str | None = None,
    ) -> None:
        if isinstance(objectives, BaseObjective):
            objectives = {type(objectives).__name__: objectives}
        raw = check_mapping("DataFit.objectives", objectives)
        built = {k: objective_from(f"DataFit.objectives[{k!r}]", v) for k, v in raw.items()}
        if not isinstance(source, str):
            fail("DataFit.source", "a string", source)
        if parameters is None:
            fail("DataFit.parameters", "a non-empty dict of parameter name -> iws.Parameter")
        params = {
            k: parameter_from(f"DataFit.parameters[{k!r}]", k, v)
            for k, v in check_mapping("DataFit.parameters", parameters).items()
        }
        self.__attrs_init__(
            built,
            source,
            params,
            None if cost is None else cost_from("DataFit.cost", cost),
            None if optimizer is None else optimizer_from("DataFit.optimizer", optimizer),
        )

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "objectives": wire(self.objectives, "DataFit.objectives"),
            "parameters": {k: p.to_config() for k, p in self.parameters.items()},
        }
        if self.cost is not None:
            out["cost"] = self.cost.to_config()
        if self.optimizer is not None:
            out["optimizer"] = self.optimizer.to_config()
        return out
