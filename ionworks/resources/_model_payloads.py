"""Client-side normalisation of model and parameterized-model payloads (the official client's
``normalize_model_config``, ``normalize_simulation_settings`` and ``normalize_parameters``):
live PyBaMM and schema objects become JSON; the caller's dict is never changed."""

from __future__ import annotations

from typing import Any

from ionworks.wire.pybamm import import_pybamm

__all__ = ["model_config", "normalized", "parameters_json"]


def model_config(config: Any) -> Any:
    """A built-in PyBaMM model as ``{"type": ClassName, "options": {options not None}}``; a
    dict or None unchanged; another object with ``to_config()`` as its config. A custom PyBaMM
    model is a ``TypeError`` (upload it with ``model.upload_custom``)."""
    if config is None or isinstance(config, dict):
        return config
    if not (hasattr(config, "rhs") and hasattr(config, "variables")):  # not a PyBaMM model
        to_config = getattr(config, "to_config", None)
        if callable(to_config):
            return to_config()
        raise TypeError(
            f"model config must be a dict or a built-in PyBaMM model, got {type(config).__name__}"
        )
    name = type(config).__name__
    if getattr(import_pybamm().lithium_ion, name, None) is not type(config):
        raise TypeError(
            f"{name} is a custom pybamm model; create it with "
            "model.upload_custom(model, name=...) instead of create()"
        )
    serialised: dict[str, Any] = {"type": name}
    options = {
        k: v for k, v in dict(getattr(config, "options", None) or {}).items() if v is not None
    }
    if options:
        serialised["options"] = options
    return serialised


def parameters_json(parameters: Any) -> Any:
    """A ``pybamm.ParameterValues`` or a set name (``"Chen2020"``) as
    ``ParameterValues.to_json()``; anything else unchanged."""
    if isinstance(parameters, str):
        parameters = import_pybamm().ParameterValues(parameters)
    to_json = getattr(parameters, "to_json", None)
    return to_json() if callable(to_json) else parameters


def _settings_json(settings: Any) -> Any:
    """A ``SimulationSettings`` object (anything with ``to_config()``) as its config dict."""
    to_config = getattr(settings, "to_config", None)
    return to_config() if callable(to_config) and not isinstance(settings, dict) else settings


def normalized(
    data: dict[str, Any] | None, *, config: bool = False, parameters: bool = False
) -> dict[str, Any]:
    """A copy of ``data`` (``None``: ``{}``) with ``simulation_settings`` and, if asked,
    ``config`` (:func:`model_config`) and ``parameters`` (:func:`parameters_json`) as JSON."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict, got {type(data).__name__}")
    body = dict(data)
    if "simulation_settings" in body:
        body["simulation_settings"] = _settings_json(body["simulation_settings"])
    if config and "config" in body:
        body["config"] = model_config(body["config"])
    if parameters and "parameters" in body:
        body["parameters"] = parameters_json(body["parameters"])
    return body
