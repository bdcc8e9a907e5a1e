"""PyBaMM models for fits and validations: model selection, base parameters, simulators.

The model of an element comes from (first found) the objective's ``options.model``, the
``model`` threaded from an entry element, the parameterized model's type, or SPM. A model
is ``"SPM"``, ``{"type": "SPM"|"SPMe"|"DFN"|<any pybamm.lithium_ion class>, "options":
{...}}`` or a serialised PyBaMM model (``pybamm.BaseModel.from_config``).

The base parameters are a PyBaMM parameter set (``parameter_set``, default Chen2020) or a
parameterized model (``parameterized_model``: a built-in id or ``{"model_id": ...}``), with
the threaded overrides on top.

A :class:`Simulator` is built **once** per objective: the fitted parameters are
``"[input]"``, the measured current drives the model as a linear ``pybamm.Interpolant`` of
time, and every evaluation (or a whole population, as one batch solve) only re-solves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import numpy as np

from ionworks.server.engine.safe_pybamm import check_model_config, model_class_of
from ionworks.wire.pybamm import import_pybamm

from .data import Measured

__all__ = ["DEFAULT_MODEL", "DEFAULT_SET", "ModelState", "Simulator"]

DEFAULT_SET: Final = "Chen2020"
DEFAULT_MODEL: Final = "SPM"
#: Keys of an entry's ``values`` that select the model instead of setting parameters.
MODEL_KEYS: Final = ("model", "parameter_set", "parameterized_model")


@attrs.define
class ModelState:
    """What threads from element to element: model choice and parameter overrides."""

    model: Any = None
    parameter_set: str | None = None
    parameterized_model: Any = None
    values: dict[str, float] = attrs.field(factory=dict)

    def apply_entry(self, values: Mapping[str, Any]) -> dict[str, float]:
        """Take an entry's values; returns the numeric ones (the parameters it sets)."""
        if values.get("model") is not None:
            self.model = values["model"]
        if values.get("parameter_set") is not None:
            self.parameter_set = str(values["parameter_set"])
            self.parameterized_model = None
        if values.get("parameterized_model") is not None:
            self.parameterized_model = values["parameterized_model"]
            self.parameter_set = None
        numbers = {
            str(k): float(v)
            for k, v in values.items()
            if k not in MODEL_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
        }
        self.values.update(numbers)
        return numbers

    def parameter_values(self) -> Any:
        """A fresh ``pybamm.ParameterValues`` with the overrides applied."""
        pybamm = import_pybamm()
        if self.parameterized_model is not None:
            from ionworks.server.engine.catalog import parameter_values

            values = parameter_values(self.parameterized_model)
        else:
            name = self.parameter_set or DEFAULT_SET
            if name not in pybamm.parameter_sets.keys():
                raise ValueError(
                    f"unknown parameter_set {name!r}; available: "
                    f"{', '.join(sorted(pybamm.parameter_sets.keys()))}"
                )
            values = pybamm.ParameterValues(name)
        values.update(self.values, check_already_exists=False)
        return values

    def numeric_values(self) -> dict[str, float]:
        """Every scalar parameter (base set and overrides) as a float."""
        out = {}
        for key, value in self.parameter_values().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[str(key)] = float(value)
        return out

    def build_model(self, config: Any = None) -> Any:
        """A new PyBaMM model for ``config`` (else the threaded one, else the default)."""
        config = config if config is not None else self.model
        if config is None and self.parameterized_model is not None:
            from ionworks.server.engine.catalog import model_from_spec

            config = model_from_spec(self.parameterized_model).model_type
        return build_model(config if config is not None else DEFAULT_MODEL)


def build_model(config: Any) -> Any:
    """A new PyBaMM model; ``config`` passes the allow-list first (again: the route checked
    it too), so PyBaMM's deserialiser only ever sees PyBaMM class names."""
    pybamm = import_pybamm()
    check_model_config(config)
    if isinstance(config, str):
        config = {"type": config}
    if config.get("type") != "custom":
        model_class = model_class_of(config.get("module", "lithium_ion"), config["type"])
        if not any(key in config for key in ("custom_variables", "removed_variables", "events")):
            try:
                return model_class(dict(config.get("options") or {}) or None)
            except pybamm.OptionError as exc:
                raise ValueError(f"invalid options for model {config['type']}: {exc}") from None
    try:
        return pybamm.BaseModel.from_config(dict(config))
    except Exception as exc:  # pybamm raises many types for a bad serialised model
        raise ValueError(
            f"cannot load model {str(config)[:80]}: {type(exc).__name__}: {exc}; use "
            '{"type": "SPM"|"SPMe"|"DFN"} or a serialised PyBaMM model'
        ) from None


class Simulator:
    """One built simulation of a current-driven objective; re-solved with ``inputs``."""

    def __init__(
        self, model: Any, values: Any, measured: Measured, inputs: Sequence[str] = ()
    ) -> None:
        pybamm = import_pybamm()
        self.measured = measured
        self.inputs = tuple(inputs)
        values = values.copy()
        for name in self.inputs:
            values.update({name: "[input]"}, check_already_exists=False)
        values["Current function [A]"] = pybamm.Interpolant(
            measured.t, measured.current, pybamm.t, name="measured current", interpolator="linear"
        )
        self.simulation = pybamm.Simulation(
            model, parameter_values=values, solver=pybamm.IDAKLUSolver()
        )
        self.t_end = float(measured.t[-1])

    def voltages(self, points: Sequence[Mapping[str, float]]) -> list[np.ndarray]:
        """Model voltage at the measured times for each input set (NaN where it failed).

        A run that stops early (a voltage cut-off) holds its last voltage to the end.
        """
        if not points:
            return []
        try:
            solutions = self._solve([dict(p) for p in points])
        except Exception:
            if len(points) == 1:
                return [np.full(len(self.measured.t), np.nan)]
            return [self.voltages([p])[0] for p in points]
        return [self._voltage(s) for s in solutions]

    def _solve(self, inputs: list[dict[str, float]]) -> list[Any]:
        arg: Any = inputs if len(inputs) > 1 else inputs[0]
        result = self.simulation.solve([0.0, self.t_end], inputs=arg, t_interp=self.measured.t)
        return list(result) if isinstance(result, list) else [result]

    def _voltage(self, solution: Any) -> np.ndarray:
        try:
            t = np.asarray(solution.t, dtype=np.float64)
            v = np.asarray(solution["Voltage [V]"].entries, dtype=np.float64)
        except Exception:
            return np.full(len(self.measured.t), np.nan)
        if len(t) < 2:
            return np.full(len(self.measured.t), np.nan)
        out: np.ndarray = np.interp(self.measured.t, t, v)
        return out
