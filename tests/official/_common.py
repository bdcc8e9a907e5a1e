"""Helpers of the official-client check modules (``checks_*.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def status_of(fn: Callable[[], Any]) -> int | None:
    """The HTTP status of the IonworksError ``fn`` raises (fails if it raises none)."""
    from ionworks import IonworksError

    try:
        fn()
    except IonworksError as exc:
        return exc.status_code
    raise AssertionError("expected an IonworksError")
