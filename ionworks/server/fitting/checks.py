"""Request-time checks of a pipeline config, before it is stored or any work starts.

- Every model choice (``"model"`` anywhere in the elements: entry values, objective
  options) passes the PyBaMM allow-list (:mod:`ionworks.server.engine.safe_pybamm`), and
  every ``"parameterized_model"`` is a valid one (its parameter overrides included).
- Data fits stay within the server's :class:`~ionworks.server.limits.Limits`: fitted
  parameters, optimiser iterations and population size (the population a DE optimiser
  would use by default, ``10 × parameters``, counts too); a sampler's walkers (at most
  ``max_population_size``, as a population), walkers × (steps + 1)
  (:data:`~.optimize.MAX_SAMPLER_EVALUATIONS`), burn-in and cost.

Raises ``ValueError`` (an :class:`EngineError` for model problems) whose message starts with
the path inside the request (``elements.fit.optimizer.population_size``). Imports PyBaMM
only when a config carries a model, so call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ionworks.server.engine.catalog import model_from_spec
from ionworks.server.engine.errors import EngineError
from ionworks.server.engine.safe_pybamm import check_model_config
from ionworks.server.limits import Limits

from .config import element_type
from .optimize import OPTIMIZERS, OptimizerSpec, cost_function
from .sampler import check_sampler_cost

__all__ = ["check_pipeline"]

SAMPLERS = frozenset(name for name, kind in OPTIMIZERS.items() if kind == "sampler")


def check_pipeline(elements: Mapping[str, Any], limits: Limits) -> None:
    """Check a pipeline's ``elements`` (see the module docstring)."""
    _check_models(elements, "elements")
    for name, element in elements.items():
        if isinstance(element, Mapping) and _is_fit(element):
            _check_fit(element, f"elements.{name}", limits)


def _is_fit(element: Mapping[str, Any]) -> bool:
    try:
        return element_type(element.get("element_type")) == "data_fit"
    except ValueError:
        return False  # reported with its element name when the job parses the config


def _check_models(tree: Any, where: str) -> None:
    stack: list[tuple[Any, str]] = [(tree, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = f"{path}.{key}"
                if key == "model" and value is not None:
                    check_model_config(value, here)
                elif key == "parameterized_model" and value is not None:
                    try:
                        model_from_spec(value)
                    except EngineError as exc:
                        raise EngineError(f"{here}: {exc}", code=exc.code) from None
                else:
                    stack.append((value, here))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))


def _check_fit(element: Mapping[str, Any], where: str, limits: Limits) -> None:
    parameters = element.get("parameters")
    count = len(parameters) if isinstance(parameters, Mapping) else 0
    if count > limits.max_fit_parameters:
        raise ValueError(
            f"{where}.parameters: {count} fitted parameters exceed the limit of "
            f"{limits.max_fit_parameters}"
        )
    optimizer = element.get("optimizer")
    try:
        spec = OptimizerSpec.parse(optimizer)
    except (TypeError, ValueError) as exc:
        kind = optimizer.get("type") if isinstance(optimizer, Mapping) else optimizer
        if kind in SAMPLERS:  # a sampler's options are bounded before it runs
            raise ValueError(f"{where}.optimizer: {exc}") from None
        return  # an unknown optimizer fails the job with its message, as on the cloud
    if spec.max_iterations is not None and spec.max_iterations > limits.max_iterations:
        raise ValueError(
            f"{where}.optimizer.max_iterations: {spec.max_iterations} exceeds the limit of "
            f"{limits.max_iterations}"
        )
    if spec.kind == "sampler":
        _check_sampler(element, spec, count, where, limits)
    population = spec.population_size
    if population is None and spec.kind == "de":
        population = 10 * max(count, 1)
    if population is not None and population > limits.max_population_size:
        raise ValueError(
            f"{where}.optimizer.population_size: {population} exceeds the limit of "
            f"{limits.max_population_size}"
        )


def _check_sampler(
    element: Mapping[str, Any], spec: OptimizerSpec, count: int, where: str, limits: Limits
) -> None:
    walkers = spec.sampler_walkers(max(count, 1))
    if walkers > limits.max_population_size:
        raise ValueError(
            f"{where}.optimizer.walkers: {walkers} walkers exceed the limit of "
            f"{limits.max_population_size} (max_population_size)"
        )
    try:
        spec.sampler_shape(max(count, 1))
    except ValueError as exc:
        raise ValueError(f"{where}.optimizer: {exc}") from None
    try:
        name, _ = cost_function(element.get("cost"))
        check_sampler_cost(spec, name)
    except ValueError as exc:
        raise ValueError(f"{where}.cost: {exc}") from None
