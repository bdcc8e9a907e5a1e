"""Benchmarks 5 (engine one-off) and 6 (100-point sweeps) vs raw PyBaMM in this process."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._common import D_N, KEY, L_P, ONE_C, LocalServer, config, doe, report
from ionworks import AsyncIonworks

EXPERIMENT = "Discharge at 1C until 2.5 V"


def _pybamm() -> Any:
    import pybamm

    return pybamm


def raw_cold(model: str = "SPMe", overrides: dict[str, float] | None = None) -> float:
    """Build and solve the 1C discharge from scratch (model, parameters, experiment, solve,
    one variable), as a script would."""
    pybamm = _pybamm()
    start = time.perf_counter()
    values = pybamm.ParameterValues("Chen2020")
    values.update(overrides or {})
    sim = pybamm.Simulation(
        getattr(pybamm.lithium_ion, model)(),
        parameter_values=values,
        experiment=pybamm.Experiment([EXPERIMENT]),
    )
    solution = sim.solve()
    solution["Voltage [V]"].entries  # noqa: B018
    return time.perf_counter() - start


def median_of(func: Callable[[], float], runs: int = 3) -> float:
    return statistics.median(func() for _ in range(runs))


def raw_build_once_sweep(name: str, values: list[float]) -> float:
    """Seconds per point: one SPMe sim with ``name`` as an input, re-solved per value."""
    pybamm = _pybamm()
    model = pybamm.lithium_ion.SPMe()
    params = pybamm.ParameterValues("Chen2020")
    params[name] = "[input]"
    submesh = dict(model.default_submesh_types)
    for domain in ("negative electrode", "separator", "positive electrode"):
        submesh[domain] = pybamm.SymbolicUniform1DSubMesh
    sim = pybamm.Simulation(
        model,
        parameter_values=params,
        experiment=pybamm.Experiment([EXPERIMENT], period="60 seconds"),
        submesh_types=submesh,
    )
    sim.solve(inputs={name: values[0]})
    start = time.perf_counter()
    for value in values:
        solution = sim.solve(inputs={name: value})
        solution["Voltage [V]"].entries  # noqa: B018
        solution["Discharge capacity [A.h]"].entries  # noqa: B018
    return (time.perf_counter() - start) / len(values)


def engine_sweep(name: str, values: list[float]) -> tuple[float, list[dict[str, float]]]:
    """Seconds per point through ``run_simulation`` (this process, warm cache)."""
    from ionworks.server.engine.simulate import SimulationRequest, run_simulation

    def one(value: float) -> dict[str, float]:
        request = SimulationRequest("chen2020-spme", ONE_C, design_parameters={name: value})
        return run_simulation(request).timings

    one(values[0])
    start = time.perf_counter()
    timings = [one(v) for v in values]
    return (time.perf_counter() - start) / len(values), timings


_RUNS = itertools.count()


def _fresh_one_c() -> dict[str, object]:
    """The SPMe 1C discharge as a new simulation each time: an identical resubmission would
    return the earlier run (already_existed), so each carries an unused experiment parameter."""
    return config(ONE_C, "chen2020-spme", experiment_parameters={"bench run": next(_RUNS)})


async def _one_off(url: str) -> float:
    """Submit one SPMe 1C discharge, wait with as_completed(poll 0.05), fetch the result."""
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        await client.project.list()  # the session and project are set up before timing
        start = time.perf_counter()
        response = await client.simulation.protocol(_fresh_one_c())
        async for _ in client.simulation.as_completed([response.simulation_id], poll_interval=0.05):
            pass
        await client.simulation.get_result(response.simulation_id)
        return time.perf_counter() - start


async def _ids_one_off(url: str, n: int) -> list[str]:
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        ids = []
        for _ in range(n):
            response = await client.simulation.protocol(_fresh_one_c())
            async for _ in client.simulation.as_completed(
                [response.simulation_id], poll_interval=0.05
            ):
                pass
            ids.append(response.simulation_id)
        return ids


def bench_engine_one_off() -> None:
    """5. Single SPMe 1C discharge, warm workers, vs a cold raw PyBaMM script."""
    raw_cold()  # imports and first-use costs out of the way
    raw = median_of(raw_cold, 5)
    with LocalServer(workers=2).run() as server:
        asyncio.run(_ids_one_off(server.url, 4))  # both workers warm, cache filled
        server.settle()  # and the server (its own PyBaMM import)
        ids = asyncio.run(_ids_one_off(server.url, 5))
        in_worker = statistics.median(server.job_seconds(ids))
        end_to_end = statistics.median(asyncio.run(_one_off(server.url)) for _ in range(5))
    report("engine_one_off_in_worker", in_worker, raw, 1.0, "s", raw_cold_s=raw)
    # ≤ 1.25 × raw + 50 ms  ⇔  (end_to_end - 50 ms) / raw ≤ 1.25
    report(
        "engine_one_off_end_to_end",
        end_to_end - 0.05,
        raw,
        1.25,
        "s",
        end_to_end_s=end_to_end,
        note="ours is end-to-end minus the 50 ms allowance",
    )
    values = [float(v) for v in np.logspace(-14, -13, 50)]
    engine_ps, timings = engine_sweep(D_N, values)
    raw_ps = raw_build_once_sweep(D_N, values)
    phases = {
        k: 1e3 * statistics.median(t[k] for t in timings)
        for k in ("prepare", "build", "solve", "extract")
    }
    report(
        "service_overhead_per_sim_in_sweep",
        engine_ps * 1e3,
        raw_ps * 1e3,
        10.0,
        "ms",
        kind="overhead",
        phases_ms=phases,
    )


async def _sweep(url: str, name: str, values: list[float]) -> float:
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        await client.project.list()
        start = time.perf_counter()
        responses = await client.simulation.protocol_batch(
            config(ONE_C, "chen2020-spme", design_parameters_doe=doe(name, values))
        )
        ids = [r.simulation_id for r in responses]
        await client.simulation.wait_for_completion(
            ids, timeout=600, poll_interval=0.05, verbose=False
        )
        gate = asyncio.Semaphore(16)

        async def fetch(sid: str) -> None:
            async with gate:
                await client.simulation.get_result(sid)

        await asyncio.gather(*(fetch(sid) for sid in ids))
        return time.perf_counter() - start


SWEEPS = {
    "diffusivity": (D_N, [float(v) for v in np.logspace(-14, -13, 100)]),
    "thickness": (L_P, [float(v) for v in np.linspace(50e-6, 100e-6, 100)]),
}


def _naive_seconds(name: str, values: list[float], points: int) -> float:
    picks = values[:: len(values) // points][:points]
    start = time.perf_counter()
    for value in picks:
        raw_cold(overrides={name: value})
    return (time.perf_counter() - start) / len(picks) * len(values)


def bench_sweeps(naive_points: int = 10) -> None:
    """6. 100-point SPMe sweeps through the server vs naive rebuild-per-point PyBaMM
    (``naive_points`` measured, scaled to 100: half right before and half right after each
    sweep, so a change of machine load during the run hits both sides alike)."""
    raw_cold()
    with LocalServer(workers=2).run() as server:
        asyncio.run(_ids_one_off(server.url, 2))  # workers started (PyBaMM imported)
        server.settle()
        for label, (name, values) in SWEEPS.items():
            before = _naive_seconds(name, values, naive_points // 2)
            ours = asyncio.run(_sweep(server.url, name, values))
            after = _naive_seconds(name, values[1:], naive_points - naive_points // 2)
            report(
                f"sweep_100_{label}",
                ours,
                (before + after) / 2,
                10.0,
                "s",
                kind="speedup",
                naive_measured_points=naive_points,
                naive_before_s=before,
                naive_after_s=after,
            )
