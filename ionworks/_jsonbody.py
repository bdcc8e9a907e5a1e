"""Request bodies as strict JSON (the transport's encoder)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    python = _as_python(value)
    if python is not value:
        return python
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _as_python(value: Any) -> Any:
    """numpy arrays and scalars as Python lists and numbers (``value`` itself otherwise)."""
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars (scalars → Python)
    if callable(tolist):
        return tolist()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where ``value`` holds the first NaN or infinity: ``(path, number)``, or ``None``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if value is None or isinstance(value, str | bytes | int):
        return None
    if isinstance(value, Mapping):
        children: Any = ((f"{path}[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        python = _as_python(value)
        return None if python is value else _non_finite(python, path)
    for child_path, child in children:
        found = _non_finite(child, child_path)
        if found is not None:
            return found
    return None


def dumps(body: Any) -> bytes:
    """Serialise a request body as strict JSON. JSON has no NaN or infinity: a body holding
    one is a ``ValueError`` naming the value and where it is (pipeline configs have their
    NaN/inf replaced by ``null`` before, as the official client does: wire.md §6.2)."""
    try:
        text = json.dumps(body, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:
        found = _non_finite(body)
        if found is None:
            raise
        path, value = found
        raise ValueError(
            f"cannot send {value!r} in the request body (at body{path}): JSON has no NaN or "
            "infinity; pass a finite number, or None for a missing value"
        ) from None
    return text.encode()
