"""Cold imports (issue 21, target 5): ``import ionworks`` and ``import ionworks_sync;
ionworks.Ionworks`` each within a 0.3 s budget.

Each sample is a fresh interpreter run with ``-X importtime``: the figure is the sum of the
top-level imports' cumulative times made by the statement (the interpreter's own start-up is
left out), the median of ``runs`` samples. The OS file cache is warm after the first run, as it
is for a user's second script. The official client's ``import ionworks`` (its own venv) is
measured the same way, as context.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._common import report

BUDGET_S = 0.3
MARK = "--ionworks-bench-mark--"
STATEMENTS = {
    "imports_cold": "import ionworks",
    "imports_cold_sync_client": "import ionworks_sync\nimport ionworks\nionworks.Ionworks",
}


def import_seconds(statement: str, python: str = sys.executable, cwd: str | None = None) -> float:
    """Seconds the top-level imports of ``statement`` took in a fresh interpreter."""
    code = f"import sys\nsys.stderr.write({MARK!r} + '\\n')\n{statement}\n"
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    after = proc.stderr.split(MARK, 1)[1]
    total_us = 0
    for line in after.splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # a top-level import (nested ones are indented)
            total_us += int(cumulative)
    return total_us / 1e6


def median_seconds(
    statement: str, runs: int, python: str = sys.executable, cwd: str | None = None
) -> tuple[float, list[float]]:
    samples = [import_seconds(statement, python, cwd) for _ in range(runs)]
    return statistics.median(samples), samples


def bench_imports(runs: int = 9) -> None:
    """5 (issue 21). Cold import times against the budget (``kind`` ratio: ours / budget)."""
    from benchmarks._official import official_python

    official, _ = median_seconds(
        "import ionworks", runs, str(official_python()), cwd=tempfile.gettempdir()
    )
    root = str(Path(__file__).resolve().parent.parent)
    for name, statement in STATEMENTS.items():
        median_s, samples = median_seconds(statement, runs, cwd=root)
        report(
            name,
            median_s,
            BUDGET_S,
            1.0,
            "s",
            kind="ratio",
            statement=statement,
            samples_s=[round(s, 4) for s in samples],
            official_import_s=official,
        )
