"""Optimizers (``iws.optimizers`` / ``iws.parameter_estimators``) run by the local server.

Each serialises as ``{"type": "<ClassName>", <fields that were set>}``. The server runs them
with ``scipy.optimize``: least squares (``ScipyLeastSquares``, the default when a data fit
names none), ``ScipyMinimize`` and differential evolution (``DifferentialEvolution`` /
``ScipyDifferentialEvolution``), whose ``population_size`` is the total population evaluated
as one batch per generation.
"""

from __future__ import annotations

from typing import Any, cast

import attrs

from ._base import Schema, check_positive_int, check_str, fail, from_registry, is_number

__all__ = [
    "DifferentialEvolution",
    "Optimizer",
    "ScipyDifferentialEvolution",
    "ScipyLeastSquares",
    "ScipyMinimize",
    "optimizer_from",
]


def _positive_int(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_positive_int(f"{type(instance).__name__}.{attribute.name}", value)


def _positive_number(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not (is_number(value) and value > 0):
        fail(f"{type(instance).__name__}.{attribute.name}", "a positive number", value)


def _seed(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32
    ):
        fail(f"{type(instance).__name__}.{attribute.name}", "an integer in [0, 2**32)", value)


class Optimizer(Schema):
    """Base of the optimizers; construct one of the concrete classes."""

    __slots__ = ()

    def to_config(self) -> dict[str, Any]:
        fields = attrs.asdict(cast(Any, self), recurse=False)
        return {"type": self.type_name, **{k: v for k, v in fields.items() if v is not None}}


@attrs.frozen(kw_only=True)
class DifferentialEvolution(Optimizer):
    """Differential evolution; ``max_iterations`` generations (default 30) of
    ``population_size`` points (default 10 per fitted parameter)."""

    max_iterations: int | None = attrs.field(default=None, validator=_positive_int)
    population_size: int | None = attrs.field(default=None, validator=_positive_int)
    relative_tolerance: float | None = attrs.field(default=None, validator=_positive_number)


@attrs.frozen(kw_only=True)
class ScipyDifferentialEvolution(Optimizer):
    """``scipy.optimize.differential_evolution`` (same run as :class:`DifferentialEvolution`)."""

    max_iterations: int | None = attrs.field(default=None, validator=_positive_int)
    population_size: int | None = attrs.field(default=None, validator=_positive_int)
    seed: int | None = attrs.field(default=None, validator=_seed)


def _method(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(f"{type(instance).__name__}.{attribute.name}", value)


@attrs.frozen(kw_only=True)
class ScipyMinimize(Optimizer):
    """``scipy.optimize.minimize`` with bounds (``method`` default ``"L-BFGS-B"``)."""

    method: str | None = attrs.field(default=None, validator=_method)
    max_iterations: int | None = attrs.field(default=None, validator=_positive_int)


@attrs.frozen(kw_only=True)
class ScipyLeastSquares(Optimizer):
    """``scipy.optimize.least_squares`` on the voltage residuals (the server's default);
    ``max_iterations`` bounds model evaluations to ``max_iterations × (n + 1)``."""

    max_iterations: int | None = attrs.field(default=None, validator=_positive_int)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    c.__name__: c
    for c in (DifferentialEvolution, ScipyDifferentialEvolution, ScipyMinimize, ScipyLeastSquares)
}


def optimizer_from(where: str, value: Any) -> Optimizer:
    """An optimizer from an instance, a name or ``{"type": <name>, <options>}``."""
    names = ", ".join(f"iws.optimizers.{n}" for n in OPTIMIZERS)
    return from_registry(where, value, OPTIMIZERS, Optimizer, f"an optimizer ({names})")
