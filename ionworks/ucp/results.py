"""Step table, time series and metrics of a simulated protocol.

The solution must come from the plan's experiment (``plan.solve(...)`` or a
``pybamm.Simulation`` built with ``plan.experiment``). Step solutions map one-to-one to
``plan.step_labels`` (see :mod:`.to_pybamm`); steps PyBaMM skipped because they were
infeasible at their start (e.g. charging a full cell to 4.2 V) get no row, so
``"Step count"`` numbers the *executed* steps 0, 1, 2, … and ``"Protocol step"`` gives
the index into ``plan.step_labels``.

Per-step capacities reset to 0 at each step start and are non-negative. For a step whose
current keeps one sign they are the change of PyBaMM's integrated
``Discharge capacity [A.h]`` state since the step start (exact); for a step whose current
changes sign (drive cycles) the positive and negative parts of the current are integrated
separately with the trapezoidal rule. Energies integrate ``V * I`` the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import define

from ionworks.wire.pybamm import import_pybamm

from .to_pybamm import PyBaMMPlan

__all__ = ["metrics", "step_table", "time_series_table"]

_SECONDS_PER_HOUR = 3600.0


@define
class _StepData:
    label_index: int
    start: int  # row slice into the solution arrays
    stop: int
    termination: str


@define
class _Data:
    """Arrays of a solution, extracted once, plus the executed steps."""

    t: Any
    voltage: Any
    current: Any
    capacity: Any
    temperature: Any | None
    steps: list[_StepData]
    skipped: int
    discharge: Any  # per-step capacities (A.h) per row
    charge: Any


def _extract(solution: Any, plan: PyBaMMPlan) -> _Data:
    import numpy as np

    pybamm = import_pybamm()
    step_solutions = [step for cycle in getattr(solution, "cycles", []) for step in cycle.steps]
    if not step_solutions:
        raise ValueError("the solution has no experiment steps; solve the plan's experiment")
    if len(step_solutions) > len(plan.step_labels):
        raise ValueError(
            "the solution has more steps than the plan; was it solved with another experiment?"
        )
    t = np.asarray(solution.t, dtype=np.float64)
    steps, skipped, row = [], 0, 0
    for index, sub in enumerate(step_solutions):
        if isinstance(sub, pybamm.EmptySolution):
            skipped += 1
            continue
        steps.append(_StepData(index, row, row + len(sub.t), str(sub.termination)))
        row += len(sub.t)
    if row != len(t):  # fall back to locating each step by its start time
        starts = [float(step_solutions[s.label_index].t[0]) for s in steps]
        bounds = [*np.searchsorted(t, starts, side="left").tolist(), len(t)]
        for s, begin, end in zip(steps, bounds, bounds[1:], strict=False):
            s.start, s.stop = begin, end
    columns = {}
    for name in ("Voltage [V]", "Current [A]", "Discharge capacity [A.h]"):
        columns[name] = np.asarray(solution[name].entries, dtype=np.float64)
    try:
        temperature = np.asarray(
            solution["Volume-averaged cell temperature [C]"].entries, dtype=np.float64
        )
    except KeyError:
        temperature = None
    data = _Data(
        t,
        columns["Voltage [V]"],
        columns["Current [A]"],
        columns["Discharge capacity [A.h]"],
        temperature,
        steps,
        skipped,
        np.zeros_like(t),
        np.zeros_like(t),
    )
    for step in steps:
        _step_capacity(data, step)
    return data


def _trapezoid_parts(t: Any, y: Any) -> tuple[Any, Any]:
    """Cumulative integrals of the positive and negative parts of ``y`` (from 0)."""
    import numpy as np

    dt = np.diff(t)
    out = []
    for part in (np.clip(y, 0, None), np.clip(-y, 0, None)):
        out.append(np.concatenate([[0.0], np.cumsum(0.5 * (part[1:] + part[:-1]) * dt)]))
    return out[0], out[1]


def _step_capacity(data: _Data, step: _StepData) -> None:
    import numpy as np

    rows = slice(step.start, step.stop)
    current, capacity = data.current[rows], data.capacity[rows]
    if len(current) == 0:
        return
    tolerance = 1e-9 * max(1.0, float(np.abs(current).max()))
    if current.min() >= -tolerance or current.max() <= tolerance:
        change = capacity - capacity[0]
        if change[-1] >= 0:
            data.discharge[rows] = np.clip(change, 0, None)
        else:
            data.charge[rows] = np.clip(-change, 0, None)
        return
    discharge, charge = _trapezoid_parts(data.t[rows], current)
    data.discharge[rows] = discharge / _SECONDS_PER_HOUR
    data.charge[rows] = charge / _SECONDS_PER_HOUR


def _energies(data: _Data, step: _StepData) -> tuple[float, float]:
    rows = slice(step.start, step.stop)
    if step.stop - step.start < 2:
        return 0.0, 0.0
    discharge, charge = _trapezoid_parts(data.t[rows], data.voltage[rows] * data.current[rows])
    return float(discharge[-1]) / _SECONDS_PER_HOUR, float(charge[-1]) / _SECONDS_PER_HOUR


def _row_step_numbers(data: _Data, plan: PyBaMMPlan) -> tuple[Any, Any]:
    import numpy as np

    step_count = np.zeros(len(data.t), dtype=np.int64)
    cycle_count = np.zeros(len(data.t), dtype=np.int64)
    for number, step in enumerate(data.steps):
        step_count[step.start : step.stop] = number
        cycle_count[step.start : step.stop] = plan.step_labels[step.label_index].cycle
    return step_count, cycle_count


def step_table(solution: Any, plan: PyBaMMPlan) -> Any:
    """One row per executed step, as a ``pyarrow.Table``.

    Columns: ``Step count`` (0-based, consecutive), ``Cycle count``, ``Protocol step``
    (index into ``plan.step_labels``), ``Step type`` (see
    :class:`~.to_pybamm.StepLabel`), ``Step name`` (label, else the source path),
    ``Step path`` (path plus block iterations), ``Termination`` (PyBaMM's reason),
    ``Start time [s]``, ``End time [s]``, ``Duration [s]``, ``Start voltage [V]``,
    ``End voltage [V]``, ``Minimum voltage [V]``, ``Maximum voltage [V]``,
    ``Start current [A]``, ``End current [A]``, ``Mean current [A]`` (time-weighted),
    ``Discharge capacity [A.h]``, ``Charge capacity [A.h]``, ``Discharge energy [W.h]``,
    ``Charge energy [W.h]``.
    """
    import numpy as np
    import pyarrow as pa

    data = _extract(solution, plan)
    rows: dict[str, list[Any]] = {}
    for number, step in enumerate(data.steps):
        label = plan.step_labels[step.label_index]
        t = data.t[step.start : step.stop]
        voltage = data.voltage[step.start : step.stop]
        current = data.current[step.start : step.stop]
        duration = float(t[-1] - t[0])
        mean = (
            float(np.sum(0.5 * (current[1:] + current[:-1]) * np.diff(t)) / duration)
            if duration > 0
            else float(current[0])
        )
        discharge_energy, charge_energy = _energies(data, step)
        values = {
            "Step count": number,
            "Cycle count": label.cycle,
            "Protocol step": label.index,
            "Step type": label.step_type,
            "Step name": label.step.label or label.path,
            "Step path": label.description,
            "Termination": step.termination,
            "Start time [s]": float(t[0]),
            "End time [s]": float(t[-1]),
            "Duration [s]": duration,
            "Start voltage [V]": float(voltage[0]),
            "End voltage [V]": float(voltage[-1]),
            "Minimum voltage [V]": float(voltage.min()),
            "Maximum voltage [V]": float(voltage.max()),
            "Start current [A]": float(current[0]),
            "End current [A]": float(current[-1]),
            "Mean current [A]": mean,
            "Discharge capacity [A.h]": float(data.discharge[step.stop - 1]),
            "Charge capacity [A.h]": float(data.charge[step.stop - 1]),
            "Discharge energy [W.h]": discharge_energy,
            "Charge energy [W.h]": charge_energy,
        }
        for name, value in values.items():
            rows.setdefault(name, []).append(value)
    return pa.table(
        {name: pa.array(column, type=_arrow_type(pa, column)) for name, column in rows.items()}
    )


def _arrow_type(pa: Any, column: Sequence[Any]) -> Any:
    if isinstance(column[0], str):
        return pa.string()
    if isinstance(column[0], int):
        return pa.int64()
    return pa.float64()


def time_series_table(
    solution: Any, plan: PyBaMMPlan, variables: Iterable[str] | None = None
) -> Any:
    """One row per output time, as a ``pyarrow.Table``.

    Columns: ``Time [s]``, ``Voltage [V]``, ``Current [A]`` (positive = discharge),
    ``Power [W]`` (``V * I``), ``Step count``, ``Cycle count`` (int64, matching
    :func:`step_table`), per-step ``Discharge capacity [A.h]`` and
    ``Charge capacity [A.h]`` (reset to 0 at each step start, non-negative),
    ``Temperature [°C]`` when the model has one, then any extra PyBaMM ``variables``
    (one value per time point).
    """
    import numpy as np
    import pyarrow as pa

    data = _extract(solution, plan)
    step_count, cycle_count = _row_step_numbers(data, plan)
    columns: dict[str, Any] = {
        "Time [s]": data.t,
        "Voltage [V]": data.voltage,
        "Current [A]": data.current,
        "Power [W]": data.voltage * data.current,
        "Step count": step_count,
        "Cycle count": cycle_count,
        "Discharge capacity [A.h]": data.discharge,
        "Charge capacity [A.h]": data.charge,
    }
    if data.temperature is not None:
        columns["Temperature [°C]"] = data.temperature
    for name in variables or ():
        if name in columns:
            continue
        entries = np.asarray(solution[name].entries, dtype=np.float64)
        if entries.shape != data.t.shape:
            raise ValueError(
                f"variable {name!r} has shape {entries.shape}; expected one value per time point"
            )
        columns[name] = entries
    return pa.table(columns)


def metrics(solution: Any, plan: PyBaMMPlan) -> dict[str, float]:
    """Scalar summaries of a run (totals over executed steps)."""
    data = _extract(solution, plan)
    energies = [_energies(data, step) for step in data.steps]
    ends = [step.stop - 1 for step in data.steps]
    return {
        "Total time [s]": float(data.t[-1] - data.t[0]),
        "Number of steps": float(len(data.steps)),
        "Skipped steps": float(data.skipped),
        "Planned steps": float(len(plan.step_labels)),
        "Number of cycles": float(len({plan.step_labels[s.label_index].cycle for s in data.steps})),
        "Discharge capacity [A.h]": float(sum(data.discharge[end] for end in ends)),
        "Charge capacity [A.h]": float(sum(data.charge[end] for end in ends)),
        "Discharge energy [W.h]": float(sum(e[0] for e in energies)),
        "Charge energy [W.h]": float(sum(e[1] for e in energies)),
        "Minimum voltage [V]": float(data.voltage.min()),
        "Maximum voltage [V]": float(data.voltage.max()),
        "Final voltage [V]": float(data.voltage[-1]),
    }
