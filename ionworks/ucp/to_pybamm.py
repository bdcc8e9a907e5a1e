"""Translation of a resolved protocol into a PyBaMM experiment (ucp.md §11).

Design decisions:

- All unrolled steps go into **one** PyBaMM cycle. PyBaMM silently drops a whole cycle
  whose steps are all infeasible at their start (e.g. "charge to 4.2 V" on a full
  cell), which would break the mapping from step solutions back to protocol steps; in a
  single cycle such a step stays in place as an ``EmptySolution``. The UCP cycle of
  each step (top-level block iteration) is kept in :attr:`StepLabel.cycle`.
- Current is positive for discharge. End values of Current/C-rate/Capacity are
  magnitudes: ``Current < 0.05`` means ``|I| < 0.05 A``.
- Every end condition is a :class:`~._terminations.Threshold` event with an explicit
  operator. ``Time >`` ends and ``Capacity >`` ends of constant-current steps become the
  step duration (the smallest one wins).
- Safety limits are extra events on every step. A breach whose goto is ``End`` (the
  default) stops the experiment; goto ``next`` only ends the step. A step end with the
  same quantity, operator and value as a safety limit is replaced by the limit (the
  limit wins, as documented).
- A Current/C-rate/Voltage set-point that is already beyond a safety limit cannot even
  start: with goto ``End`` the experiment is cut before that step
  (:attr:`PyBaMMPlan.stopped_early` says why), with goto ``next`` the step is dropped.
- Temperatures: ``global`` initial/ambient temperature (default 25 °C) is applied to the
  parameter values by :meth:`PyBaMMPlan.apply_to`; step ``temperature`` and
  ``Ambient temperature`` steps become the PyBaMM step ``temperature`` (PyBaMM itself
  then uses the first step's temperature as the initial temperature).
- Output period: ``global.resolution.time`` (default 60 s) for the experiment, a step's
  ``resolution.time`` for that step; voltage/current resolutions are not simulated.
- Drive-cycle samples come only from the ``drive_cycles`` argument (nothing is ever
  downloaded); columns are time (s) and value in the step mode's unit (default current,
  A, PyBaMM sign: positive = discharge); time is shifted to start at 0.

Refused (:class:`~.errors.UCPError` naming the step): EIS, d/dt ends, goto targets other
than ``End``/``next``, goto on a Time/Capacity end, Capacity ends on steps that are not
constant current, charging in Resistance mode, missing drive cycles, unresolved inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import define, field

from ionworks.wire.pybamm import import_pybamm

from ._builder import KELVIN, Builder, number
from .errors import Origin, UCPError
from .model import Protocol, Step

__all__ = ["PyBaMMPlan", "StepLabel", "to_pybamm"]

DEFAULT_TEMPERATURE_C = 25.0
DEFAULT_PERIOD_S = 60.0
_PROTOCOL = Origin("protocol", "protocol")


@define(frozen=True)
class StepLabel:
    """Links PyBaMM step ``index`` back to the protocol.

    ``step_type`` is the step-table name: ``Rest``, ``Charge``/``Discharge`` (C-rate or
    current), ``CV Charge``/``CV Discharge`` (voltage hold), ``CP …`` (power),
    ``CR …`` (resistance), ``Drive``, ``Waveform``, ``Ambient temperature`` (soak).
    """

    index: int
    path: str
    name: str
    kind: str
    step_type: str
    cycle: int
    description: str
    step: Step = field(eq=False, repr=False)


@define(frozen=True)
class PyBaMMPlan:
    """Everything needed to simulate a protocol with PyBaMM."""

    experiment: Any
    initial_soc: float | str | None
    ambient_temperature_k: float
    initial_temperature_k: float
    period_s: float | None
    step_labels: list[StepLabel]
    protocol: Protocol = field(repr=False)
    #: Why the experiment stops before the end of the protocol (a step whose set-point
    #: breaches a safety limit with goto ``End``), else ``None``.
    stopped_early: str | None = None

    def apply_to(self, parameter_values: Any) -> Any:
        """Set initial and ambient temperature on ``parameter_values`` (in place);
        returns it."""
        parameter_values.update(
            {
                "Initial temperature [K]": self.initial_temperature_k,
                "Ambient temperature [K]": self.ambient_temperature_k,
            }
        )
        return parameter_values

    def solve(
        self,
        model: Any = None,
        parameter_values: Any = None,
        *,
        solver: Any = None,
        experiment_model_mode: str = "unified",
        **solve_kwargs: Any,
    ) -> Any:
        """Build a ``pybamm.Simulation`` and solve it from the protocol's initial state.

        ``model`` defaults to SPM, ``parameter_values`` to the model's defaults (copied,
        then :meth:`apply_to`). ``calc_esoh`` defaults to ``False``.
        """
        pybamm = import_pybamm()
        model = model if model is not None else pybamm.lithium_ion.SPM()
        values = (
            parameter_values if parameter_values is not None else model.default_parameter_values
        ).copy()
        self.apply_to(values)
        simulation = pybamm.Simulation(
            model,
            experiment=self.experiment,
            parameter_values=values,
            solver=solver,
            experiment_model_mode=experiment_model_mode,
        )
        solve_kwargs.setdefault("calc_esoh", False)
        return simulation.solve(initial_soc=self.initial_soc, **solve_kwargs)


def step_type(step: Step) -> str:
    """Step-table name of a step (see :class:`StepLabel`)."""
    if step.kind in ("Charge", "Discharge"):
        prefix = {"Voltage": "CV ", "Power": "CP ", "Resistance": "CR "}.get(step.mode or "", "")
        return f"{prefix}{step.kind}"
    return step.kind


def to_pybamm(
    protocol: Protocol | str | Mapping[str, Any],
    parameter_values: Any = None,
    *,
    drive_cycles: Mapping[str, Any] | None = None,
) -> PyBaMMPlan:
    """Translate a resolved protocol into a :class:`PyBaMMPlan`.

    ``parameter_values`` is only read (nominal capacity, for Capacity ends on C-rate
    steps). Raises :class:`UCPError` for unresolved inputs and for constructs PyBaMM
    cannot simulate, naming the step.
    """
    from .parse import parse

    if not isinstance(protocol, Protocol):
        protocol = parse(protocol)
    names = protocol.input_references()
    if names:
        listed = ", ".join(repr(name) for name in names)
        raise UCPError.single(
            _PROTOCOL,
            "input",
            f"unresolved input references {listed}; call resolve_inputs() with experiment_parameters first",
        )
    pybamm = import_pybamm()
    capacity = None
    if parameter_values is not None and "Nominal cell capacity [A.h]" in parameter_values.keys():
        capacity = float(parameter_values["Nominal cell capacity [A.h]"])
    builder = Builder(pybamm, capacity, drive_cycles or {}, protocol.safety)
    issues = builder.check(protocol)
    if issues:
        raise UCPError(issues)
    steps: list[Any] = []
    labels: list[StepLabel] = []
    ambient: float | None = None
    stopped = None
    for unrolled in protocol.unrolled():
        step = unrolled.step
        breach = builder.breach(step)
        if breach is not None:
            if breach[1] == "end":
                stopped = f"{breach[0]}; the test ends before this step"
                break
            continue  # goto next: the step ends as soon as it starts
        if step.kind == "Ambient temperature":
            ambient = number(step.value)
            if step.duration is None:
                continue
        temperature = number(step.temperature) if step.temperature is not None else ambient
        steps.append(builder.build(step, temperature))
        labels.append(
            StepLabel(
                len(labels),
                step.path,
                step.name,
                step.kind,
                step_type(step),
                unrolled.cycle,
                unrolled.description,
                step,
            )
        )
    if not steps:
        message = stopped or "protocol has no step that PyBaMM can simulate"
        raise UCPError.single(_PROTOCOL, "safety" if stopped else "steps", message)
    settings = protocol.settings
    temperature_c = DEFAULT_TEMPERATURE_C
    if settings.effective_temperature is not None:
        temperature_c = number(settings.effective_temperature)
    period = DEFAULT_PERIOD_S
    if settings.resolution is not None and settings.resolution.time is not None:
        period = number(settings.resolution.time)
    return PyBaMMPlan(
        experiment=pybamm.Experiment([tuple(steps)], period=period),
        initial_soc=_initial_soc(protocol),
        ambient_temperature_k=temperature_c + KELVIN,
        initial_temperature_k=temperature_c + KELVIN,
        period_s=period,
        step_labels=labels,
        protocol=protocol,
        stopped_early=stopped,
    )


def _initial_soc(protocol: Protocol) -> float | str:
    state = protocol.settings.initial_state
    if state is None:
        return 1.0
    if state.kind == "voltage":
        return f"{number(state.value)} V"
    fraction = state.soc_fraction()
    return 1.0 if fraction is None else fraction
