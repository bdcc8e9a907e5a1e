"""Job functions for the chunk tests (imported by name inside worker processes)."""

from __future__ import annotations

import os
import time
from typing import Any


def echo(payload: Any) -> Any:
    return {"payload": payload, "pid": os.getpid()}


def fail_on_text(payload: Any) -> Any:
    if isinstance(payload, str):
        raise ValueError(payload)
    return payload


def die_on_text(payload: Any) -> Any:
    if isinstance(payload, str):
        os._exit(9)
    return payload


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def slow_start() -> None:
    """A worker initializer that takes a while (as importing PyBaMM does)."""
    time.sleep(1.0)


def broken_start() -> None:
    raise RuntimeError("this initializer fails")
