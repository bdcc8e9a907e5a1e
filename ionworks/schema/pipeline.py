"""``iws.Pipeline`` and ``iws.SimplePipeline``: named elements run in order.

``to_config()`` gives ``{"elements": {<name>: {"element_type": ..., ...}}, "name": ...}``,
the dict ``client.pipeline.create`` / ``client.simple_pipeline.create`` take (they also accept
the builder itself and pick up its ``name`` and ``description``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ionworks.wire.pipeline import LEGACY_ALIASES

from ._base import DATA_PREFIXES, Schema, check_mapping, check_str, fail, wire
from .calculations import Calculation
from .data_fit import DataFit
from .direct_entries import DirectEntry
from .validation import Validation

__all__ = ["ELEMENT_TYPES", "Pipeline", "SimplePipeline", "element_type_of"]

#: Builder class → ``element_type``.
ELEMENT_TYPES: Final[Mapping[type[Schema], str]] = {
    DirectEntry: "entry",
    DataFit: "data_fit",
    Calculation: "calculation",
    Validation: "validation",
}
RUNNING: Final = frozenset({"data_fit", "validation"})

Element = DirectEntry | DataFit | Calculation | Validation | dict[str, Any]


def element_type_of(where: str, element: Any) -> str:
    """The canonical ``element_type`` of a builder or raw dict element."""
    for cls, kind in ELEMENT_TYPES.items():
        if isinstance(element, cls):
            return kind
    if isinstance(element, Mapping):
        raw = element.get("element_type")
        if isinstance(raw, str) and raw in ELEMENT_TYPES.values():
            return raw
        if isinstance(raw, str) and raw in LEGACY_ALIASES:
            return LEGACY_ALIASES[raw]
        fail(
            f"{where}['element_type']",
            f"one of {', '.join(ELEMENT_TYPES.values())} (legacy: {', '.join(LEGACY_ALIASES)})",
            raw,
        )
    fail(where, "iws.DirectEntry, iws.DataFit, iws.Calculation, iws.Validation or a dict", element)


def _values(element: Any) -> Mapping[str, Any] | None:
    if isinstance(element, DirectEntry):
        return element.parameters
    if isinstance(element, Mapping) and isinstance(element.get("values"), Mapping):
        values: Mapping[str, Any] = element["values"]
        return values
    return None


def _data_refs(element: Any) -> list[tuple[str, str]]:
    """(objective name, reference) of the ``"<element>.<key>"`` data of an element."""
    objectives = getattr(element, "objectives", None)
    if objectives is None and isinstance(element, Mapping):
        objectives = element.get("objectives")
    out = []
    for name, objective in (objectives or {}).items() if isinstance(objectives, Mapping) else ():
        data = getattr(objective, "data_input", None)
        if isinstance(objective, Mapping):
            data = objective.get("data")
        if isinstance(data, str) and not data.startswith(DATA_PREFIXES):
            out.append((str(name), data))
    return out


def _check_references(where: str, elements: Mapping[str, Any]) -> None:
    for name, element in elements.items():
        for objective, ref in _data_refs(element):
            target, _, key = ref.partition(".")
            at = f"{where}[{name!r}] objective {objective!r}"
            if target not in elements:
                note = (
                    f"for a local file use 'file:{ref}'"
                    if "/" in ref or ref.count(".") == 1
                    else ""
                )
                fail(at, f"a reference to one of the elements {sorted(elements)}", ref, note)
            values = _values(elements[target])
            if values is None or key not in values:
                keys = sorted(values) if values is not None else []
                fail(at, f"a value of element {target!r} (its values: {keys})", ref)


@attrs.frozen(init=False)
class Pipeline(Schema):
    """Elements (name → ``DirectEntry`` / ``DataFit`` / ``Calculation`` / ``Validation`` or
    a raw element dict) run in order, parameter values threading from one to the next."""

    elements: dict[str, Element]
    output_file: str | None
    name: str | None
    description: str | None

    def __init__(
        self,
        elements: Mapping[str, Element] | None = None,
        output_file: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        cls = type(self).__name__
        if elements is not None and not isinstance(elements, Mapping):
            fail(f"{cls}.elements", "a dict of element name -> element (not a list)", elements)
        built = check_mapping(f"{cls}.elements", elements)
        kinds = {k: element_type_of(f"{cls}.elements[{k!r}]", v) for k, v in built.items()}
        built = {k: dict(v) if isinstance(v, Mapping) else v for k, v in built.items()}
        _check_references(f"{cls}.elements", built)
        self._check_kinds(kinds)
        self.__attrs_init__(
            built,
            check_str(f"{cls}.output_file", output_file),
            check_str(f"{cls}.name", name),
            check_str(f"{cls}.description", description),
        )

    def _check_kinds(self, kinds: Mapping[str, str]) -> None:
        """Extra rules on the element types (see :class:`SimplePipeline`)."""

    def element_types(self) -> dict[str, str]:
        """Element name → canonical ``element_type``."""
        return {k: element_type_of(k, v) for k, v in self.elements.items()}

    def to_config(self) -> dict[str, Any]:
        elements: dict[str, Any] = {}
        for key, element in self.elements.items():
            config = wire(element, f"{type(self).__name__}.elements[{key!r}]")
            if not isinstance(element, Mapping):
                config["element_type"] = element_type_of(key, element)
            elements[key] = config
        out: dict[str, Any] = {"elements": elements}
        for field in ("output_file", "name", "description"):
            if getattr(self, field) is not None:
                out[field] = getattr(self, field)
        return out


@attrs.frozen(init=False)
class SimplePipeline(Pipeline):
    """A pipeline with at most one ``DataFit`` or ``Validation`` (for
    ``client.simple_pipeline``); entries and calculations may come before it."""

    def _check_kinds(self, kinds: Mapping[str, str]) -> None:
        running = [k for k, kind in kinds.items() if kind in RUNNING]
        if len(running) > 1:
            fail(
                "SimplePipeline.elements",
                "at most one DataFit or Validation",
                running,
                "use iws.Pipeline for multi-step pipelines",
            )
