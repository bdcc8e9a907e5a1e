"""Shared helpers of the parser: locations, issue collection and numeric fields."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from attrs import define, evolve

from ._yaml import Loaded
from .errors import Issue, Origin
from .inputs import (
    Binary,
    Expr,
    ExprError,
    Num,
    finite_float,
    parse_expression,
    references,
    substitute,
)
from .model import Value
from .vocab import Constraint

__all__ = ["Ctx", "Loc", "describe", "out_of_range", "read_text"]

#: At most this many issues are collected before parsing gives up on collecting more.
MAX_ISSUES = 200


def describe(raw: Any) -> str:
    """A short name for the type of a YAML value, for messages."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return f"boolean {str(raw).lower()}"
    if isinstance(raw, Mapping):
        return "a mapping"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, str):
        return f"text {raw[:40]!r}"
    return f"{type(raw).__name__} {raw!r}"


@define(frozen=True)
class Loc:
    """A position in the document: data path (for marks), dotted display path, and
    the subject (step, block, section) plus the field relative to it."""

    data: tuple[str | int, ...]
    display: str
    subject: str
    field: str = ""

    def key(self, name: str) -> Loc:
        """The location of ``name`` inside this mapping."""
        return Loc(
            (*self.data, name),
            f"{self.display}.{name}" if self.display else name,
            self.subject,
            f"{self.field}.{name}" if self.field else name,
        )

    def index(self, i: int) -> Loc:
        """The location of item ``i`` of this list."""
        return Loc((*self.data, i), f"{self.display}[{i}]", self.subject, f"{self.field}[{i}]")


class Ctx:
    """Collects issues while parsing one document."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.issues: list[Issue] = list(loaded.issues)
        self.labels: dict[str, Origin] = {}
        self.gotos: list[tuple[str, Origin]] = []

    def origin(self, loc: Loc, *, key: bool = False) -> Origin:
        mark = self.loaded.mark(loc.data, key=key)
        return Origin(
            path=loc.display or "protocol",
            subject=loc.subject,
            field=loc.field,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
        )

    def error(self, loc: Loc, code: str, message: str, *, key: bool = False) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(self.origin(loc, key=key).issue(code, message))

    def add_label(self, name: str, loc: Loc, *, key: bool = False) -> None:
        """Register a step label or block name (a goto target); names are unique."""
        if name.lower() in ("end", "next"):
            self.error(loc, "label", f"{name!r} is a reserved goto target, not a name", key=key)
        elif name in self.labels:
            first = self.labels[name]
            where = f" (first at line {first.line})" if first.line else ""
            self.error(
                loc,
                "label",
                f"duplicate label or block name {name!r}{where}; names must be unique",
                key=key,
            )
        else:
            self.labels[name] = self.origin(loc, key=key)

    def check_keys(
        self, raw: Mapping[str, Any], loc: Loc, allowed: Collection[str], code: str
    ) -> None:
        """Report keys of ``raw`` that are not in ``allowed``."""
        for name in raw:
            if name not in allowed:
                self.error(
                    loc.key(name),
                    code,
                    f"unknown key {name!r}; expected one of {', '.join(sorted(allowed))}",
                    key=True,
                )

    def value(
        self,
        raw: Any,
        loc: Loc,
        constraint: Constraint = Constraint.ANY,
        code: str = "value",
    ) -> Value | None:
        """Read a numeric field (number, numeric string, expression or input ref)."""
        origin = self.origin(loc)
        if raw is None or isinstance(raw, bool) or not isinstance(raw, int | float | str):
            self.error(loc, code, f'expected a number or input["Name"]; got {describe(raw)}')
            return None
        if isinstance(raw, str):
            try:
                expr, _ = parse_expression(raw)
                if not list(references(expr)):
                    expr = substitute(expr, {})
            except ExprError as error:
                self.error(loc, error.code if error.code == "input" else code, error.message)
                return None
            value = Value(raw.strip(), expr, constraint, code, origin)
        else:
            number = finite_float(raw)
            if number is None:
                self.error(loc, code, f"expected a finite number; got {str(raw)[:40]}")
                return None
            value = Value(str(raw)[:40], Num(number), constraint, code, origin)
        problem = out_of_range(value)
        if problem:
            self.error(loc, code, problem)
            return None
        return value

    def scaled(self, value: Value, factor: float, offset: float = 0.0) -> Value:
        """``value * factor + offset`` (unit conversion), folded when constant."""
        if factor == 1 and offset == 0:
            return value
        expr: Expr = Binary("*", value.expr, Num(factor))
        if offset:
            expr = Binary("+", expr, Num(offset))
        if not value.refs:
            expr = substitute(expr, {})
        return evolve(value, expr=expr)


def out_of_range(value: Value) -> str | None:
    """The message when a constant ``value`` breaks its range rule, else ``None``."""
    number = value.number
    if number is None or not value.constraint.violated(number):
        return None
    shown = f"{number:g}"
    prefix = (
        shown
        if value.source == shown or _same_number(value.source, number)
        else f"{value.source} = {shown}"
    )
    return f"{prefix} is out of range; expected {value.constraint.value}"


def _same_number(text: str, number: float) -> bool:
    try:
        return float(text) == number
    except ValueError:
        return False


def read_text(ctx: Ctx, raw: Any, loc: Loc, code: str, what: str) -> str | None:
    """A non-empty string field."""
    if not isinstance(raw, str) or not raw.strip():
        ctx.error(loc, code, f"{what} must be non-empty text; got {describe(raw)}")
        return None
    return raw.strip()
