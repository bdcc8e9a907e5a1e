"""Entry point of a worker process: ``python -m ionworks.server.execution._worker_main FD PID
[INIT [READY]]`` (the socket's file descriptor, the server's pid, an initializer
``module:function``, a pipe's file descriptor to write one byte to once it has run).

Workers are started as fresh interpreters (not multiprocessing's spawn), so they never import
the user's ``__main__`` script. They ignore Ctrl-C (the server decides what happens to running
jobs) and exit when the server's end of the socket closes. If the server dies without closing
it (``kill -9``), Linux kills the worker at once (``PR_SET_PDEATHSIG``), and a watchdog thread
(every platform) sees the parent change within :data:`WATCH_PERIOD` seconds and kills the
worker's process group, so whatever a job forked goes too.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any


def serve(conn: Connection) -> None:
    """Answer ``(job_id, token, func, payload)`` messages — or chunks, ``(None, token, func,
    [(job_id, payload), ...])``, run in order — with one reply per job as soon as it ends:
    ``(job_id, token, pid, "ok", result)`` or ``(job_id, token, pid, "error", message,
    traceback)``. The server matches every reply to the dispatch it answers, and to this
    process (see executor.py)."""
    pid = os.getpid()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job_id, token, func, payload = message
        jobs = payload if job_id is None else [(job_id, payload)]
        for one_id, one_payload in jobs:
            if not _answer(conn, pid, one_id, token, func, one_payload):
                return


def _answer(conn: Connection, pid: int, job_id: str, token: str, func: Any, payload: Any) -> bool:
    """Run one job and send its reply; False once the server's end is gone."""
    result: tuple[Any, ...]
    try:
        result = (job_id, token, pid, "ok", func(payload))
    except Exception as exc:  # report every job failure to the server
        text = str(exc) or type(exc).__name__
        result = (job_id, token, pid, "error", text, traceback.format_exc(limit=5))
    if os.getpid() != pid:  # the job forked this process: the copy must not answer
        os._exit(70)
    try:
        conn.send(result)
    except (BrokenPipeError, OSError):
        return False
    return True


#: Seconds between the watchdog's looks at the parent process.
WATCH_PERIOD = 0.25


def _watch_parent(parent: int) -> None:
    """Kill this worker's process group (it leads one) as soon as ``parent`` is gone."""
    while os.getppid() == parent:
        time.sleep(WATCH_PERIOD)
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    finally:
        os._exit(70)


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the server's thread that started it exits
    (``PR_SET_PDEATHSIG``), even while a solver holds the GIL and the watchdog cannot run."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
        pass


_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = int(argv[2])  # the server's pid: it may have died while this interpreter started
    _die_with_parent()
    if os.getppid() != parent:  # gone before the signal was armed
        return 70
    threading.Thread(
        target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    conn = Connection(int(argv[1]))
    if len(argv) > 3 and argv[3]:
        module, _, name = argv[3].partition(":")
        getattr(importlib.import_module(module), name)()
    if len(argv) > 4:  # the server waits for its workers' warm-up before its own imports
        os.write(int(argv[4]), b"1")
        os.close(int(argv[4]))
    serve(conn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
