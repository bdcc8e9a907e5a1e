"""``python -m benchmarks [NAME ...] [--n N]``: run benchmarks, one JSON line per figure.

Each line: ``{"name", "ours", "baseline", "ratio", "target", "unit", "kind", "ok", ...}``.
Figures are ratios against a baseline measured in the same run on the same machine (see
benchmarks/README.md for what each one means).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from benchmarks import batch, client_micro, engine, fit, imports, scaleout, throughput


def _benchmarks(n: int) -> dict[str, Callable[[], None]]:
    # the cold start first: right after another benchmark deleted its data directory (tens
    # of thousands of files), creating files is slower on ext4 for a while
    return {
        "coldstart": throughput.bench_cold_start,
        "batch": lambda: batch.bench_batch(n),
        "transport": client_micro.bench_transport_overhead,
        "sync": client_micro.bench_sync_overhead,
        "decode": client_micro.bench_decode,
        "engine": engine.bench_engine_one_off,
        "sweeps": engine.bench_sweeps,
        "polling": lambda: batch.bench_polling(n),
        "dask": lambda: scaleout.bench_dask(n),
        "fit": fit.bench_fit,
        "longsweep": throughput.bench_long_sweep,
        "imports": imports.bench_imports,
    }


def main() -> int:
    names = list(_benchmarks(0))
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", choices=[*names, []], help="default: all")
    parser.add_argument(
        "--n", type=int, default=1000, help="simulations for batch, polling and dask"
    )
    args = parser.parse_args()
    benchmarks = _benchmarks(args.n)
    for name in args.names or names:
        benchmarks[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
