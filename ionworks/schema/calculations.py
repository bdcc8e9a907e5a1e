"""Calculations (``iws.calculations``): parameters derived from others, no fitting.

``iws.Calculation(expressions={"<new parameter>": "<expression>"})`` evaluates arithmetic
over ``{parameter names}`` (an extension of the local server; ionworks-schema's base class
takes no expressions); the built-in recipes serialise as ``{"type": "<ClassName>"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._base import Schema, check_mapping, check_str, fail

__all__ = ["AreaToSquareWidthHeight", "Calculation", "DiameterToSquareWidthHeight"]


@attrs.frozen(init=False)
class Calculation(Schema):
    """Derived parameters: ``expressions`` maps each new parameter to an expression such as
    ``"2 * {Negative particle diffusivity [m2.s-1]}"``."""

    source: str | None
    expressions: dict[str, str] | None

    def __init__(
        self, source: str | None = None, *, expressions: Mapping[str, str] | None = None
    ) -> None:
        name = type(self).__name__
        exprs = None
        if type(self) is Calculation:
            exprs = check_mapping("Calculation.expressions", expressions)
            for key, text in exprs.items():
                if not isinstance(text, str) or not text.strip():
                    fail(f"Calculation.expressions[{key!r}]", "an expression string", text)
        elif expressions is not None:
            fail(f"{name}.expressions", "nothing (a built-in calculation has its own)")
        self.__attrs_init__(check_str(f"{name}.source", source), exprs)

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.expressions is not None:
            out["expressions"] = dict(self.expressions)
        else:
            out["type"] = self.type_name
        if self.source is not None:
            out["source"] = self.source
        return out


@attrs.frozen(init=False)
class AreaToSquareWidthHeight(Calculation):
    """Electrode height and width = sqrt(``Electrode area [m2]``)."""

    def __init__(self, source: str | None = None) -> None:
        super().__init__(source)


@attrs.frozen(init=False)
class DiameterToSquareWidthHeight(Calculation):
    """Electrode height and width of the square with the area of a coin electrode of
    ``Electrode diameter [m]``."""

    def __init__(self, source: str | None = None) -> None:
        super().__init__(source)
