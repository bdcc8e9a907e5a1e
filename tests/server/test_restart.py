"""Jobs survive a server restart: interrupted work is re-queued, nothing duplicated or lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ionworks import Ionworks
from ionworks.server.hosting import EmbeddedServer

PROTOCOL = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 2.5"]}
"""


def _start_batch(client: Ionworks, name: str, count: int) -> list[str]:
    """Submit a ``count``-point DFN temperature sweep; return its ids once a job runs."""
    responses = client.simulation.protocol_batch(
        {
            "parameterized_model": "chen2020-dfn",
            "protocol_experiment": {"protocol": PROTOCOL, "name": name},
            "design_parameters_doe": {
                "sampling": "grid",
                "rows": [
                    {
                        "type": "range",
                        "name": "Ambient temperature [K]",
                        "min": 290,
                        "max": 310,
                        "count": count,
                    }
                ],
            },
        }
    )
    ids = [r.simulation_id for r in responses]
    deadline = time.monotonic() + 60
    while "running" not in {s["status"] for s in client.simulation.get_statuses(ids)}:
        assert time.monotonic() < deadline, "no job started running"
        time.sleep(0.05)
    return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_restart_requeues_interrupted_jobs(tmp_path: Path) -> None:
    key = "restart-key"
    first = EmbeddedServer(tmp_path, api_keys=[key], workers=1)
    url = first.start()
    with Ionworks(api_key=key, api_url=url) as client:
        ids = _start_batch(client, "restart", 6)
    first.stop()  # mid-batch: one job is running, others pending

    second = EmbeddedServer(tmp_path, api_keys=[key], workers=2)
    url = second.start()
    try:
        with Ionworks(api_key=key, api_url=url) as client:
            records = client.simulation.wait_for_completion(ids, timeout=300, verbose=False)
            assert [r["id"] for r in records] == ids
            everything = client.simulation.list()
            assert sorted(s["id"] for s in everything) == sorted(ids)  # no duplicates
            for sid in ids:
                assert len(client.simulation.get_result(sid).time_series) > 10
    finally:
        second.stop()


def _serve(data_dir: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ionworks",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--api-key",
            key,
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server did not become healthy")


def test_kill_9_mid_batch_then_restart(tmp_path: Path) -> None:
    key = "kill-key"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, port, key)
    try:
        _wait_healthy(url, proc)
        with Ionworks(api_key=key, api_url=url) as client:
            ids = _start_batch(client, "kill", 5)
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup at all
        proc.wait(10)
        proc = _serve(tmp_path, port, key)
        _wait_healthy(url, proc)
        with Ionworks(api_key=key, api_url=url) as client:
            records = client.simulation.wait_for_completion(ids, timeout=300, verbose=False)
            assert [r["id"] for r in records] == ids
            assert sorted(s["id"] for s in client.simulation.list()) == sorted(ids)
            assert all(len(client.simulation.get_result(i).time_series) > 10 for i in ids)
    finally:
        proc.kill()
        proc.wait(10)


def _worker_children(pid: int) -> list[int]:
    """Child processes of ``pid`` running the ionworks worker entry point (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"ionworks.server.execution._worker_main" in cmdline:
                found.append(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_serve_starts_its_workers_before_the_first_request(tmp_path: Path) -> None:
    """... on a data directory that does not exist yet (the workers' log is in it)."""
    port = _free_port()
    proc = _serve(tmp_path / "new" / "data", port, "eager-key")
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        deadline = time.monotonic() + 30
        while not _worker_children(proc.pid):  # no job was submitted
            assert time.monotonic() < deadline, "ionworks serve did not start its worker"
            time.sleep(0.05)
        assert len(_worker_children(proc.pid)) == 1  # --workers 1
    finally:
        proc.kill()
        proc.wait(10)
