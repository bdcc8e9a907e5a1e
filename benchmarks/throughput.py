"""Long sweeps (issue 21, targets 1 and 2): the server against the hardware floor.

The floor is raw PyBaMM at its best for a sweep: one SPMe simulation per process, built once
with the swept parameter as an ``[input]``, solving the same points in 2 processes (a
``multiprocessing`` pool of fresh interpreters) and extracting the same columns a result has
(time, voltage, current, discharge capacity, cell temperature), returned to the parent.

Ours: a DOE of the same points submitted to ``ionworks serve --workers 2``, every result
streamed with ``as_completed`` and fetched as it arrives. Both sides start warm (PyBaMM
imported, one SPM discharge solved) and both build the SPMe once per process in the timed
part.
The client runs in a process of its own (:mod:`benchmarks._sweep_client`), so its peak
memory is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks._common import D_N, ONE_C, LocalServer, peak_rss_mb, report
from benchmarks.batch import _seed

EXPERIMENT = "Discharge at 1C until 2.5 V"
COLUMNS = (
    "Voltage [V]",
    "Current [A]",
    "Discharge capacity [A.h]",
    "Volume-averaged cell temperature [C]",
)
_SIM: Any = None


def _values(n: int) -> list[float]:
    return [float(v) for v in np.logspace(-14, -13, n)]


def _warm() -> None:
    """Pool initializer: import PyBaMM and solve one SPM discharge (as our workers are warmed
    before the sweep: the first build of a process costs more than later ones)."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pybamm

    pybamm.Simulation(
        pybamm.lithium_ion.SPM(),
        parameter_values=pybamm.ParameterValues("Chen2020"),
        experiment=pybamm.Experiment([EXPERIMENT]),
    ).solve(initial_soc=1)


def _ready(_: int) -> None:
    time.sleep(0.5)  # long enough that each process of the pool takes one


def _build() -> None:
    """The SPMe sweep simulation, built once per process with D_n as an input."""
    global _SIM
    import pybamm

    values = pybamm.ParameterValues("Chen2020")
    values[D_N] = "[input]"
    _SIM = pybamm.Simulation(
        pybamm.lithium_ion.SPMe(),
        parameter_values=values,
        experiment=pybamm.Experiment([EXPERIMENT]),
    )


def _solve(value: float) -> list[np.ndarray]:
    if _SIM is None:
        _build()
    solution = _SIM.solve(initial_soc=1, inputs={D_N: value})
    return [np.asarray(solution.t)] + [np.asarray(solution[c].entries) for c in COLUMNS]


def floor_seconds(values: list[float], processes: int = 2) -> float:
    """Wall time of the raw sweep over ``processes`` warm processes, each building the SPMe
    simulation once (timed, as our workers build it in the sweep) and solving its share."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_warm) as pool:
        pool.map(_ready, range(processes), chunksize=1)  # every process warm
        start = time.perf_counter()
        pool.map(_solve, values)
        return time.perf_counter() - start


def client_sweep(
    url: str, n: int, poll_interval: float = 0.25, scale: float = 1.0
) -> dict[str, Any]:
    """Our sweep from a client process of its own: its timings and peak RSS."""
    command = [
        sys.executable, "-m", "benchmarks._sweep_client", url, str(n), str(poll_interval),
        str(scale),
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _load() -> float:
    return os.getloadavg()[0]


def bench_long_sweep(n: int = 2000, big: int = 10_000) -> None:
    """1. ``n``-point sweep vs the floor; 2. ``big`` points: per point and peak memory."""
    values = _values(n)
    load_before = _load()
    floor_before = floor_seconds(values)
    with LocalServer(workers=2).run() as server:
        import asyncio

        asyncio.run(_seed(server.url, 2, ONE_C, "chen2020-spm"))  # workers warm
        server.settle()  # and the server (its own PyBaMM import)
        ours = client_sweep(server.url, n)
        floor_after = floor_seconds(values)  # before and after: the machine's load changes
        floor = (floor_before + floor_after) / 2
        report(
            "sweep_2000_vs_hardware_floor",
            ours["total_s"],
            floor,
            1.5,
            "s",
            n=n,
            floor_per_point_ms=1e3 * floor / n,
            floor_before_s=floor_before,
            floor_after_s=floor_after,
            per_point_ms=1e3 * ours["total_s"] / n,
            submit_s=ours["submit_s"],
            load_before=load_before,
            load_after=_load(),
        )
        if not big:
            return
        load_before = _load()
        large = client_sweep(server.url, big, scale=1.5)
        server_rss = peak_rss_mb(server.pid)
        with open(f"/proc/{server.pid}/task/{server.pid}/children") as fh:
            workers_rss = [peak_rss_mb(int(pid)) for pid in fh.read().split()]
        # more small ones after the large one: a short sweep's time varies by ±20 % here
        again = [client_sweep(server.url, n, scale=scale) for scale in (2.0, 2.5)]
    per_point = large["total_s"] / big
    small_runs_s = [ours["total_s"], *(run["total_s"] for run in again)]
    per_point_small = statistics.median(small_runs_s) / n
    report(
        "sweep_10000_per_point_vs_2000",
        1e3 * per_point,
        1e3 * per_point_small,
        1.0,
        "ms",
        n=big,
        small_runs_s=small_runs_s,
        server_peak_rss_mb=server_rss,
        client_peak_rss_mb=large["peak_rss_mb"],
        worker_peak_rss_mb=workers_rss,
        rss_ok=server_rss < 500 and large["peak_rss_mb"] < 500,
        load_before=load_before,
        load_after=_load(),
    )


def bytecode_env() -> dict[str, str]:
    """Environment for a server whose imports read compiled bytecode, as in an installed
    package (pip writes ``.pyc`` files; a venv made with ``PYTHONDONTWRITEBYTECODE`` has none,
    which makes ``import pybamm`` take seconds). The cache lives outside the venv, and is
    filled here before any timing."""
    import tempfile

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "ionworks-bench-pycache")
    warm = "import ionworks.server.execution._worker_main, ionworks.server.engine.simulate as s; s.warm_up()"
    subprocess.run([sys.executable, "-c", warm], check=True, env=env)
    subprocess.run(
        [sys.executable, "-c", "import ionworks.cli, ionworks.server.api.app"], check=True, env=env
    )
    return {k: env[k] for k in ("PYTHONPYCACHEPREFIX",)} | {"PYTHONDONTWRITEBYTECODE": ""}


def bench_cold_start(naive_points: int = 10) -> None:
    """3. The first 100-point SPMe sweep (D_n) on a just-started server (healthy, workers
    still starting; results fetched as they complete, ``as_completed`` polling every 0.05 s)
    vs naive rebuild-per-point PyBaMM (measured half before, half after)."""
    import asyncio

    from benchmarks._sweep_client import sweep
    from benchmarks.engine import SWEEPS, _naive_seconds, raw_cold

    raw_cold()
    env = bytecode_env()
    name, values = SWEEPS["diffusivity"]
    load_before = _load()
    before = _naive_seconds(name, values, naive_points // 2)
    with LocalServer(workers=2, env=env).run() as server:
        ours = asyncio.run(sweep(server.url, values, 0.05))["total_s"]  # streamed
    after = _naive_seconds(name, values[1:], naive_points - naive_points // 2)
    naive = {"naive_before_s": before, "naive_after_s": after}
    load = {"load_before": load_before, "load_after": _load()}
    cache = {"bytecode_cache": env["PYTHONPYCACHEPREFIX"]}
    baseline = (before + after) / 2
    report(
        "sweep_100_cold_start", ours, baseline, 12.0, "s", kind="speedup", **naive, **load, **cache
    )
