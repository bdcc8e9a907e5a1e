"""A tiny, safe arithmetic evaluator for calculation elements (never ``eval``).

Grammar::

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*
    factor := ('+' | '-') factor | power
    power  := atom ('**' | '^') factor | atom
    atom   := number | {parameter name} | 'parameter name' | func '(' expr (',' expr)* ')'
              | '(' expr ')'

Parameter names contain spaces and brackets, so they are written in braces or single
quotes: ``{Negative particle diffusivity [m2.s-1]} * 2``. Functions: ``sqrt exp log log10
abs min max``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["FUNCTIONS", "evaluate", "names_in"]

FUNCTIONS: Final[Mapping[str, Callable[..., float]]] = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "abs": abs,
    "min": min,
    "max": max,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|\{(?P<brace>[^{}]+)\}"
    r"|'(?P<quote>[^']+)'|(?P<func>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/^(),]))"
)
MAX_LENGTH: Final = 2000


def _tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected character {text[pos : pos + 10]!r} in {text!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        tokens.append(("name" if kind in ("brace", "quote") else kind, value.strip()))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, values: Mapping[str, float] | None) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.values = values
        self.names: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (op is not None and token != ("op", op)):
            raise ValueError(f"expected {op or 'a value'} in {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> float:
        value = self.expr()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return value

    def expr(self) -> float:
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            other = self.term()
            value = value + other if op == "+" else value - other
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            other = self.factor()
            if op == "/" and other == 0 and self.values is not None:
                raise ValueError(f"division by zero in {self.text!r}")
            value = value * other if op == "*" else (value / other if other else math.nan)
        return value

    def factor(self) -> float:
        if self.peek() in (("op", "+"), ("op", "-")):
            sign = -1.0 if self.take()[1] == "-" else 1.0
            return sign * self.factor()
        base = self.atom()
        if self.peek() in (("op", "**"), ("op", "^")):
            self.take()
            exponent = self.factor()
            if abs(exponent) > 1000:
                raise ValueError(f"exponent {exponent:g} too large in {self.text!r}")
            return float(base**exponent)
        return base

    def atom(self) -> float:
        kind, value = self.take()
        if kind == "num":
            return float(value)
        if kind == "name":
            self.names.append(value)
            if self.values is None:
                return 1.0
            if value not in self.values:
                raise ValueError(f"unknown parameter {value!r} in {self.text!r}")
            return float(self.values[value])
        if kind == "func":
            func = FUNCTIONS.get(value)
            if func is None:
                raise ValueError(
                    f"unknown function {value!r} in {self.text!r}; available: "
                    f"{', '.join(FUNCTIONS)} (write parameter names as {{name}})"
                )
            self.take("(")
            args = [self.expr()]
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expr())
            self.take(")")
            return float(func(*args)) if self.values is not None else 1.0
        if (kind, value) == ("op", "("):
            inner = self.expr()
            self.take(")")
            return inner
        raise ValueError(f"unexpected {value!r} in {self.text!r}")


def evaluate(text: str, values: Mapping[str, float]) -> float:
    """The value of ``text`` with parameter names looked up in ``values``."""
    if not isinstance(text, str):
        raise ValueError(f"an expression must be a string, got {type(text).__name__}")
    try:
        return _Parser(text, values).parse()
    except (OverflowError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot evaluate {text!r}: {exc}") from None
    except RecursionError:
        raise ValueError(f"cannot evaluate {text[:40]!r}…: nested too deeply") from None


def names_in(text: str) -> list[str]:
    """The parameter names an expression reads (syntax is checked, nothing is computed)."""
    parser = _Parser(text, None)
    try:
        parser.parse()
    except RecursionError:
        raise ValueError(f"expression {text[:40]!r}… is nested too deeply") from None
    return parser.names
