"""Sync facade lifecycle: one-liner clients stay alive, Ctrl-C interrupts a call promptly."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import anyio
import pytest
from aioresponses import aioresponses

from ionworks import Ionworks
from ionworks_sync._portal import _Call
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


def test_calling_from_the_loop_thread_raises_instead_of_deadlocking() -> None:
    client = Ionworks(api_key="k", api_url="http://127.0.0.1:9")
    portal = client._portal

    async def reenter() -> None:
        portal.call(anyio.sleep, 0)

    try:
        with pytest.raises(RuntimeError, match="its own event-loop thread"):
            portal.call(reenter)
    finally:
        client.close()


def test_cancelling_a_call_respects_shielded_sections() -> None:
    client = Ionworks(api_key="k", api_url="http://127.0.0.1:9")
    portal = client._portal
    done: list[str] = []

    async def shielded() -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.3)
            done.append("shielded part finished")
        await anyio.sleep(30)

    call = _Call(shielded, ())
    portal._loop.call_soon_threadsafe(call.start)
    time.sleep(0.1)
    portal._loop.call_soon_threadsafe(call.cancel)  # what Ctrl-C in the caller does
    assert call.done.acquire(timeout=5)
    assert isinstance(call.error, concurrent.futures.CancelledError)
    assert done == ["shielded part finished"]
    client.close()


def test_close_lets_a_call_in_another_thread_finish() -> None:
    client = Ionworks(api_key="k", api_url="http://127.0.0.1:9")
    results: list[object] = []

    def slow_call() -> None:
        results.append(client._portal.call(anyio.sleep, 0.5))

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.1)
    client.close()  # waits (bounded) for the call instead of cancelling it
    thread.join(5)
    assert results == [None]


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    client = Ionworks(api_key="k", api_url="http://127.0.0.1:9")
    loop = client._portal._loop
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    call = _Call(body, ())

    def start_then_cancel() -> None:  # in one loop turn: before the task's first step
        call.start()
        call.cancel()

    loop.call_soon_threadsafe(start_then_cancel)
    assert call.done.acquire(timeout=5)
    time.sleep(0.05)
    assert isinstance(call.error, concurrent.futures.CancelledError) and not ran
    assert not call.done.acquire(timeout=0.05)  # released exactly once
    client.close()
