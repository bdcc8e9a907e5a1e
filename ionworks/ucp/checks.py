"""Checks on the typed model, and substitution of ``input["…"]`` values.

The same checks run when a protocol is parsed (on whatever is already constant) and
after :func:`resolve_inputs` (when everything is), so a value that only becomes known
through an input reference is held to the same rules as a literal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from ._fields import out_of_range
from .errors import Issue, Origin, UCPError
from .inputs import ExprError, finite_float, substitute
from .model import Block, Item, Protocol, Value, iter_values
from .model import value_position as _position
from .vocab import MAX_UNROLLED_STEPS

__all__ = ["resolve_inputs", "semantic_issues"]

_PROTOCOL = Origin(path="protocol", subject="protocol")
_ORDERED_LIMITS = (("voltage_min", "voltage_max"), ("temperature_min", "temperature_max"))


def semantic_issues(protocol: Protocol) -> list[Issue]:
    """Range rules of constant values plus the cross-field rules."""
    issues = []
    for value in iter_values(protocol):
        problem = out_of_range(value)
        if problem:
            issues.append((value.origin or _PROTOCOL).issue(value.code, problem))
    settings = protocol.settings
    first, second = settings.initial_temperature, settings.temperature
    if (
        first
        and second
        and None not in (first.number, second.number)
        and first.number != second.number
    ):
        issues.append(
            (second.origin or _PROTOCOL).issue(
                "global",
                f"conflicting 'initial_temperature' ({first.source}) and 'temperature' "
                f"({second.source}); give only one",
            )
        )
    safety = protocol.safety
    if safety is not None:
        for low_key, high_key in _ORDERED_LIMITS:
            low, high = getattr(safety, low_key), getattr(safety, high_key)
            if low is None or high is None or None in (low.value.number, high.value.number):
                continue
            if low.value.number >= high.value.number:
                issues.append(
                    (high.value.origin or _PROTOCOL).issue(
                        "safety",
                        f"{low_key} ({low.value.source}) must be below {high_key} "
                        f"({high.value.source})",
                    )
                )
    count = _bounded_count(protocol.items)
    if count > MAX_UNROLLED_STEPS:
        issues.append(
            _PROTOCOL.issue(
                "repeat",
                f"too many steps: the protocol unrolls to {count} steps; at most "
                f"{MAX_UNROLLED_STEPS} are allowed",
            )
        )
    return issues


def _bounded_count(items: tuple[Item, ...]) -> int:
    """Unrolled step count, treating unresolved repeat counts as 1 (a lower bound)."""
    total = 0
    for item in items:
        if isinstance(item, Block):
            number = item.repeat.number
            repeat = (
                int(number) if number is not None and number.is_integer() and number >= 1 else 1
            )
            total += repeat * _bounded_count(item.items)
        else:
            total += 1
    return total


def _number(name: str, raw: Any, origin: Origin) -> tuple[float | None, Issue | None]:
    """A parameter value as a float, or the issue explaining why it is not one."""
    number = finite_float(raw)
    if isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            number = None
    elif number is None and callable(getattr(raw, "item", None)):  # numpy scalars
        try:
            number = finite_float(raw.item())
        except (TypeError, ValueError):
            number = None
    if number is not None and math.isfinite(number):
        return number, None
    return None, origin.issue(
        "input",
        f"input reference {name!r} must be a finite number; got {raw!r:.60}",
    )


def resolve_inputs(protocol: Protocol, experiment_parameters: Mapping[str, Any]) -> Protocol:
    """Substitute ``input["…"]`` values from ``experiment_parameters``.

    Values may be ints, floats or numeric strings. Parameters nothing references are
    ignored. Raises :class:`UCPError` (code ``input``) for a missing or non-numeric value,
    and the usual codes when a substituted value breaks a range rule (e.g. a negative
    C-rate or an SOC above 100 %).
    """
    first_use: dict[str, Origin] = {}
    for value in sorted(iter_values(protocol), key=_position):
        for name in value.refs:
            first_use.setdefault(name, value.origin or _PROTOCOL)
    numbers: dict[str, float] = {}
    issues: list[Issue] = []
    for name, origin in first_use.items():
        if name not in experiment_parameters:
            issues.append(
                origin.issue(
                    "input", f"unknown input reference {name!r}; add it to experiment_parameters"
                )
            )
            continue
        number, issue = _number(name, experiment_parameters[name], origin)
        if issue is not None:
            issues.append(issue)
        elif number is not None:
            numbers[name] = number
    if issues:
        raise UCPError(issues)
    resolved = _rebuild(protocol, numbers, issues)
    issues += semantic_issues(resolved)
    if issues:
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.column or 0))
        raise UCPError(issues)
    return resolved  # type: ignore[no-any-return]


def _rebuild(obj: Any, numbers: Mapping[str, float], issues: list[Issue]) -> Any:
    if isinstance(obj, Value):
        if not obj.refs:
            return obj
        try:
            return attrs.evolve(obj, expr=substitute(obj.expr, numbers))
        except ExprError as error:
            issues.append(
                (obj.origin or _PROTOCOL).issue(error.code, f"{obj.source}: {error.message}")
            )
            return obj
    if isinstance(obj, tuple):
        return tuple(_rebuild(item, numbers, issues) for item in obj)
    if attrs.has(type(obj)):
        changes = {}
        for attribute in attrs.fields(type(obj)):
            if attribute.name == "origin" or not attribute.init:
                continue
            old = getattr(obj, attribute.name)
            new = _rebuild(old, numbers, issues)
            if new is not old:
                changes[attribute.name] = new
        return attrs.evolve(obj, **changes) if changes else obj
    return obj
