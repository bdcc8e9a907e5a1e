"""Shared helpers: the JSON report line, the local server, protocols and the DOE helper."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks.cli import DEMO_PROTOCOL

KEY = "bench-key"
D_N = "Negative particle diffusivity [m2.s-1]"
L_P = "Positive electrode thickness [m]"

#: SPM/SPMe 1C discharge to 2.5 V (the python-api.md seed, as `ionworks demo` runs it).
ONE_C = DEMO_PROTOCOL

#: The same discharge recorded every 3 s (~1,200 rows per result).
ONE_C_3S = DEMO_PROTOCOL.replace("steps:\n", "  resolution:\n    time: 3\nsteps:\n", 1)


def report(
    name: str,
    ours: float,
    baseline: float,
    target: float,
    unit: str,
    *,
    kind: str = "ratio",
    **extra: Any,
) -> dict[str, Any]:
    """Print one JSON line. ``kind``:

    - ``ratio``: ours / baseline, ok when ≤ target (times: lower is better);
    - ``speedup``: baseline / ours, ok when ≥ target;
    - ``overhead``: ours - baseline (same unit), ok when ≤ target;
    - ``count``: ours itself, ok when ≤ target (baseline is context, e.g. the poll count).
    """
    if kind == "ratio":
        ratio = ours / baseline
        ok = ratio <= target
    elif kind == "speedup":
        ratio = baseline / ours
        ok = ratio >= target
    elif kind == "overhead":
        ratio = ours - baseline
        ok = ratio <= target
    elif kind == "count":
        ratio = ours
        ok = ours <= target
    else:  # pragma: no cover
        raise ValueError(kind)
    line = {
        "name": name,
        "ours": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "unit": unit,
        "kind": kind,
        "ok": bool(ok),
        **extra,
    }
    print(json.dumps(line), flush=True)
    return line


def doe(name: str, values: list[float]) -> dict[str, Any]:
    return {"sampling": "grid", "rows": [{"type": "discrete", "name": name, "values": values}]}


def config(protocol: str, model: str, **extra: Any) -> dict[str, Any]:
    return {
        "parameterized_model": model,
        "protocol_experiment": {"protocol": protocol, "name": "bench"},
        **extra,
    }


class LocalServer:
    """The embedded server on a throw-away data directory (``executor``: process or dask)."""

    def __init__(
        self,
        workers: int = 2,
        executor: str = "process",
        scheduler: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.extra_env = dict(env or {})
        self.executor = executor
        self.scheduler = scheduler
        self.url = ""
        self.data_dir = Path()
        self.pid = 0  # of the server process (``run``)

    @contextlib.contextmanager
    def run(self) -> Iterator[LocalServer]:
        """``ionworks serve`` in a subprocess, so client and server do not share a GIL (as
        with the official client, which runs in its own process)."""
        with tempfile.TemporaryDirectory(prefix="ionworks-bench-") as tmp:
            self.data_dir = Path(tmp)
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            command = [
                sys.executable, "-m", "ionworks", "serve", "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", tmp, "--api-key", KEY,
                "--workers", str(self.workers), "--executor", self.executor,
            ]  # fmt: skip
            if self.scheduler:
                command += ["--scheduler", self.scheduler]
            env = {k: v for k, v in os.environ.items() if not k.startswith("IONWORKS_")}
            env.update(self.extra_env)
            log = open(Path(tmp) / "server.log", "wb")
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.pid = proc.pid
            try:
                _wait_healthy(self.url, proc)
                yield self
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log.close()

    @contextlib.contextmanager
    def run_embedded(self) -> Iterator[LocalServer]:
        """The server on a thread of this process (shares the GIL with the client)."""
        from ionworks.server.config import ServerConfig
        from ionworks.server.hosting import EmbeddedServer

        with tempfile.TemporaryDirectory(prefix="ionworks-bench-") as tmp:
            self.data_dir = Path(tmp)
            server = EmbeddedServer(tmp, api_keys=[KEY], allow_anonymous=False)
            server.config = ServerConfig(
                tmp,
                api_keys=[KEY],
                allow_anonymous=False,
                workers=self.workers,
                executor=self.executor,
                scheduler=self.scheduler or None,
            )
            self.url = server.start()
            try:
                yield self
            finally:
                server.stop()

    def settle(self, quiet: float = 0.05) -> None:
        """Wait until the server (``run``) is warm: it imports PyBaMM for its request-time
        checks once idle for a second after its workers are warm; wait until it has used
        less than ``quiet`` s of CPU in half a second (at most 60 s)."""
        from ionworks.server.hosting import IDLE_BEFORE_IMPORT

        time.sleep(IDLE_BEFORE_IMPORT + 0.5)
        deadline = time.monotonic() + 60
        used = _cpu_seconds(self.pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = _cpu_seconds(self.pid)
            if now - used < quiet:
                return
            used = now

    def job_seconds(self, simulation_ids: list[str]) -> list[float]:
        """started_at → finished_at of each simulation's job (server timestamps)."""
        from datetime import datetime

        db = sqlite3.connect(self.data_dir / "ionworks.sqlite3")
        try:
            out = []
            for sid in simulation_ids:
                row = db.execute(
                    "SELECT j.started_at, j.finished_at FROM simulations s JOIN jobs j "
                    "ON j.id = s.job_id WHERE s.id = ?",
                    (sid,),
                ).fetchone()
                start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in row)
                out.append((end - start).total_seconds())
            return out
        finally:
            db.close()


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory (Linux ``VmHWM``), in MB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ionworks serve exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"ionworks serve not healthy at {url} after {timeout:.0f} s")
