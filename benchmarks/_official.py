"""The official client's venv (``ionworks-api`` only) for benchmark 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OFFICIAL_CLIENT = "ionworks-api==0.38.0"
ROOT = Path(__file__).resolve().parent.parent


def official_python() -> Path:
    """``.nox/official`` (made by ``nox -s official``) if it has the client, else
    ``.nox/bench-official`` built here with uv (or venv + pip)."""
    for name in ("official", "bench-official"):
        python = ROOT / ".nox" / name / "bin" / "python"
        if python.exists() and _has_client(python):
            return python
    venv = ROOT / ".nox" / "bench-official"
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv:
        if not python.exists():
            subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [uv, "pip", "install", "--python", str(python), OFFICIAL_CLIENT, "requests"],
            check=True,
        )
    else:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", OFFICIAL_CLIENT], check=True)
    return python


def _has_client(python: Path) -> bool:
    probe = "import importlib.metadata as m; m.version('ionworks-api')"
    return (
        subprocess.run(
            [str(python), "-c", probe], cwd=tempfile.gettempdir(), capture_output=True
        ).returncode
        == 0
    )


def run_official_batch(url: str, key: str, ids: list[str]) -> dict[str, Any]:
    python = official_python()
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = Path(tmp) / "ids.json"
        ids_path.write_text(json.dumps(ids))
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("IONWORKS_", "VIRTUAL_ENV"))
        }
        env["PYBAMM_DISABLE_TELEMETRY"] = "true"
        proc = subprocess.run(
            [str(python), str(ROOT / "benchmarks" / "official_batch.py"), url, key, str(ids_path)],
            cwd=tmp,  # not the repository: its ionworks/ must not shadow the official one
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"official_batch.py failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
