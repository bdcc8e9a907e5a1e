"""The quick model: a one-RC Thevenin equivalent circuit sized from capacity and chemistry.

A request's ``{"quick_model": {"capacity": Q, "chemistry": name, "resistance_pct": p}}``
builds :class:`pybamm.equivalent_circuit.Thevenin` with PyBaMM's ``ECM_Example`` parameter
set (a 100 A.h cell) rescaled to ``Q`` A.h:

- ``Cell capacity [A.h]`` = ``Nominal cell capacity [A.h]`` = ``Current function [A]`` = Q;
- ``R0 [Ohm]`` and ``R1 [Ohm]`` keep their temperature/current/SOC look-up tables, with the
  current axis rescaled (the example's 100 A becomes 1C = Q A) and the values multiplied by
  ``100 / Q × (1 + p / 100)``; ``C1 [F]`` is divided by the same factor, so the RC time
  constant stays 30 s;
- thermal masses and heat-transfer coefficients scale with ``Q / 100``, so the temperature
  rise at a given C-rate matches the example cell;
- the open-circuit voltage and the voltage limits come from the chemistry table below;
  the entropic change is 0.

Open-circuit voltage of each chemistry, as a function of SOC ``s`` (0-1)::

    OCV(s) = a + b·s − c·exp(−d·s) + e·exp(−f·(1 − s))     [V]

Every term rises with ``s``, so the curve is strictly increasing (an SOC is found from a
voltage by bisection). The curves are smooth analytic shapes, not fits to any cell:

=============  ===========  ====  ====  ====  ==  ====  ==  =======  =======  ========
chemistry      limits [V]   a     b     c     d   e     f   OCV(0)   OCV(.5)  OCV(1)
=============  ===========  ====  ====  ====  ==  ====  ==  =======  =======  ========
NMC/Graphite   3.00 – 4.20  3.45  0.68  0.60  15  0.05  30  2.85     3.79     4.18
NCA/Graphite   2.70 – 4.20  3.40  0.70  0.80  12  0.06  30  2.60     3.75     4.16
LCO/Graphite   3.00 – 4.20  3.72  0.40  0.85  20  0.05  30  2.87     3.92     4.17
LMO/Graphite   3.00 – 4.20  3.85  0.25  0.95  20  0.06  40  2.90     3.98     4.16
LFP/Graphite   2.50 – 3.65  3.22  0.12  0.80  25  0.28  40  2.42     3.28     3.62
=============  ===========  ====  ====  ====  ==  ====  ==  =======  =======  ========

Chemistry names are matched case-insensitively on the positive electrode, with an optional
graphite negative: ``"LFP"``, ``"lfp/graphite"``, ``"NMC811/Graphite-SiOx"``, ``"LiFePO4"``.

The protocol's initial state sets the ``Initial SoC`` input (PyBaMM's ``initial_soc=`` does
not work for ECMs): an SOC is clamped to [1e-6, 1 − 1e-6] because the model's "Minimum SoC"
/ "Maximum SoC" events must start positive; an initial voltage is turned into an SOC on
the OCV curve. A step that drives the SOC past 0 or 1 stops the run (PyBaMM event).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from .errors import EngineError

__all__ = [
    "CHEMISTRIES",
    "DEFAULT_CAPACITY",
    "DEFAULT_CHEMISTRY",
    "INITIAL_SOC",
    "Chemistry",
    "QuickModel",
    "build_model",
    "canonical_chemistry",
    "parameter_values",
    "quick_model",
]

#: Defaults of the official client's ``QuickModelConfig``.
DEFAULT_CAPACITY: Final = 1.0
DEFAULT_CHEMISTRY: Final = "NMC/Graphite"
#: The ECM parameter holding the initial state of charge (fraction).
INITIAL_SOC: Final = "Initial SoC"

_REFERENCE_CAPACITY = 100.0  # A.h of PyBaMM's ECM_Example
_SCALED_WITH_CAPACITY = (
    "Cell thermal mass [J/K]",
    "Cell-jig heat transfer coefficient [W/K]",
    "Jig thermal mass [J/K]",
    "Jig-air heat transfer coefficient [W/K]",
    "RCR lookup limit [A]",
)
_KEYS = ("capacity", "chemistry", "resistance_pct", "cell_spec_id")
_GRAPHITE = ("", "graphite", "gr", "c", "carbon", "graphite-siox", "graphite-si", "si-graphite")


@attrs.frozen
class Chemistry:
    """Voltage limits and open-circuit voltage curve of one chemistry (see module doc)."""

    name: str
    v_min: float
    v_max: float
    a: float
    b: float
    c: float
    d: float
    e: float
    f: float

    def ocv(self, soc: Any) -> Any:
        """OCV at ``soc``: a float, a numpy array or a PyBaMM symbol."""
        exp = _exp_for(soc)
        return (
            self.a + self.b * soc - self.c * exp(-self.d * soc) + self.e * exp(-self.f * (1 - soc))
        )

    def soc_at(self, voltage: float) -> float:
        """The SOC whose OCV is ``voltage`` (clipped to 0-1), by bisection."""
        low, high = 0.0, 1.0
        if voltage <= self.ocv(low):
            return low
        if voltage >= self.ocv(high):
            return high
        for _ in range(60):
            middle = 0.5 * (low + high)
            if self.ocv(middle) < voltage:
                low = middle
            else:
                high = middle
        return 0.5 * (low + high)


def _exp_for(value: Any) -> Callable[[Any], Any]:
    if isinstance(value, int | float):
        return math.exp
    module = type(value).__module__
    if module.startswith("pybamm"):
        from ionworks.wire.pybamm import import_pybamm

        return import_pybamm().exp  # type: ignore[no-any-return]
    import numpy as np

    return np.exp


CHEMISTRIES: Final[Mapping[str, Chemistry]] = {
    "nmc": Chemistry("NMC/Graphite", 3.0, 4.2, 3.45, 0.68, 0.60, 15, 0.05, 30),
    "nca": Chemistry("NCA/Graphite", 2.7, 4.2, 3.40, 0.70, 0.80, 12, 0.06, 30),
    "lco": Chemistry("LCO/Graphite", 3.0, 4.2, 3.72, 0.40, 0.85, 20, 0.05, 30),
    "lmo": Chemistry("LMO/Graphite", 3.0, 4.2, 3.85, 0.25, 0.95, 20, 0.06, 40),
    "lfp": Chemistry("LFP/Graphite", 2.5, 3.65, 3.22, 0.12, 0.80, 25, 0.28, 40),
}

_ALIASES: Final = {
    "nmc": "nmc",
    "ncm": "nmc",
    "nmc111": "nmc",
    "nmc532": "nmc",
    "nmc622": "nmc",
    "nmc811": "nmc",
    "nca": "nca",
    "lco": "lco",
    "licoo2": "lco",
    "lmo": "lmo",
    "limn2o4": "lmo",
    "lfp": "lfp",
    "lifepo4": "lfp",
}


def canonical_chemistry(name: Any) -> Chemistry:
    """The :class:`Chemistry` for a user spelling; :class:`EngineError` if unknown."""
    if isinstance(name, str):
        text = name.strip().lower().replace(" ", "").replace("_", "-")
        positive, _, negative = text.partition("/")
        key = _ALIASES.get(positive)
        if key is not None and negative in _GRAPHITE:
            return CHEMISTRIES[key]
    accepted = ", ".join(chem.name for chem in CHEMISTRIES.values())
    raise EngineError(
        f"unknown quick-model chemistry {name!r}; accepted: {accepted} (case-insensitive; "
        "the '/Graphite' part is optional)",
        code="unknown_chemistry",
    )


@attrs.frozen
class QuickModel:
    """A normalised quick-model request (hashable)."""

    capacity: float
    chemistry: str  # canonical name, e.g. "LFP/Graphite"
    resistance_pct: float = 0.0

    @property
    def curve(self) -> Chemistry:
        return canonical_chemistry(self.chemistry)


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    raw = config.get(key)
    if raw is None:
        return default
    try:
        if isinstance(raw, bool):
            raise TypeError
        number = float(raw)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise EngineError(f"quick_model {key!r} must be a finite number; got {raw!r}")
    return number


def quick_model(config: Any) -> QuickModel:
    """Normalise a ``quick_model`` mapping (keys ``capacity``, ``chemistry``,
    ``resistance_pct``; ``cell_spec_id`` is accepted and ignored)."""
    if not isinstance(config, Mapping):
        raise EngineError(f"quick_model must be a mapping; got {type(config).__name__}")
    unknown = sorted(str(key) for key in config if key not in _KEYS)
    if unknown:
        raise EngineError(
            f"unknown quick_model key(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(_KEYS)}"
        )
    capacity = _number(config, "capacity", DEFAULT_CAPACITY)
    if capacity <= 0:
        raise EngineError(f"quick_model 'capacity' must be positive (A.h); got {capacity:g}")
    resistance_pct = _number(config, "resistance_pct", 0.0)
    if resistance_pct <= -100:
        raise EngineError(
            f"quick_model 'resistance_pct' must be above -100 (%); got {resistance_pct:g}"
        )
    chemistry = config.get("chemistry")
    curve = canonical_chemistry(DEFAULT_CHEMISTRY if chemistry is None else chemistry)
    return QuickModel(capacity, curve.name, resistance_pct)


def _scaled_lookup(
    temperature: Any,
    current: Any,
    soc: Any,
    *,
    function: Callable[..., Any],
    current_scale: float,
    value_scale: float,
) -> Any:
    """An ECM look-up ``function`` with its current axis and its value rescaled."""
    return function(temperature, current * current_scale, soc) * value_scale


def _scaled(function: Callable[..., Any], current_scale: float, value_scale: float) -> Any:
    # a partial (not a closure) so PyBaMM can trace it in ParameterValues.to_json()
    return functools.partial(
        _scaled_lookup, function=function, current_scale=current_scale, value_scale=value_scale
    )


def _zero_entropic_change(ocv: Any, temperature: Any) -> Any:
    return 0 * ocv


def parameter_values(quick: QuickModel) -> Any:
    """PyBaMM parameter values of the quick model (a new object)."""
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    values = pybamm.ParameterValues("ECM_Example")
    ratio = _REFERENCE_CAPACITY / quick.capacity
    factor = ratio * (1 + quick.resistance_pct / 100)
    curve = quick.curve
    values.update(
        {
            "Cell capacity [A.h]": quick.capacity,
            "Nominal cell capacity [A.h]": quick.capacity,
            "Current function [A]": quick.capacity,
            "Lower voltage cut-off [V]": curve.v_min,
            "Upper voltage cut-off [V]": curve.v_max,
            "Open-circuit voltage [V]": curve.ocv,
            "Entropic change [V/K]": _zero_entropic_change,
            "R0 [Ohm]": _scaled(values["R0 [Ohm]"], ratio, factor),
            "R1 [Ohm]": _scaled(values["R1 [Ohm]"], ratio, factor),
            "C1 [F]": _scaled(values["C1 [F]"], ratio, 1 / factor),
            **{key: values[key] / ratio for key in _SCALED_WITH_CAPACITY},
        }
    )
    return values


def build_model() -> Any:
    """A Thevenin model with the variables the UCP results need.

    Adds ``Discharge capacity [A.h]`` (``(Initial SoC − SoC) × Cell capacity``) and the
    lithium-ion temperature names ``Volume-averaged cell temperature [K]`` / ``[C]`` (the
    cell temperature), so protocol end conditions and results work as for other models.
    """
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    model = pybamm.equivalent_circuit.Thevenin()
    soc = model.variables["SoC"]
    capacity = pybamm.Parameter("Cell capacity [A.h]")
    model.variables.update(
        {
            "Discharge capacity [A.h]": (pybamm.Parameter(INITIAL_SOC) - soc) * capacity,
            "Volume-averaged cell temperature [K]": model.variables["Cell temperature [K]"],
            "Volume-averaged cell temperature [C]": model.variables["Cell temperature [degC]"],
        }
    )
    return model
