"""Cost functions (``iws.costs``): how model/data disagreement is summed into one number.

Serialised as ``{"type": "<ClassName>"}`` like ionworks-schema. The local server evaluates
``RMSE`` (the default), ``MSE``, ``SSE``, ``MAE`` and ``Max`` on the voltage residuals.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._base import Schema, from_registry

__all__ = ["MAE", "MSE", "RMSE", "SSE", "ErrorFunction", "Max", "ObjectiveFunction", "cost_from"]


@attrs.frozen
class ObjectiveFunction(Schema):
    """Base of the cost functions; construct one of the concrete classes."""

    def to_config(self) -> dict[str, Any]:
        return {"type": self.type_name}


@attrs.frozen
class ErrorFunction(ObjectiveFunction):
    """Base of the residual-based costs (RMSE, MSE, SSE, MAE, Max)."""


@attrs.frozen
class RMSE(ErrorFunction):
    """Root mean squared error (the server's default cost)."""


@attrs.frozen
class MSE(ErrorFunction):
    """Mean squared error."""


@attrs.frozen
class SSE(ErrorFunction):
    """Sum of squared errors."""


@attrs.frozen
class MAE(ErrorFunction):
    """Mean absolute error."""


@attrs.frozen
class Max(ErrorFunction):
    """Maximum absolute error."""


COSTS: dict[str, type[ObjectiveFunction]] = {c.__name__: c for c in (RMSE, MSE, SSE, MAE, Max)}


def cost_from(where: str, value: Any) -> ObjectiveFunction:
    """A cost from an instance, a name (``"RMSE"``) or a config dict (``{"type": "RMSE"}``)."""
    names = ", ".join(f"iws.costs.{n}()" for n in COSTS)
    return from_registry(where, value, COSTS, ObjectiveFunction, f"a cost ({names})")
