"""What one simulation job runs in a worker process.

:func:`run_simulation` takes a :class:`SimulationRequest` (the raw ``parameterized_model``,
the UCP YAML, experiment and design parameters) and returns a :class:`SimulationOutput`:
zstd parquet bytes of the time series and of the step table (column conventions of
:mod:`ionworks.ucp.results`, docs/spec/wire.md §4.4) plus the metrics. Every failure the client
should see — an unknown model, chemistry, parameter or variable, an invalid protocol, a
PyBaMM build or solver error — is raised as :class:`EngineError` with the original text.

Built simulations are cached per process (:mod:`.builder`), so a DOE sweep over design
parameters re-solves one built simulation with ``inputs=``. The cache is guarded by a
lock: concurrent calls in one process run one at a time.

If PyBaMM stops an experiment part-way (a solver failure after the first step, or a safety
limit / model event ending the run), the partial result is returned and the metrics get a
``"Messages"`` list explaining why.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from ionworks import ucp
from ionworks.wire.arrow import write_arrow_stream, write_result_parquet
from ionworks.wire.derived import Derive, steps_derived, time_series_derived

from .builder import CACHE_SIZE, Entry, Key, SimulationCache, build_entry, pybamm_error
from .catalog import ModelSpec, model_from_spec, parameter_values
from .errors import EngineError, did_you_mean
from .quick import INITIAL_SOC

__all__ = [
    "CACHE_SIZE",
    "SimulationOutput",
    "SimulationRequest",
    "cache",
    "run_simulation",
    "warm_up",
]

#: Keep the ECM initial SOC strictly inside (0, 1): its SoC events must start positive.
_SOC_MARGIN = 1e-6
_INTEGER_METRICS = ("Number of steps", "Skipped steps", "Planned steps", "Number of cycles")
#: Tables up to this many bytes in memory (~50k rows of ten columns) are stored as Arrow IPC
#: streams; above it parquet (polars' multi-threaded parquet reader is as fast, and smaller).
ARROW_COPY_MAX_BYTES = 4 * 1024 * 1024


@attrs.frozen
class SimulationRequest:
    """One simulation to run (one DOE row / condition)."""

    model: Any  # the raw ``parameterized_model`` value
    protocol: str  # UCP YAML
    experiment_parameters: dict[str, float | str] = attrs.field(factory=dict)
    design_parameters: dict[str, float] = attrs.field(factory=dict)
    extra_variables: list[str] = attrs.field(factory=list)
    max_backward_jumps: int = 1000


@attrs.frozen
class SimulationOutput:
    """Result of :func:`run_simulation`."""

    #: The tables: an Arrow IPC stream up to ARROW_COPY_MAX_BYTES of data (ten times faster
    #: to decode than parquet for typical results; starts with ``ARROW_STREAM_MAGIC``),
    #: parquet (zstd, starts with ``PAR1``) beyond.
    time_series: bytes
    steps: bytes
    metrics: dict[str, float | int | str | list[str]]
    timings: dict[str, float]  # seconds: prepare, build, solve, extract, total; cached 0/1


#: The per-process cache of built simulations.
cache = SimulationCache(CACHE_SIZE)


def warm_up() -> None:
    """Import PyBaMM and the result helpers (once per worker, before the first job)."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pyarrow.parquet  # noqa: F401

    import ionworks.ucp.results  # noqa: F401
    from ionworks.wire.pybamm import import_pybamm

    import_pybamm()


def run_simulation(request: SimulationRequest) -> SimulationOutput:
    """Simulate ``request`` (see the module docstring); raises :class:`EngineError`."""
    with cache.lock:
        return _Run(request).run()


class _Run:
    """The steps of one :func:`run_simulation` call, with their timings."""

    def __init__(self, request: SimulationRequest) -> None:
        self.request = request
        self.timings: dict[str, float] = {}
        self.clock = time.perf_counter()
        self.start = self.clock

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self.clock
        self.clock = now

    def run(self) -> SimulationOutput:
        request = self.request
        if (
            isinstance(request.max_backward_jumps, bool)
            or not isinstance(request.max_backward_jumps, int)
            or request.max_backward_jumps < 0
        ):
            raise EngineError(
                f"max_backward_jumps must be a non-negative integer; got "
                f"{request.max_backward_jumps!r}"
            )
        spec = model_from_spec(request.model)
        values = parameter_values(spec)
        design = _design_values(request.design_parameters, values, spec)
        extra = _extra_names(request.extra_variables)
        protocol = _resolve(request.protocol, request.experiment_parameters)
        plan = _plan(protocol, values, design)
        plan.apply_to(values)
        key = Key(spec, _protocol_key(protocol), tuple(sorted(design)), tuple(sorted(extra)))
        self.lap("prepare")
        with _capture() as messages:
            return self._simulate(spec, plan, values, design, extra, key, messages)

    def _simulate(
        self,
        spec: ModelSpec,
        plan: Any,
        values: Any,
        design: dict[str, float],
        extra: list[str],
        key: Key,
        messages: _Messages,
    ) -> SimulationOutput:
        kwargs = _kwargs(spec, plan, design)
        entry = cache.get(key)
        cached = entry is not None and entry.matches(design)
        if entry is None or not cached:
            cache.misses += 1
            entry = build_entry(cache, spec, plan, values, design, kwargs, key.outputs)
            cache.put(key, entry)
        else:
            cache.hits += 1
        self.timings["cached"] = float(cached)
        self.lap("build")
        _check_variables(extra, entry)
        try:
            solution = _solve(entry, kwargs(entry), messages)
        except EngineError:
            cache.discard(key)  # do not reuse a simulation a failure may have disturbed
            raise
        self.lap("solve")
        series, steps, metrics = _tables(solution, plan, extra, messages.messages)
        self.lap("extract")
        self.timings["total"] = time.perf_counter() - self.start
        return SimulationOutput(series, steps, metrics, timings=self.timings)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _design_values(raw: Any, values: Any, spec: ModelSpec) -> dict[str, float]:
    """Design parameters as floats; every unknown name is reported with close matches."""
    if not isinstance(raw, Mapping):
        raise EngineError(f"design_parameters must be a mapping; got {type(raw).__name__}")
    known = values.keys()
    problems, out = [], {}
    for name, value in raw.items():
        if not isinstance(name, str) or name not in known:
            problems.append(f"unknown parameter {name!r}{did_you_mean(str(name), known)}")
        elif spec.is_ecm and name == INITIAL_SOC:
            problems.append(f"{name!r} comes from the protocol (global initial_soc)")
        elif (number := _number(value)) is None:
            problems.append(f"parameter {name!r} must be a finite number; got {value!r}")
        else:
            out[name] = number
    if problems:
        code = "unknown_parameter" if any(p.startswith("unknown") for p in problems) else None
        raise EngineError(
            f"invalid design_parameters for {spec.label}: " + "; ".join(problems),
            code=code or "invalid_request",
        )
    return out


def _extra_names(raw: Any) -> list[str]:
    if not isinstance(raw, list | tuple) or not all(isinstance(name, str) for name in raw):
        raise EngineError("extra_variables must be a list of variable names")
    return list(dict.fromkeys(raw))


def _check_variables(names: list[str], entry: Entry) -> None:
    unknown = [name for name in names if name not in entry.variables]
    if unknown:
        details = "; ".join(f"{name!r}{did_you_mean(name, entry.variables)}" for name in unknown)
        raise EngineError(f"unknown extra variable(s): {details}", code="unknown_variable")


def _resolve(text: str, experiment_parameters: Any) -> Any:
    if not isinstance(text, str):
        raise EngineError("protocol must be UCP YAML text")
    if not isinstance(experiment_parameters, Mapping):
        raise EngineError("experiment_parameters must be a mapping")
    try:
        return ucp.resolve_inputs(_parse(text), experiment_parameters)
    except ucp.UCPError as error:
        raise EngineError(f"invalid protocol: {error}", code="protocol") from None


@functools.lru_cache(maxsize=64)
def _parse(text: str) -> Any:
    """Parsed protocols are immutable, so a sweep parses its YAML once."""
    return ucp.parse(text)


def _plan(protocol: Any, values: Any, design: dict[str, float]) -> Any:
    """The PyBaMM plan; reads the nominal capacity including any design override."""
    with_design = values.copy()
    with_design.update(design)
    try:
        return ucp.to_pybamm(protocol, with_design)
    except ucp.UCPError as error:
        raise EngineError(f"protocol cannot be simulated: {error}", code="protocol") from None


def _protocol_key(protocol: Any) -> str:
    """The resolved protocol as text, without its initial state (set at solve time)."""
    settings = attrs.evolve(protocol.settings, initial_state=None)
    return repr(attrs.evolve(protocol, settings=settings))


def _kwargs(
    spec: ModelSpec, plan: Any, design: dict[str, float]
) -> Callable[[Entry], dict[str, Any]]:
    """``initial_soc``/``inputs`` for solving ``plan`` with an entry."""

    def kwargs(entry: Entry) -> dict[str, Any]:
        inputs = {name: design[name] for name in entry.inputs}
        if not spec.is_ecm:
            return {"initial_soc": plan.initial_soc, "inputs": inputs}
        soc = plan.initial_soc
        if isinstance(soc, str):  # "3.3 V"
            assert spec.quick is not None
            soc = spec.quick.curve.soc_at(float(soc.removesuffix("V")))
        inputs[INITIAL_SOC] = min(max(float(soc), _SOC_MARGIN), 1 - _SOC_MARGIN)
        return {"inputs": inputs}

    return kwargs


class _Messages(logging.Handler):
    """Collects PyBaMM's log warnings/errors and Python warnings raised during a run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.logged: list[str] = []
        self.caught: list[warnings.WarningMessage] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.logged.append(record.getMessage())

    @property
    def messages(self) -> list[str]:
        """Distinct messages, whitespace-normalised, in order (log records first)."""
        texts = [*self.logged, *(f"{w.category.__name__}: {w.message}" for w in self.caught)]
        return list(dict.fromkeys(" ".join(text.split()) for text in texts if text.strip()))


@contextlib.contextmanager
def _capture() -> Iterator[_Messages]:
    from ionworks.wire.pybamm import import_pybamm

    logger = import_pybamm().logger
    handler = _Messages()
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            handler.caught = caught
            yield handler
    finally:
        logger.removeHandler(handler)


def _solve(entry: Entry, kwargs: dict[str, Any], messages: _Messages) -> Any:
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    try:
        solution = entry.simulation.solve(calc_esoh=False, **kwargs)
    except Exception as error:  # PyBaMM's SolverError, ModelError, ValueError, ...
        raise pybamm_error(error, "solving") from None
    executed = [
        step
        for cycle in getattr(solution, "cycles", None) or ()
        for step in cycle.steps
        if not isinstance(step, pybamm.EmptySolution)
    ]
    if not executed:
        detail = "; ".join(messages.messages) or "every step was infeasible at its start"
        raise EngineError(f"PyBaMM executed no protocol step: {detail}", code="solver")
    return solution


CYCLE_SUMS = (
    "Discharge capacity [A.h]",
    "Charge capacity [A.h]",
    "Discharge energy [W.h]",
    "Charge energy [W.h]",
    "Duration [s]",
)


def cycle_summaries(steps: Any) -> list[dict[str, float | int]]:
    """Per-cycle totals from the step table (one entry per ``Cycle count``), with the
    coulombic and energy efficiencies of each cycle (charge out / charge in)."""
    if steps.num_rows == 0 or "Cycle count" not in steps.column_names:
        return []
    columns = [c for c in CYCLE_SUMS if c in steps.column_names]
    grouped = steps.group_by("Cycle count", use_threads=False).aggregate(
        [(c, "sum") for c in columns]
    )
    out = []
    for row in sorted(grouped.to_pylist(), key=lambda r: r["Cycle count"]):
        entry: dict[str, float | int] = {"Cycle count": int(row["Cycle count"])}
        entry.update({c: float(row[f"{c}_sum"]) for c in columns})
        for label, out_key, in_key in (
            ("Coulombic efficiency", "Discharge capacity [A.h]", "Charge capacity [A.h]"),
            ("Energy efficiency", "Discharge energy [W.h]", "Charge energy [W.h]"),
        ):
            if entry.get(in_key):
                entry[label] = float(entry.get(out_key, 0.0)) / float(entry[in_key])
        out.append(entry)
    return out


def _with_columns(table: Any, derive: Derive) -> Any:
    """``table`` (Arrow) with the columns ``derive`` computes appended."""
    import pyarrow as pa

    def column(name: str) -> Any:
        return table.column(name).to_numpy()

    for name, values in derive(column, set(table.column_names), table.num_rows).items():
        table = table.append_column(name, pa.array(values))
    return table


def _tables(
    solution: Any, plan: Any, extra: list[str], messages: list[str]
) -> tuple[bytes, bytes, dict[str, Any]]:
    try:
        series = ucp.time_series_table(solution, plan, variables=extra)
        steps = ucp.step_table(solution, plan)
        metrics: dict[str, Any] = ucp.metrics(solution, plan)
    except (ValueError, KeyError) as error:
        code = "unknown_variable" if extra and "variable" in str(error) else "solver"
        raise EngineError(f"cannot extract results: {error}", code=code) from None
    for name in _INTEGER_METRICS:
        if name in metrics:
            metrics[name] = int(metrics[name])
    if messages:
        metrics["Messages"] = messages
    # the protocol loops when cycles group several steps (so never with 2 steps or fewer)
    cycles = cycle_summaries(steps) if steps.num_rows > 2 else []
    if 1 < len(cycles) < steps.num_rows:
        metrics["Cycles"] = cycles
    # The columns clients derive when absent (wire.md §4.4) are stored, so they need no work.
    series = _with_columns(series, time_series_derived)
    steps = _with_columns(steps, steps_derived)
    # small tables as Arrow IPC streams only (what our client asks for; a parquet download
    # is converted when asked), large ones as parquet
    blobs = [
        write_arrow_stream(t) if t.nbytes <= ARROW_COPY_MAX_BYTES else write_result_parquet(t)
        for t in (series, steps)
    ]
    return blobs[0], blobs[1], metrics
