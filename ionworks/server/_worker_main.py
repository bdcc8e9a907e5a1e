"""Entry point of a worker process: ``python -m ionworks.server._worker_main FD [INIT]``.

Workers are started as fresh interpreters (not multiprocessing's spawn), so they never import
the user's ``__main__`` script. They ignore Ctrl-C (the server decides what happens to running
jobs) and exit when the server's end of the socket closes.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any


def serve(conn: Connection) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        func, payload = message
        result: tuple[Any, ...]
        try:
            result = ("ok", func(payload))
        except Exception as exc:  # report every job failure to the server
            result = ("error", str(exc) or type(exc).__name__, traceback.format_exc(limit=5))
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    conn = Connection(int(argv[1]))
    if len(argv) > 2 and argv[2]:
        module, _, name = argv[2].partition(":")
        getattr(importlib.import_module(module), name)()
    serve(conn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
