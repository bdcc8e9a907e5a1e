"""Functions that run inside worker processes (must be importable and picklable)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["run_chunk", "run_simulation_job"]


def run_simulation_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Simulate one request; returns the tables (Arrow stream or parquet bytes) and metrics
    (EngineError text on failure)."""
    from ionworks.server.engine.simulate import SimulationRequest, run_simulation

    output = run_simulation(
        SimulationRequest(
            model=payload["parameterized_model"],
            protocol=payload["protocol"],
            experiment_parameters=payload["experiment_parameters"],
            design_parameters=payload["design_parameters"],
            extra_variables=payload["extra_variables"],
            max_backward_jumps=payload["max_backward_jumps"],
        )
    )
    return {
        "time_series": output.time_series,
        "steps": output.steps,
        "metrics": output.metrics,
        "timings": output.timings,
    }


def run_chunk(work: tuple[Callable[[Any], Any], list[Any]]) -> list[tuple[str, Any]]:
    """``func(payload)`` for each payload of ``work = (func, payloads)``, in order, as one
    task (the Dask executor's chunks): ``("ok", result)`` or ``("error", message)`` each."""
    func, payloads = work
    out: list[tuple[str, Any]] = []
    for payload in payloads:
        try:
            out.append(("ok", func(payload)))
        except Exception as exc:  # each job fails alone
            out.append(("error", str(exc) or type(exc).__name__))
    return out
