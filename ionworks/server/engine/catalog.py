"""Built-in parameterized models and the normalisation of a request's ``parameterized_model``.

Built-in ids are ``"{set}-{model}"`` in lower case (``chen2020-spme``): every combination of
the PyBaMM parameter sets below with ``SPM``, ``SPMe`` and ``DFN``. Each was checked on
PyBaMM 26.10 to simulate a 1C discharge to its lower cut-off with all three models.

==============  =============================================  ===========
parameter set   cell                                           nominal
==============  =============================================  ===========
Chen2020        LG M50 21700, NMC811 / graphite-SiOx           5.0 A.h
Marquis2019     Kokam SLPB78205130H pouch, LCO / graphite      0.68 A.h
Ecker2015       Kokam SLPB 75106100 pouch, NCO / graphite      0.16 A.h
OKane2022       LG M50 21700 (degradation study set)          5.0 A.h
Prada2013       A123 26650, LFP / graphite                     2.3 A.h
Mohtat2020      NMC532 / graphite pouch                        5.0 A.h
Ai2020          Enertech pouch, LCO / graphite                 2.28 A.h
NCA_Kim2011     "nominal design" pouch, NCA / graphite         0.43 A.h
==============  =============================================  ===========

Not included: Xu2019, OKane2022_graphite_SiOx_halfcell (half cells), Chen2020_composite
(needs composite-electrode options), MSMR_Example (needs the MSMR option), Ramadass2004
(PyBaMM calls it a "Frankenstein" set; its capacity is 1.8× its nominal value), ORegan2022
(its voltage *rises* by up to 68 mV during a 1C discharge with SPM/SPMe on PyBaMM 26.10).

A request's ``parameterized_model`` may be (:func:`model_from_spec`):

- a built-in id string (case-insensitive): ``"chen2020-spme"``;
- ``{"model_id": <built-in id | "SPM" | "SPMe" | "DFN">, "parameters": {...}, "options": {...}}``:
  ``parameters`` is a ``ParameterValues.to_json()`` dict or ``{name: value}`` overrides
  applied over the built-in's set (or over PyBaMM's default set, Marquis2019, for a bare
  model type), or a parameter-set name (``"Chen2020"``); ``options`` are PyBaMM model
  options. Record keys ``id``, ``name``, ``description``, ``project_id``,
  ``simulation_settings`` are ignored;
- ``{"quick_model": {"capacity": A.h, "chemistry": name, "resistance_pct": %}}`` or the same
  keys at top level: an equivalent-circuit model (see :mod:`.quick`).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from . import quick
from .errors import EngineError, UnknownModelError, did_you_mean
from .quick import QuickModel
from .safe_pybamm import check_model_config, check_parameter_values

__all__ = [
    "BUILTIN_MODELS",
    "MODEL_TYPES",
    "PARAMETER_SETS",
    "BuiltinModel",
    "EngineError",
    "ModelSpec",
    "QuickModel",
    "UnknownModelError",
    "build_model",
    "check_names",
    "known_parameter_names",
    "model_from_spec",
    "parameter_set_name",
    "parameter_values",
]

#: Model type → PyBaMM lithium-ion class name and description.
MODEL_TYPES: Final[Mapping[str, str]] = {
    "SPM": "single particle model",
    "SPMe": "single particle model with electrolyte",
    "DFN": "Doyle-Fuller-Newman model",
}
#: The ECM type used by quick models.
ECM: Final = "ECM"
#: PyBaMM's default parameter set for lithium-ion models.
DEFAULT_PARAMETER_SET: Final = "Marquis2019"

#: Parameter set → short description of the cell (see the module table).
PARAMETER_SETS: Final[Mapping[str, str]] = {
    "Chen2020": "LG M50 21700 cylindrical cell, NMC811 / graphite-SiOx, 5.0 A.h",
    "Marquis2019": "Kokam SLPB78205130H pouch cell, LCO / graphite, 0.68 A.h",
    "Ecker2015": "Kokam SLPB 75106100 pouch cell, NCO / graphite, 0.16 A.h",
    "OKane2022": "LG M50 21700 cylindrical cell (degradation study set), 5.0 A.h",
    "Prada2013": "A123 26650 cylindrical cell, LFP / graphite, 2.3 A.h",
    "Mohtat2020": "pouch cell, NMC532 / graphite, 5.0 A.h",
    "Ai2020": "Enertech pouch cell, LCO / graphite, 2.28 A.h",
    "NCA_Kim2011": "nominal-design pouch cell, NCA / graphite, 0.43 A.h",
}

_RECORD_KEYS = ("id", "name", "description", "project_id", "simulation_settings")
_MODEL_KEYS = ("model_id", "parameters", "options", *_RECORD_KEYS)


@attrs.frozen
class BuiltinModel:
    """One built-in parameterized model (a PyBaMM parameter set with a PyBaMM model)."""

    id: str
    name: str
    parameter_set: str
    model_type: str  # "SPM" | "SPMe" | "DFN"
    description: str


def _builtins() -> dict[str, BuiltinModel]:
    out = {}
    for parameter_set, cell in PARAMETER_SETS.items():
        for model_type, long_name in MODEL_TYPES.items():
            model_id = f"{parameter_set}-{model_type}".lower()
            out[model_id] = BuiltinModel(
                id=model_id,
                name=f"{parameter_set} {model_type}",
                parameter_set=parameter_set,
                model_type=model_type,
                description=f"PyBaMM {long_name} ({model_type}) with the {parameter_set} "
                f"parameter set: {cell}.",
            )
    return out


BUILTIN_MODELS: Final[dict[str, BuiltinModel]] = _builtins()


@attrs.frozen
class ModelSpec:
    """A normalised, hashable parameterized model (a cache key).

    ``parameters`` and ``options`` are canonical JSON texts (sorted keys, no spaces).
    """

    model_type: str  # "SPM" | "SPMe" | "DFN" | "ECM"
    parameter_set: str | None = None
    parameters: str = "{}"
    options: str = "{}"
    quick: QuickModel | None = None
    builtin_id: str | None = None

    @property
    def is_ecm(self) -> bool:
        return self.model_type == ECM

    @property
    def label(self) -> str:
        """A short human-readable name."""
        if self.quick is not None:
            return f"quick model {self.quick.chemistry} {self.quick.capacity:g} A.h"
        base = self.builtin_id or f"{self.model_type} ({self.parameter_set or 'default set'})"
        return base if self.parameters == "{}" else f"{base} with parameter overrides"


def _canonical_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise EngineError(
            f"{what} must be JSON data (finite numbers, strings, lists, objects): {error}"
        ) from None


def _unknown_model(model_id: Any) -> UnknownModelError:
    types = ", ".join(MODEL_TYPES)
    return UnknownModelError(
        f"unknown parameterized model {model_id!r}; valid built-in ids: "
        f"{', '.join(BUILTIN_MODELS)}; or use {{'model_id': <{types}>, 'parameters': {{...}}}} "
        "or {'quick_model': {'capacity': ..., 'chemistry': ...}}"
    )


def _builtin_spec(model_id: str) -> ModelSpec | None:
    builtin = BUILTIN_MODELS.get(model_id.strip().lower())
    if builtin is None:
        return None
    return ModelSpec(builtin.model_type, builtin.parameter_set, builtin_id=builtin.id)


def _model_type(model_id: str) -> str | None:
    lowered = model_id.strip().lower()
    return next((name for name in MODEL_TYPES if name.lower() == lowered), None)


def _pybamm_spec(config: Mapping[str, Any]) -> ModelSpec:
    unknown = sorted(str(key) for key in config if key not in _MODEL_KEYS)
    if unknown:
        raise EngineError(
            f"unknown parameterized_model key(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(_MODEL_KEYS)}"
        )
    model_id = config.get("model_id")
    if not isinstance(model_id, str):
        raise _unknown_model(model_id)
    spec = _builtin_spec(model_id)
    if spec is None:
        model_type = _model_type(model_id)
        if model_type is None:
            raise _unknown_model(model_id)
        spec = ModelSpec(model_type)
    parameters = config.get("parameters")
    if isinstance(parameters, str):
        name = parameter_set_name(parameters)
        spec = attrs.evolve(spec, parameter_set=name, builtin_id=None)
    elif parameters is not None:
        if not isinstance(parameters, Mapping):
            raise EngineError("'parameters' must be a mapping of parameter name to value")
        check_parameter_values(parameters, "parameterized_model.parameters")
        if parameters:
            spec = attrs.evolve(spec, parameters=_canonical_json(dict(parameters), "parameters"))
    options = config.get("options")
    if options:
        if not isinstance(options, Mapping):
            raise EngineError("'options' must be a mapping of PyBaMM model options")
        check_model_config({"type": spec.model_type, "options": options}, "parameterized_model")
        spec = attrs.evolve(spec, options=_canonical_json(dict(options), "options"))
    return spec


def parameter_set_name(name: str) -> str:
    """PyBaMM's name of the parameter set ``name`` (case-insensitive), else an
    :class:`EngineError` listing the sets."""
    from ionworks.wire.pybamm import import_pybamm

    available: list[str] = sorted(import_pybamm().parameter_sets.keys())
    found = next((s for s in available if s.lower() == name.lower()), None)
    if found is None:
        raise EngineError(
            f"unknown PyBaMM parameter set {name!r}; available: {', '.join(available)}",
            code="unknown_model",
        )
    return found


def model_from_spec(spec: Any) -> ModelSpec:
    """Normalise a request's ``parameterized_model`` (see the module docstring).

    Raises :class:`UnknownModelError` (a :class:`KeyError` too) for an unknown id and
    :class:`EngineError` for a malformed value. Does not import PyBaMM unless a
    parameter-set name must be checked.
    """
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, BuiltinModel):
        spec = spec.id
    if isinstance(spec, str):
        found = _builtin_spec(spec)
        if found is None:
            raise _unknown_model(spec)
        return found
    if isinstance(spec, Mapping):
        if "quick_model" in spec:
            extra = sorted(str(key) for key in spec if key not in ("quick_model", *_RECORD_KEYS))
            if extra:
                raise EngineError(
                    f"unexpected key(s) {', '.join(map(repr, extra))} next to 'quick_model'"
                )
            return _quick_spec(spec["quick_model"])
        if "model_id" in spec:
            return _pybamm_spec(spec)
        if spec and all(
            key in ("capacity", "chemistry", "resistance_pct", "cell_spec_id") for key in spec
        ):
            return _quick_spec(spec)
    raise EngineError(
        "parameterized_model must be a built-in id string, {'model_id': ..., 'parameters': "
        f"...}} or {{'quick_model': {{...}}}}; got {_preview(spec)}"
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quick_spec(config: Any) -> ModelSpec:
    return ModelSpec(ECM, quick=quick.quick_model(config))


def parameter_values(spec: Any) -> Any:
    """PyBaMM ``ParameterValues`` of a model (a fresh copy the caller may change)."""
    return _cached_values(model_from_spec(spec)).copy()


@functools.lru_cache(maxsize=32)
def _cached_values(spec: ModelSpec) -> Any:
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    if spec.quick is not None:
        return quick.parameter_values(spec.quick)
    values = pybamm.ParameterValues(spec.parameter_set or DEFAULT_PARAMETER_SET)
    overrides = json.loads(spec.parameters)
    if overrides:
        check_parameter_values(overrides, "parameterized_model.parameters")  # again, here
        check_names(overrides, values.keys())
        try:
            loaded = pybamm.ParameterValues.from_json(overrides)
            values.update({key: loaded[key] for key in overrides}, check_already_exists=False)
        except Exception as error:  # pybamm raises many types for bad serialised values
            raise EngineError(f"invalid 'parameters': {type(error).__name__}: {error}") from None
    return values


@functools.lru_cache(maxsize=1)
def known_parameter_names() -> frozenset[str]:
    """Every parameter name of PyBaMM's parameter sets (a name outside them and outside a
    model's own parameters is a typo)."""
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    names: set[str] = set()
    for name in pybamm.parameter_sets.keys():
        with contextlib.suppress(Exception):  # a set that needs an optional dependency
            names.update(pybamm.ParameterValues(name).keys())
    return frozenset(names)


#: Unknown names reported in one message, at most.
_MAX_REPORTED = 10


def check_names(parameters: Mapping[str, Any], *known: Iterable[str]) -> None:
    """Every name of ``parameters`` is a PyBaMM parameter (:func:`known_parameter_names`) or
    in ``known``; else an :class:`EngineError` (``unknown_parameter``) listing the unknown
    names with their close matches."""
    allowed = known_parameter_names().union(*known)
    unknown = [str(name) for name in parameters if name not in allowed and name != "citations"]
    if unknown:
        details = "; ".join(
            f"{name!r}{did_you_mean(name, allowed)}" for name in unknown[:_MAX_REPORTED]
        )
        more = f" (and {len(unknown) - _MAX_REPORTED} more)" if len(unknown) > _MAX_REPORTED else ""
        raise EngineError(f"unknown parameter name(s): {details}{more}", code="unknown_parameter")


def build_model(spec: Any) -> Any:
    """A new (unbuilt) PyBaMM model for ``spec``."""
    from ionworks.wire.pybamm import import_pybamm

    spec = model_from_spec(spec)
    if spec.quick is not None:
        return quick.build_model()
    pybamm = import_pybamm()
    model_class = getattr(pybamm.lithium_ion, spec.model_type)
    options = json.loads(spec.options) or None
    try:
        return model_class(options)
    except pybamm.OptionError as error:
        raise EngineError(f"invalid model options for {spec.model_type}: {error}") from None
