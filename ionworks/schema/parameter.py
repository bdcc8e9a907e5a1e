"""``iws.Parameter``: a parameter a data fit is free to move."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._base import Schema, check_str, fail, is_number

__all__ = ["Parameter", "parameter_from"]


def _bounds(where: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__len__"):
        fail(where, "(lower, upper): two finite numbers", value)
    items = list(value)
    if len(items) != 2 or not all(is_number(b) for b in items):
        fail(where, "(lower, upper): two finite numbers", value)
    if not items[0] < items[1]:
        fail(where, "strictly increasing bounds (lower < upper)", value)
    return items[0], items[1]


@attrs.frozen(init=False)
class Parameter(Schema):
    """A fitted parameter: ``bounds=(lower, upper)`` and/or ``initial_value``.

    In a :class:`~ionworks.schema.DataFit` the ``parameters`` key names the parameter, so
    ``name`` is optional (when given it must equal the key). Without bounds the server
    searches ``[initial / 100, initial × 100]``, so ``initial_value`` must then be positive.
    Serialises to ``{"initial_value": ..., "bounds": [lower, upper]}`` (what was set).
    """

    name: str | None
    initial_value: float | None
    bounds: tuple[float, float] | None

    def __init__(
        self,
        name: str | None = None,
        initial_value: float | None = None,
        bounds: tuple[float, float] | list[float] | None = None,
    ) -> None:
        where = "Parameter" if name is None else f"Parameter {name!r}"
        check_str(f"{where}.name", name)
        lohi = _bounds(f"{where}.bounds", bounds)
        if initial_value is not None and not is_number(initial_value):
            fail(f"{where}.initial_value", "a finite number", initial_value)
        if lohi is None and (initial_value is None or initial_value <= 0):
            fail(
                where,
                "bounds=(lower, upper) or a positive initial_value",
                note="the fit needs a search range",
            )
        if lohi is not None and initial_value is not None:
            if not lohi[0] <= initial_value <= lohi[1]:
                fail(f"{where}.initial_value", f"a value within bounds {lohi}", initial_value)
        self.__attrs_init__(name, initial_value, lohi)

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.initial_value is not None:
            out["initial_value"] = self.initial_value
        if self.bounds is not None:
            out["bounds"] = list(self.bounds)
        return out


def parameter_from(where: str, key: str, value: Any) -> Parameter:
    """A :class:`Parameter` from an instance, ``{"bounds": ..., "initial_value": ...}`` or a
    positive number (the initial value)."""
    if isinstance(value, Parameter):
        if value.name is not None and value.name != key:
            fail(where, f"a Parameter named {key!r} (its key) or without a name", value.name)
        return value
    if is_number(value):
        return Parameter(key, initial_value=value)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"bounds", "initial_value"})
        if unknown:
            fail(where, "keys bounds, initial_value", value, f"unsupported {unknown}")
        return Parameter(key, value.get("initial_value"), value.get("bounds"))
    fail(where, 'iws.Parameter(bounds=..., initial_value=...) or {"bounds": [lo, hi]}', value)
