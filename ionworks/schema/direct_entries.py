"""``iws.DirectEntry`` (``iws.direct_entries.DirectEntry``): values given directly.

Serialised as ``{"element_type": "entry", "values": {...}}``. Numbers set parameters;
``"model"`` (``{"type": "SPM"}``, a PyBaMM model), ``"parameter_set"`` (``"Chen2020"``) and
``"parameterized_model"`` select the model; anything else (e.g. ``"data": "db:<id>"``) is
there to be referenced by other elements as ``"<entry name>.<key>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._base import Schema, check_mapping, check_str, fail, wire
from .objectives import check_model

__all__ = ["DirectEntry"]


@attrs.frozen(init=False)
class DirectEntry(Schema):
    """Parameter values (and model selection / data) entered directly."""

    parameters: dict[str, Any]
    source: str | None

    def __init__(self, parameters: Mapping[str, Any] | None = None, source: str | None = None):
        values = check_mapping("DirectEntry.parameters", parameters if parameters else None)
        for key, value in values.items():
            if value is None:
                fail(f"DirectEntry.parameters[{key!r}]", "a value (omit the key instead)", value)
            if key == "model":
                check_model("DirectEntry.parameters['model']", value)
        self.__attrs_init__(values, check_str("DirectEntry.source", source))

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "element_type": "entry",
            "values": wire(self.parameters, "DirectEntry.parameters"),
        }
        if self.source is not None:
            out["source"] = self.source
        return out
