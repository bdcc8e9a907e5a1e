"""Built PyBaMM simulations, cached per worker process and reused with ``inputs=``.

A cache entry is keyed by (model, resolved protocol without its initial state, names of
the design parameters). Design parameters are made ``"[input]"`` wherever that is safe,
so a DOE sweep re-solves one built simulation:

- electrode and separator thicknesses become inputs with
  :class:`pybamm.SymbolicUniform1DSubMesh` on **all three** x-domains (setting only some
  gives silently wrong SPMe results; see docs/spec/pybamm-performance.md §4);
- other parameters that shape the mesh (particle radii), and the parameters that steer
  the experiment itself (nominal capacity, current function, temperatures) are *fixed*:
  their values are baked into the build, and a request with other values rebuilds the
  entry;
- every other parameter is an input; if PyBaMM refuses to build with them as inputs,
  the entry falls back to fixed values for all of them.

The initial state is not part of the key: PyBaMM recomputes initial conditions on a
built simulation (``solve(initial_soc=...)``); a quick (ECM) model reads ``Initial SoC``
as an input instead.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import attrs

from .catalog import ModelSpec, build_model
from .errors import EngineError
from .quick import INITIAL_SOC

__all__ = ["CACHE_SIZE", "Entry", "Key", "SimulationCache", "build_entry", "pybamm_error"]

CACHE_SIZE: Final = 16
THICKNESSES: Final = (
    "Negative electrode thickness [m]",
    "Separator thickness [m]",
    "Positive electrode thickness [m]",
)
_X_DOMAINS: Final = ("negative electrode", "separator", "positive electrode")
#: Variables every result publishes (see :mod:`ionworks.ucp.results`).
PUBLISHED: Final = (
    "Voltage [V]",
    "Current [A]",
    "Discharge capacity [A.h]",
    "Volume-averaged cell temperature [C]",
)
#: Parameters PyBaMM's experiment machinery reads as numbers; never inputs.
NEVER_INPUT: Final = frozenset(
    {
        "Nominal cell capacity [A.h]",
        "Current function [A]",
        "Initial temperature [K]",
        "Ambient temperature [K]",
    }
)


@attrs.frozen
class Key:
    """Cache key: the model, the resolved protocol text and the design parameter names."""

    spec: ModelSpec
    protocol: str
    design_names: tuple[str, ...]
    outputs: tuple[str, ...] = ()  # extra variables the solver computes (output_variables)


@attrs.define
class Entry:
    """A built simulation and how its design parameters are supplied."""

    simulation: Any
    inputs: tuple[str, ...]  # design parameters passed with inputs=
    fixed: dict[str, float]  # design parameters baked into the build
    variables: frozenset[str]  # variable names of the model
    symbolic_mesh: bool

    def matches(self, design: dict[str, float]) -> bool:
        """Whether the baked-in values are the requested ones."""
        return all(design.get(name) == value for name, value in self.fixed.items())


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_recent(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class SimulationCache:
    """A small LRU map of :class:`Key` → :class:`Entry` (one per worker process).

    It also keeps PyBaMM's initial-state (eSOH) solvers per distinct parameter values, so a
    new protocol on an already-seen model does not rebuild the eSOH solver (~0.1 s).
    """

    def __init__(self, maxsize: int = CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._entries = _LRU(maxsize)
        self.esoh_solvers = _LRU(maxsize)
        self.lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Entry | None:
        entry: Entry | None = self._entries.get_recent(key)
        return entry

    def put(self, key: Key, entry: Entry) -> None:
        self._entries.put(key, entry)

    def discard(self, key: Key) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self.esoh_solvers.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


def pybamm_error(error: BaseException, during: str) -> EngineError:
    """An :class:`EngineError` carrying PyBaMM's own message."""
    text = str(error) or type(error).__name__
    return EngineError(f"PyBaMM {type(error).__name__} while {during}: {text}", code="solver")


def _geometric_names(model: Any) -> set[str]:
    """Names of the parameters that appear in the model's geometry (mesh bounds)."""
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    names: set[str] = set()
    for domain in model.default_geometry.values():
        for bounds in domain.values():
            if not isinstance(bounds, dict):
                continue
            for bound in bounds.values():
                if isinstance(bound, pybamm.Symbol):
                    names.update(
                        symbol.name
                        for symbol in bound.pre_order()
                        if isinstance(symbol, pybamm.Parameter | pybamm.FunctionParameter)
                    )
    return names


@functools.lru_cache(maxsize=16)
def _mesh_parameters(model_type: str, options: str) -> frozenset[str]:
    """Geometric parameters other than the x-thicknesses (they cannot be inputs)."""
    model = build_model(ModelSpec(model_type, options=options))
    return frozenset(_geometric_names(model) - set(THICKNESSES))


def _input_names(spec: ModelSpec, names: tuple[str, ...]) -> tuple[str, ...]:
    """The design parameters that can be tried as inputs."""
    if not names:
        return ()
    mesh = frozenset() if spec.is_ecm else _mesh_parameters(spec.model_type, spec.options)
    return tuple(name for name in names if name not in NEVER_INPUT and name not in mesh)


def _output_variables(spec: ModelSpec, plan: Any, model: Any, outputs: tuple[str, ...]) -> Any:
    """The variables for ``IDAKLUSolver(output_variables=...)``, or ``None`` for all.

    With output variables IDAKLU computes only those (cheap, inside the solver) and a
    solution cannot give any other variable. That is safe when the results read only
    :data:`PUBLISHED` plus the requested extra variables, and PyBaMM never evaluates a
    termination from the solution: it does for a step with several terminations in the
    unified model, so such protocols (and the quick ECM models) solve with all variables.
    """
    if spec.is_ecm:
        return None
    for step in getattr(plan.experiment, "steps", None) or ():
        if len(getattr(step, "termination", None) or ()) > 1:
            return None
    names = [name for name in dict.fromkeys((*PUBLISHED, *outputs)) if name in model.variables]
    return names or None


def _simulation(
    spec: ModelSpec,
    plan: Any,
    values: Any,
    inputs: tuple[str, ...],
    mode: str,
    outputs: tuple[str, ...] = (),
) -> tuple[Any, Any, bool]:
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    model = build_model(spec)
    values = values.copy()
    for name in inputs:
        values[name] = "[input]"
    if spec.is_ecm:
        values[INITIAL_SOC] = "[input]"
    submesh_types = None
    symbolic = any(name in THICKNESSES for name in inputs)
    if symbolic:
        submesh_types = dict(model.default_submesh_types)
        for domain in _X_DOMAINS:
            submesh_types[domain] = pybamm.SymbolicUniform1DSubMesh
    simulation = pybamm.Simulation(
        model,
        parameter_values=values,
        experiment=plan.experiment,
        submesh_types=submesh_types,
        solver=pybamm.IDAKLUSolver(output_variables=_output_variables(spec, plan, model, outputs)),
        experiment_model_mode=mode,
    )
    _DecodeTermination.install(simulation)
    return simulation, model, symbolic


class _DecodeTermination:
    """A faster ``Simulation._decode_combined_step_termination`` (PyBaMM 26, unified mode).

    When a step of the unified experiment model ends on the combined event, PyBaMM finds
    which of the step's terminations fired by evaluating each one; our UCP terminations
    read model variables, so PyBaMM falls back to building and interpolating the processed
    variable over the whole step (~10 ms per step for an SPMe discharge). A step with a
    single termination needs no evaluation: it is that one. Steps with several are left to
    PyBaMM. Without the private method (another PyBaMM) nothing is installed.
    """

    def __init__(self, original: Callable[..., Any], combined: str) -> None:
        self.original = original
        self.combined = combined

    @classmethod
    def install(cls, simulation: Any) -> None:
        original = getattr(simulation, "_decode_combined_step_termination", None)
        combined = getattr(simulation, "_COMBINED_TERMINATION_EVENT", None)
        if callable(original) and isinstance(combined, str):
            simulation._decode_combined_step_termination = cls(original, combined)

    def __call__(self, step_solution: Any, step: Any, model: Any, inputs: Any) -> Any:
        if step_solution.termination == f"event: {self.combined}":
            events = [term.get_event(model.variables, step) for term in step.termination]
            fired = [event for event in events if event is not None]
            if len(fired) == 1:
                step_solution.termination = f"event: {fired[0].name}"
                return step_solution.termination
        return self.original(step_solution, step, model, inputs)


def _share_esoh_solver(cache: SimulationCache, key: Any, simulation: Any) -> None:
    """Reuse PyBaMM's eSOH solver of an earlier build with the same parameter values.

    Relies on the private ``Simulation._initial_soc_solver`` (PyBaMM 26); without it the
    simulation simply builds its own.
    """
    if not hasattr(simulation, "_initial_soc_solver"):
        return
    if simulation._initial_soc_solver is None:
        simulation._initial_soc_solver = cache.esoh_solvers.get_recent(key)


def build_entry(
    cache: SimulationCache,
    spec: ModelSpec,
    plan: Any,
    values: Any,
    design: dict[str, float],
    solve_kwargs: Callable[[Entry], dict[str, Any]],
    outputs: tuple[str, ...] = (),
) -> Entry:
    """Build a simulation for ``plan`` with the ``design`` parameters (see module doc).

    ``values`` already hold the plan's temperatures; ``solve_kwargs(entry)`` gives the
    ``initial_soc``/``inputs`` arguments used to build for the first solve; ``outputs``
    are the extra variables the results will read (besides :data:`PUBLISHED`).
    """
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    names = tuple(sorted(design))
    inputs = _input_names(spec, names)
    attempts = [inputs, ()] if inputs else [()]
    error: BaseException | None = None
    for attempt in attempts:
        baked = {name: design[name] for name in names if name not in attempt}
        with_fixed = values.copy()
        with_fixed.update(baked)
        for mode in ("unified", "legacy"):
            try:
                simulation, model, symbolic = _simulation(
                    spec, plan, with_fixed, attempt, mode, outputs
                )
                entry = Entry(
                    simulation, attempt, baked, frozenset(model.variables.keys()), symbolic
                )
                esoh_key = (
                    spec,
                    tuple(sorted(baked.items())),
                    attempt,
                    plan.initial_temperature_k,
                    plan.ambient_temperature_k,
                )
                _share_esoh_solver(cache, esoh_key, simulation)
                kwargs = solve_kwargs(entry)
                simulation.build_for_experiment(
                    initial_soc=kwargs.get("initial_soc"), inputs=kwargs["inputs"]
                )
                solver = getattr(simulation, "_initial_soc_solver", None)
                if solver is not None:
                    cache.esoh_solvers.put(esoh_key, solver)
                return entry
            except pybamm.ModelError as failure:
                error = failure
                if mode == "unified" and "unified experiment model" in str(failure):
                    continue  # e.g. drive cycles: use one model per step
                break
            except EngineError:
                raise
            except Exception as failure:  # PyBaMM raises many types while building
                error = failure
                break
    assert error is not None
    raise pybamm_error(error, "building the simulation")
