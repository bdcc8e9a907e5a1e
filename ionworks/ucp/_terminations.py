"""PyBaMM termination used for every UCP end condition and safety limit.

Imported only by :mod:`.to_pybamm` (it needs PyBaMM at import time).

PyBaMM's experiment loop treats an event whose name carries the ``[experiment]`` tag as
the normal end of a step and moves on; any *other* event stops the whole experiment.
Safety limits whose breach must end the test (goto ``End``) therefore use untagged
names.
"""

from __future__ import annotations

from typing import Any

import pybamm

__all__ = ["Threshold"]


class Threshold(pybamm.step.BaseTermination):  # type: ignore[misc]
    """``variable <op> value`` (optionally on ``|sign * variable|``) as a step event."""

    def __init__(
        self,
        label: str,
        variable: str,
        operator: str,
        value: float,
        *,
        magnitude: bool = False,
        sign: float = 1.0,
        ends_step: bool = True,
    ) -> None:
        super().__init__(value, operator)
        self.label = label
        self.variable = variable
        self.magnitude = magnitude
        self.sign = sign
        self.ends_step = ends_step

    def get_event_name(self, step: Any) -> str:
        return f"{self.label} [experiment]" if self.ends_step else self.label

    def get_event_expression(self, variables: Any, step: Any) -> Any:
        quantity = variables[self.variable] * self.sign
        if self.magnitude:
            quantity = abs(quantity)
        if self.operator == "<":
            return quantity - self.value
        return self.value - quantity

    def __repr__(self) -> str:
        return f"Threshold({self.get_event_name(None)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Threshold) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))
