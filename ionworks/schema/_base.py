"""Shared pieces of the typed builders: the base class, errors and the wire conversion."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs

__all__ = [
    "DATA_PREFIXES",
    "Schema",
    "SchemaError",
    "check_mapping",
    "check_positive_int",
    "check_str",
    "fail",
    "from_registry",
    "is_number",
    "wire",
]

#: Prefixes of data references (``db:`` resolved by the server, the others by the client).
DATA_PREFIXES: Final = ("db:", "file:", "folder:")


class SchemaError(ValueError):
    """A builder got an invalid value; the message names the field and what it expects."""


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} ({type(value).__name__})"


def fail(where: str, expected: str, got: Any = ..., note: str = "") -> NoReturn:
    """Raise :class:`SchemaError` ``"<where>: expected <expected>, got <got>"``."""
    message = f"{where}: expected {expected}"
    if got is not ...:
        message += f", got {_show(got)}"
    raise SchemaError(message + (f" ({note})" if note else ""))


S = TypeVar("S")


def from_registry(
    where: str, value: Any, registry: Mapping[str, type[S]], base: type, expected: str
) -> S:
    """An instance of a class of ``registry``, its name, or ``{"type": <name>, <its fields>}``.

    An instance of ``base`` itself (or of a class not registered) is refused, and so are keys
    that are not fields of the named class; every message names ``where`` and ``expected``.
    """
    if isinstance(value, base):
        if type(value).__name__ not in registry:
            fail(where, expected, value, f"{type(value).__name__} is not one of them")
        return cast(S, value)
    config = {"type": value} if isinstance(value, str) else value
    if not isinstance(config, Mapping) or config.get("type") not in registry:
        fail(where, f"{expected} or {{'type': <name>, ...}}", value)
    cls = registry[config["type"]]
    names = [a.name for a in attrs.fields(cast(Any, cls))]
    options = {k: v for k, v in config.items() if k != "type"}
    unknown = sorted(set(options) - set(names))
    if unknown:
        allowed = ", ".join(names) or "none"
        fail(where, f"options of {cls.__name__}: {allowed}", value, f"unsupported {unknown}")
    return cls(**options)


def is_number(value: Any) -> bool:
    """A finite real number (``bool`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_str(where: str, value: Any, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        fail(where, "a non-empty string", value)
    return value


def check_positive_int(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(where, "a positive integer", value)
    return value


def check_mapping(where: str, value: Any, *, empty: bool = False) -> dict[str, Any]:
    """A copy of ``value`` as a dict with non-empty string keys."""
    if isinstance(value, Mapping) or (hasattr(value, "items") and hasattr(value, "keys")):
        out = dict(value.items())
    else:
        fail(where, "a dict (mapping of name -> value)", value)
    for key in out:
        if not isinstance(key, str) or not key:
            fail(where, "non-empty string keys", key)
    if not out and not empty:
        fail(where, "a non-empty dict", value)
    return out


class Schema:
    """Base of every builder: ``to_config()`` gives the JSON-ready dict the API takes."""

    __slots__ = ()

    def to_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def type_name(self) -> str:
        """The ``"type"`` discriminator: the class name, as ionworks-schema writes it."""
        return type(self).__name__


def _frame_columns(value: Any) -> dict[str, Any] | None:
    if not (hasattr(value, "columns") and hasattr(value, "to_dict")):
        return None
    module = type(value).__module__
    if module.startswith("polars"):
        columns: dict[str, Any] = value.to_dict(as_series=False)
    else:
        columns = value.to_dict(orient="list")
    return {str(k): v for k, v in columns.items()}


def wire(value: Any, where: str) -> Any:
    """The JSON form of ``value``: builders → ``to_config()``, tuples → lists, DataFrames →
    ``{column: [values]}``, numpy → lists/numbers, PyBaMM models → ``model.to_config()``.

    PyBaMM symbols are left as they are (the client serialises them when submitting).
    """
    if isinstance(value, Schema):
        return value.to_config()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): wire(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v, f"{where}[{i}]") for i, v in enumerate(value)]
    columns = _frame_columns(value)
    if columns is not None:
        return columns
    module = type(value).__module__
    if module.startswith("numpy"):
        return value.tolist()
    if module.startswith("pybamm"):
        to_config = getattr(value, "to_config", None)
        return to_config() if callable(to_config) else value
    fail(where, "a number, string, list, dict, DataFrame or builder object", value)
