"""``input["…"]`` placeholders and the small arithmetic language of numeric fields.

A numeric field holds a number, a numeric string (``"0.6"``), an ``input["Name"]``
reference, or arithmetic over those with ``+ - * /`` and parentheses
(``2 * input["C-rate"]``). Expressions are parsed by a hand-written recursive-descent
parser into a tiny tree (:data:`Expr`) and evaluated over floats; nothing is ever passed
to ``eval``. Names are any text between double (or single) quotes; escapes are not
supported, so a name cannot contain its own quote character.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import define

__all__ = [
    "Binary",
    "Expr",
    "ExprError",
    "Num",
    "Ref",
    "Unary",
    "evaluate",
    "find_input_references",
    "finite_float",
    "parse_expression",
    "references",
    "render",
    "substitute",
]

MAX_EXPRESSION_CHARS = 2000
MAX_PAREN_DEPTH = 32

_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_REF = re.compile(r"""input\[\s*(["'])(.*?)\1\s*\]""", re.DOTALL)
_RAW_REF = re.compile(r"""input\[\s*(\\?["'])(.*?)\1\s*\]""", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@define(frozen=True)
class Num:
    value: float


@define(frozen=True)
class Ref:
    name: str


@define(frozen=True)
class Unary:
    op: str
    operand: Expr


@define(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


Expr = Num | Ref | Unary | Binary


class ExprError(Exception):
    """A numeric field cannot be read or evaluated; ``code`` is ``value`` or ``input``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expression(self) -> Expr:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.text[self.pos]
            self.pos += 1
            left = Binary(op, left, self.term())
        return left

    def term(self) -> Expr:
        left = self.factor()
        while self.peek() in ("*", "/"):
            op = self.text[self.pos]
            self.pos += 1
            left = Binary(op, left, self.factor())
        return left

    def factor(self) -> Expr:
        char = self.peek()
        if char in ("+", "-"):
            self.pos += 1
            self.depth += 1
            if self.depth > MAX_PAREN_DEPTH:
                raise ExprError("value", "expression is nested too deeply")
            operand = self.factor()
            self.depth -= 1
            return operand if char == "+" else Unary("-", operand)
        return self.primary()

    def primary(self) -> Expr:
        char = self.peek()
        if char == "(":
            self.depth += 1
            if self.depth > MAX_PAREN_DEPTH:
                raise ExprError("value", "expression is nested too deeply")
            self.pos += 1
            inner = self.expression()
            if self.peek() != ")":
                raise ExprError("value", f"missing ')' in {self.text!r}")
            self.pos += 1
            self.depth -= 1
            return inner
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return Num(float(number.group()))
        word = _WORD.match(self.text, self.pos)
        if word and word.group().lower().startswith("input"):
            ref = _REF.match(self.text, self.pos)
            if ref is None or word.group() != "input":
                raise ExprError(
                    "input",
                    f'malformed input reference in {self.text!r}; expected input["Name"]',
                )
            if not ref.group(2).strip():
                raise ExprError("input", 'empty input reference name in input[""]')
            self.pos = ref.end()
            return Ref(ref.group(2))
        found = repr(self.text[self.pos : self.pos + 20]) if char else "end of text"
        raise ExprError(
            "value",
            f'expected a number, input["Name"] or an arithmetic expression; found {found}',
        )


def finite_float(raw: Any) -> float | None:
    """``raw`` as a finite float if it is a (non-bool) int or float, else ``None``."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_expression(text: str, *, prefix: bool = False) -> tuple[Expr, str]:
    """Parse ``text``; return the expression and the unparsed rest.

    With ``prefix=False`` the rest must be empty. With ``prefix=True`` parsing stops at
    the first text that cannot continue the expression (a unit such as ``V`` or ``°C``).
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExprError("value", f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    parser = _Parser(text)
    expr = parser.expression()
    rest = text[parser.pos :].strip()
    if rest and not prefix:
        if rest.lower().startswith("input"):
            raise ExprError(
                "input", f'malformed input reference in {text!r}; expected input["Name"]'
            )
        raise ExprError("value", f"unexpected {rest[:20]!r} in {text!r}")
    return expr, rest


def references(expr: Expr) -> Iterator[str]:
    """The input names in ``expr``, left to right (with repeats)."""
    if isinstance(expr, Ref):
        yield expr.name
    elif isinstance(expr, Unary):
        yield from references(expr.operand)
    elif isinstance(expr, Binary):
        yield from references(expr.left)
        yield from references(expr.right)


def evaluate(expr: Expr, values: Mapping[str, float] | None = None) -> float:
    """Evaluate ``expr``; every reference must be in ``values``."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        if values is None or expr.name not in values:
            raise ExprError("input", f"unknown input reference {expr.name!r}")
        return values[expr.name]
    if isinstance(expr, Unary):
        return -evaluate(expr.operand, values)
    left, right = evaluate(expr.left, values), evaluate(expr.right, values)
    if expr.op == "/" and right == 0:
        raise ExprError("value", "division by zero")
    result = {"+": left + right, "-": left - right, "*": left * right}.get(expr.op)
    return left / right if result is None else result


def substitute(expr: Expr, values: Mapping[str, float]) -> Num:
    """Evaluate ``expr`` to a finite constant."""
    result = evaluate(expr, values)
    if not math.isfinite(result):
        raise ExprError("value", f"expression evaluates to {result}, not a finite number")
    return Num(result)


def render(expr: Expr) -> str:
    """Source-like text of ``expr``."""
    if isinstance(expr, Num):
        return repr(expr.value) if not expr.value.is_integer() else str(int(expr.value))
    if isinstance(expr, Ref):
        return f'input["{expr.name}"]'
    if isinstance(expr, Unary):
        return f"-{render(expr.operand)}"
    return f"({render(expr.left)} {expr.op} {render(expr.right)})"


def _strings(data: Any) -> Iterator[str]:
    """Every string value in document order."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def find_input_references(protocol: str | Mapping[str, Any]) -> list[str]:
    """Names of the ``input["…"]`` placeholders, distinct, in order of first appearance.

    Works on any text: a document that loads as YAML is scanned value by value (so
    quoting and escapes are handled by YAML); text that does not load is scanned raw.
    Never raises.
    """
    from ._yaml import YAMLFailure, load_object, load_text

    found: dict[str, None] = {}
    try:
        loaded = load_text(protocol) if isinstance(protocol, str) else load_object(protocol)
        for text in _strings(loaded.data):
            for match in _REF.finditer(text):
                if match.group(2).strip():
                    found.setdefault(match.group(2))
    except (YAMLFailure, RecursionError, ValueError, TypeError):
        if isinstance(protocol, str):
            for match in _RAW_REF.finditer(protocol[: 1 << 20]):
                name = match.group(2).replace('\\"', '"')
                if name.strip():
                    found.setdefault(name)
    return list(found)
