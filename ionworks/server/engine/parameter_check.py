"""Checks of a new parameterized model against PyBaMM (slow: call off the event loop).

A parameterized model is built on a :class:`Base`: a model the catalog simulates (a built-in
model type or parameterized model id, with options), another PyBaMM model config, or an
uploaded custom model. Its ``parameters`` are a PyBaMM parameter-set name or a mapping of
parameter values (``ParameterValues.to_json()`` or ``{name: number}``) applied over the base's
own values. :func:`check_parameters` refuses, with a 4xx-ready :class:`EngineError` naming
the field:

- values outside the PyBaMM allow-list (:mod:`.safe_pybamm`), before anything is loaded;
- unknown names (neither in a PyBaMM parameter set nor a parameter of the model), each with
  its close matches;
- values PyBaMM cannot load, and parameters the model needs that are then still unset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ionworks.wire.pybamm import import_pybamm

from .catalog import (
    DEFAULT_PARAMETER_SET,
    build_model,
    check_names,
    model_from_spec,
    parameter_set_name,
    parameter_values,
)
from .errors import EngineError
from .safe_pybamm import (
    check_model_config,
    check_parameter_values,
    check_symbol_tree,
    model_class_of,
)

__all__ = [
    "MAX_PARAMETERS",
    "Base",
    "check_parameters",
    "load_custom_model",
    "model_of",
    "pybamm_bases",
    "values_of",
]

#: Parameter values one parameterized model may set.
MAX_PARAMETERS: Final = 10_000


@attrs.frozen
class Base:
    """What a parameterized model is built on.

    ``config``: the model config (``{"type", "module"?, "options"?}``; ``{"type": "custom"}``
    for an uploaded model); ``catalog_id``: the built-in model type or parameterized model id
    the catalog simulates it as (None if it cannot); ``document``: an uploaded model's
    serialised PyBaMM JSON.
    """

    config: Mapping[str, Any]
    catalog_id: str | None = None
    document: bytes | None = None

    @property
    def options(self) -> dict[str, Any]:
        options = self.config.get("options")
        return dict(options) if isinstance(options, Mapping) else {}

    def inline(self, parameters: Any = None) -> dict[str, Any]:
        """The catalog's ``{"model_id", "options"?, "parameters"?}`` of this base."""
        spec: dict[str, Any] = {"model_id": self.catalog_id}
        if self.options:
            spec["options"] = self.options
        if parameters:
            spec["parameters"] = parameters
        return spec


def pybamm_bases(document: Any) -> Any:
    """``document`` (a parsed upload) with its model's ``base_class`` replaced by the closest
    PyBaMM class of its ``base_class_mro`` (``pybamm.BaseModel`` if none), and the MRO cut to
    PyBaMM's classes: PyBaMM's own fallback when the defining package cannot be imported
    (a model of ``pybamm_model_zoo`` loads as the PyBaMM model it derives from), taken here
    without importing anything. The allow-list still checks what is left."""
    model = document.get("model") if isinstance(document, Mapping) else None
    if not isinstance(model, Mapping) or not isinstance(model.get("base_class"), str):
        return document
    mro = model.get("base_class_mro")
    names = [n for n in mro if isinstance(n, str)] if isinstance(mro, list) else []
    ours = [n for n in [model["base_class"], *names] if n.startswith("pybamm.")]
    base = ours[0] if ours else "pybamm.BaseModel"
    kept = list(dict.fromkeys(n for n in names if n.startswith("pybamm."))) or [base]
    if base == model["base_class"] and kept == mro:
        return document
    return {**document, "model": {**model, "base_class": base, "base_class_mro": kept}}


def load_custom_model(document: bytes | Mapping[str, Any], where: str = "model") -> Any:
    """An uploaded custom model (its JSON text, or parsed), loaded by PyBaMM only after the
    allow-list passed it."""
    data: Any = document
    if isinstance(document, bytes):
        try:
            data = json.loads(document)
        except ValueError as error:
            raise EngineError(f"{where}: not valid JSON: {error}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        raise EngineError(
            f"{where}: expected a serialised PyBaMM model (pybamm's Serialise JSON: an object "
            "with 'model')"
        )
    check_symbol_tree(data, where)
    from pybamm.expression_tree.operations.serialise import Serialise

    try:
        return Serialise.load_custom_model(dict(data))
    except Exception as error:  # PyBaMM raises many types for a malformed document
        raise EngineError(
            f"{where}: PyBaMM cannot load this model: {type(error).__name__}: {error}"
        ) from None


def model_of(base: Base) -> Any:
    """A new (unbuilt) PyBaMM model of ``base``."""
    if base.catalog_id is not None:
        return build_model(model_from_spec(base.inline()))
    if base.document is not None:
        return load_custom_model(base.document)
    check_model_config(base.config)
    cls = model_class_of(base.config.get("module", "lithium_ion"), base.config.get("type"))
    try:
        return cls(base.options or None)
    except Exception as error:  # pybamm.OptionError and friends
        raise EngineError(f"model options: {type(error).__name__}: {error}") from None


def values_of(base: Base, parameters: Any, needed: Iterable[str] | None = None) -> Any:
    """PyBaMM ``ParameterValues`` of a parameterized model: a set (by name), or ``parameters``
    over the base's own values (its set; PyBaMM's default set for other PyBaMM models; none
    for an uploaded model). With ``needed`` (the model's parameters), names outside PyBaMM's
    sets, the base's values and ``needed`` are refused with their close matches."""
    pybamm = import_pybamm()
    if base.catalog_id is not None:
        if isinstance(parameters, Mapping) and parameters and needed is not None:
            check_names(parameters, needed)
        return parameter_values(model_from_spec(base.inline(parameters)))
    if isinstance(parameters, str):
        return pybamm.ParameterValues(parameters)
    values = pybamm.ParameterValues({} if base.document is not None else DEFAULT_PARAMETER_SET)
    if parameters:
        if needed is not None:
            check_names(parameters, needed, values.keys())
        try:
            loaded = pybamm.ParameterValues.from_json(dict(parameters))
            values.update({k: loaded[k] for k in parameters}, check_already_exists=False)
        except Exception as error:  # pybamm raises many types for bad serialised values
            raise EngineError(f"parameters: {type(error).__name__}: {error}") from None
    return values


def _needed(model: Any) -> list[str]:
    try:
        return list(model.get_parameter_info())
    except Exception as error:
        raise EngineError(
            f"the model's parameters cannot be listed: {type(error).__name__}: {error}"
        ) from None


def check_parameters(base: Base, parameters: Any) -> Any:
    """Check ``parameters`` for a parameterized model on ``base`` (see the module docstring);
    returns what to store (a set's canonical name, or the mapping as given)."""
    if parameters is None:
        parameters = {}
    if isinstance(parameters, str):
        try:
            parameters = parameter_set_name(parameters)
        except EngineError as error:
            raise EngineError(f"parameters: {error}") from None
    elif isinstance(parameters, Mapping):
        if len(parameters) > MAX_PARAMETERS:
            raise EngineError(
                f"parameters: {len(parameters)} values; at most {MAX_PARAMETERS} are accepted"
            )
        check_parameter_values(parameters, "parameters")
    else:
        raise EngineError(
            "parameters: expected an object of parameter values or a PyBaMM parameter-set "
            f"name, got {type(parameters).__name__}"
        )
    needed = _needed(model_of(base))
    have = set(values_of(base, parameters, needed).keys())
    missing = [name for name in needed if name not in have]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise EngineError(
            f"parameters: the model needs {len(missing)} parameter(s) that are not set: {shown}"
        )
    return parameters
