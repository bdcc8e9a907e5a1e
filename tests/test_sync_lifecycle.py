"""Sync facade lifecycle: one-liner clients stay alive, Ctrl-C interrupts a call promptly."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

from aioresponses import aioresponses

from ionworks import Ionworks
from tests.conftest import API


def test_a_client_used_without_a_name_stays_alive(mock_api: aioresponses) -> None:
    mock_api.post(f"{API}/protocols/validate", payload={"valid": True})
    protocols = Ionworks(api_key="k", api_url=API).protocol  # the client itself is unreferenced
    gc.collect()
    assert protocols.validate("steps: []")["valid"] is True
    del protocols
    gc.collect()


def test_ctrl_c_interrupts_a_blocking_call_promptly() -> None:
    script = textwrap.dedent(
        """
        import time, anyio
        from ionworks import Ionworks
        client = Ionworks(api_key="k", api_url="http://127.0.0.1:9")
        print("ready", flush=True)
        start = time.monotonic()
        try:
            client._portal.call(anyio.sleep, 30)
        except KeyboardInterrupt:
            print(f"interrupted after {time.monotonic() - start:.2f}", flush=True)
        client.close()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "interrupted after" in out
    assert time.monotonic() - started < 3
