"""``iws.Validation``: simulate with the current parameter values and compare with data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._base import Schema, check_mapping, fail, wire
from .costs import ObjectiveFunction, cost_from
from .objectives import BaseObjective, objective_from

__all__ = ["Validation"]


@attrs.frozen(init=False)
class Validation(Schema):
    """``objectives`` (name → objective); ``summary_stats`` (costs) are recorded in the config
    — the server reports RMSE, MAE and max absolute error of the voltage for each objective."""

    objectives: dict[str, BaseObjective | dict[str, Any]]
    summary_stats: tuple[ObjectiveFunction, ...] | None

    def __init__(
        self,
        objectives: Mapping[str, BaseObjective | Mapping[str, Any]],
        summary_stats: Sequence[ObjectiveFunction | Mapping[str, Any] | str] | None = None,
    ) -> None:
        raw = check_mapping("Validation.objectives", objectives)
        built = {k: objective_from(f"Validation.objectives[{k!r}]", v) for k, v in raw.items()}
        stats = None
        if summary_stats is not None:
            if isinstance(summary_stats, str | Mapping) or not isinstance(summary_stats, Sequence):
                fail("Validation.summary_stats", "a list of costs", summary_stats)
            stats = tuple(
                cost_from(f"Validation.summary_stats[{i}]", s) for i, s in enumerate(summary_stats)
            )
        self.__attrs_init__(built, stats)

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"objectives": wire(self.objectives, "Validation.objectives")}
        if self.summary_stats is not None:
            out["summary_stats"] = [s.to_config() for s in self.summary_stats]
        return out
