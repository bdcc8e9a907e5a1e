"""Job functions that misbehave inside a worker process (imported there by name)."""

from __future__ import annotations

import importlib
import os
import sys
from multiprocessing.connection import Connection
from typing import Any


def echo(payload: Any) -> Any:
    return {"payload": payload, "pid": os.getpid()}


def forge_reply(payload: Any) -> Any:
    """Writes a reply for another job onto the worker's own socket, then answers normally."""
    conn = Connection(os.dup(int(sys.argv[1])), readable=False)
    conn.send(("another-job", "a-token", os.getpid(), "ok", "forged result"))
    conn.close()
    return echo(payload)


def fork_then_answer(payload: Any) -> Any:
    """Forks (as ``{"type": "fork", "module": "os"}`` once made a worker do); both copies
    return from here, only the original may answer."""
    os.fork()
    return echo(payload)


def loaded_modules(payload: list[str]) -> list[str]:
    """The ionworks and aiohttp modules loaded in this worker after importing the modules of
    job functions named in ``payload`` (a test's own list)."""
    for name in payload:
        importlib.import_module(name)
    return sorted(m for m in sys.modules if m.split(".")[0] in ("ionworks", "aiohttp"))
