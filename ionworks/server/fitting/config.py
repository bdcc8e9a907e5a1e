"""Pipeline configs: element types, parsed elements and references between elements.

A config is ``{"elements": {<name>: {"element_type": <type>, ...}}}``; elements run in the
order given. Element types are the canonical wire values (``entry``, ``data_fit``,
``calculation``, ``validation``); the legacy display labels ("Direct Entry", "Data Fit",
"datafit", "Calculation", "Validation") are normalised to them. Anything else is a
``ValueError`` that lists the accepted values.

References: a data slot holding ``"<element>.<key>"`` (``"entry.data"``) takes the value
``<key>`` of element ``<element>``'s ``values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

# the one table of legacy display labels → canonical element types, shared with the builders
from ionworks.wire.pipeline import LEGACY_ALIASES

__all__ = [
    "CANONICAL_TYPES",
    "DISPLAY_LABELS",
    "LEGACY_ALIASES",
    "Element",
    "check_simple_pipeline",
    "element_type",
    "parse_elements",
    "resolve_reference",
]

CANONICAL_TYPES: Final = ("entry", "data_fit", "calculation", "validation")
#: Canonical type → the label ``GET /pipelines/{id}/elements`` reports.
DISPLAY_LABELS: Final[Mapping[str, str]] = {
    "entry": "Direct Entry",
    "data_fit": "Data Fit",
    "calculation": "Calculation",
    "validation": "Validation",
}
#: Element types that fit or validate (a simple pipeline has at most one of them).
RUNNING_TYPES: Final = frozenset({"data_fit", "validation"})
DATA_PREFIXES: Final = ("db:", "file:", "folder:")


def element_type(raw: Any, name: str = "") -> str:
    """The canonical element type of ``raw`` (a canonical value or a legacy alias)."""
    if isinstance(raw, str):
        if raw in CANONICAL_TYPES:
            return raw
        if raw in LEGACY_ALIASES:
            return LEGACY_ALIASES[raw]
    where = f" of element {name!r}" if name else ""
    raise ValueError(
        f"unknown element_type {raw!r}{where}; accepted values: {', '.join(CANONICAL_TYPES)} "
        f"(legacy aliases: {', '.join(repr(a) for a in LEGACY_ALIASES)})"
    )


@attrs.frozen
class Element:
    """One pipeline element with its canonical type and its raw config."""

    name: str
    kind: str
    config: Mapping[str, Any]

    @property
    def label(self) -> str:
        return DISPLAY_LABELS[self.kind]


def parse_elements(config: Any) -> list[Element]:
    """The config's elements in order; ``ValueError`` for a malformed config."""
    if not isinstance(config, Mapping):
        raise ValueError(f"pipeline config must be an object, got {type(config).__name__}")
    elements = config.get("elements")
    if not isinstance(elements, Mapping) or not elements:
        raise ValueError(
            "pipeline config needs 'elements': a non-empty object "
            '{"<element name>": {"element_type": ..., ...}}'
        )
    out = []
    for name, element in elements.items():
        if not isinstance(element, Mapping):
            raise ValueError(f"element {name!r} must be an object, got {type(element).__name__}")
        out.append(Element(str(name), element_type(element.get("element_type"), name), element))
    return out


def check_simple_pipeline(config: Any) -> list[Element]:
    """Elements of a simple pipeline: at most one data_fit or validation element."""
    elements = parse_elements(config)
    running = [e.name for e in elements if e.kind in RUNNING_TYPES]
    if len(running) > 1:
        raise ValueError(
            "a simple pipeline may contain at most one data_fit or validation element; "
            f"found {len(running)}: {', '.join(map(repr, running))} (use client.pipeline for "
            "multi-step pipelines)"
        )
    return elements


def resolve_reference(value: Any, elements: list[Element]) -> Any:
    """``"<element>.<key>"`` → that element's ``values[key]``; anything else unchanged.

    Strings with a data prefix (``db:``, ``file:``, ``folder:``) are not references.
    """
    if not isinstance(value, str) or value.startswith(DATA_PREFIXES):
        return value
    if "." not in value:
        raise ValueError(
            f"data reference {value!r} is neither '<element>.<key>' (e.g. 'entry.data') nor "
            "'db:<measurement id>'; inline data must be an object of columns"
        )
    target, key = value.split(".", 1)
    by_name = {e.name: e for e in elements}
    element = by_name.get(target)
    if element is None:
        raise ValueError(
            f"reference {value!r} names an unknown element {target!r}; elements: "
            f"{', '.join(map(repr, by_name))}"
        )
    values = element.config.get("values")
    if not isinstance(values, Mapping) or key not in values:
        keys = ", ".join(map(repr, values)) if isinstance(values, Mapping) else "none"
        raise ValueError(
            f"reference {value!r}: element {target!r} has no value {key!r} (its values: {keys})"
        )
    return resolve_reference(values[key], elements) if values[key] != value else values[key]
