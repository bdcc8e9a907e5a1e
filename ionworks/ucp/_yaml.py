"""Bounded, safe YAML loading for UCP documents.

The document is read with ruamel.yaml's *event parser* (a state machine, no recursion)
and turned into plain Python data by this module, so that

- only the standard YAML tags are accepted (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!map``, ``!!seq`` and implicit timestamps, which stay text); any other
  tag, e.g. ``!!python/object``, is refused;
- duplicate mapping keys are reported (YAML 1.2 forbids them; ruamel's safe loader would
  raise on the first, PyYAML would keep the last silently);
- anchors, aliases and ``<<`` merge keys work, but the alias-expanded size is computed
  before anything is expanded (billion-laughs guard) and recursive aliases are refused;
- the document size, nesting depth and node count are bounded;
- every value and key keeps its 1-based line and column for error messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from attrs import define, field
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode

from .errors import Issue

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "Loaded",
    "Mark",
    "Path",
    "YAMLFailure",
    "load_object",
    "load_text",
]

MAX_DOCUMENT_BYTES = 1 << 20  # 1 MiB
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64  # nested collections, after alias expansion

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
_SCALAR_TAGS = {_TAG + name for name in ("str", "null", "bool", "int", "float", "timestamp")}


@define(frozen=True)
class Mark:
    """1-based position in the YAML text."""

    line: int
    column: int


class YAMLFailure(Exception):
    """The text cannot be loaded at all (syntax, size, tags, alias budget ...)."""

    def __init__(self, message: str, mark: Mark | None = None, code: str = "yaml") -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.code = code


@define
class Loaded:
    """Plain data of a document plus the positions of its keys and values."""

    data: Any
    value_marks: dict[Path, Mark] = field(factory=dict)
    key_marks: dict[Path, Mark] = field(factory=dict)
    issues: list[Issue] = field(factory=list)  # non-fatal load problems (duplicate keys)

    def mark(self, path: Path, *, key: bool = False) -> Mark | None:
        """Position of the key (``key=True``) or value at ``path``, else of its nearest
        ancestor; ``None`` for data that did not come from text."""
        marks = self.key_marks if key else self.value_marks
        if path in marks:
            return marks[path]
        if path in self.value_marks:
            return self.value_marks[path]
        while path:
            path = path[:-1]
            if path in self.value_marks:
                return self.value_marks[path]
        return None


class _Node:
    __slots__ = ("anchor", "height", "items", "kind", "mark", "size", "tag", "value")

    def __init__(self, kind: str, tag: str, mark: Mark, anchor: str | None = None) -> None:
        self.kind = kind  # "scalar" | "map" | "seq" | "alias"
        self.tag = tag
        self.mark = mark
        self.anchor = anchor
        self.value = ""
        self.items: list[_Node] = []
        self.size = 1
        self.height = 1

    def target(self) -> _Node:
        return self.items[0] if self.kind == "alias" else self


def _mark(event: Any) -> Mark:
    start = event.start_mark
    return Mark(start.line + 1, start.column + 1)


def _yaml_error(error: YAMLError) -> YAMLFailure:
    if isinstance(error, MarkedYAMLError):
        parts = [p for p in (error.context, error.problem) if p]
        mark = error.problem_mark or error.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark is not None else None
        return YAMLFailure(f"protocol is not valid YAML: {', '.join(parts)}", where)
    return YAMLFailure(f"protocol is not valid YAML: {error}")


_BARE_REFERENCE = re.compile(
    r"""(?P<pre>(?:^|[:,\[{])[ \t]*|^[ \t]*-[ \t]+)"""
    r"""(?P<ref>input\[[ \t]*(?:"[^"\n]*"|'[^'\n]*')[ \t]*\])(?=[ \t]*(?:[,\]}#]|$))""",
    re.MULTILINE,
)


# and `{variable: Voltage [V], value: 2.5}` neither (ucp.md E2).
_BARE_VARIABLE = re.compile(
    r"""(?P<pre>\bvariable:[ \t]*)(?P<ref>[A-Za-z][\w \t./-]*\[[^\[\]\n,{}'"]*\])(?=[ \t]*[,}])"""
)


def _quote_reference(match: re.Match[str]) -> str:
    return match["pre"] + "'" + match["ref"].replace("'", "''") + "'"


def _repair(text: str) -> str:
    """Quote flow scalars that ucp.md writes unquoted although YAML forbids it."""
    return _BARE_VARIABLE.sub(_quote_reference, _BARE_REFERENCE.sub(_quote_reference, text))


def load_text(text: str) -> Loaded:
    """Load one YAML document; raises :class:`YAMLFailure` when it cannot be loaded."""
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES:
        raise YAMLFailure(
            f"protocol is not valid YAML: document is larger than {MAX_DOCUMENT_BYTES} bytes"
        )
    yaml = YAML(typ="safe", pure=True)
    try:
        root = _build_tree(yaml, text)
    except YAMLError as error:
        # ucp.md's own example `{initial_soc: input["Initial SOC"]}` is not valid YAML
        # (flow scalars cannot contain brackets); retry with such scalars quoted.
        repaired = _repair(text)
        if repaired == text:
            raise _yaml_error(error) from None
        try:
            root = _build_tree(yaml, repaired)
        except YAMLError:
            raise _yaml_error(error) from None
    loaded = Loaded(data=None)
    if root is not None:
        loaded.data = _Constructor(loaded).build(root, ())
    return loaded


def _build_tree(yaml: YAML, text: str) -> _Node | None:
    """Read parser events into a node tree with alias-expanded size and height."""
    resolver = yaml.resolver
    anchors: dict[str, _Node] = {}
    stack: list[_Node] = []
    root: _Node | None = None
    documents = 0
    total = 0  # nodes so far, aliases counted expanded: stops a huge document early
    for event in yaml.parse(text):
        node: _Node | None = None
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YAMLFailure(
                    "protocol is not valid YAML: expected a single document", _mark(event)
                )
        elif isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = str(resolver.resolve(ScalarNode, event.value, event.implicit))
            node = _Node("scalar", str(tag), _mark(event), event.anchor)
            node.value = event.value
        elif isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise YAMLFailure(
                    f"protocol is not valid YAML: alias '*{event.anchor}' does not refer to an "
                    "earlier complete anchor (recursive aliases are not allowed)",
                    _mark(event),
                )
            target = anchors[event.anchor]
            node = _Node("alias", target.tag, _mark(event))
            node.items = [target]
            node.size, node.height = target.size, target.height
        elif isinstance(event, MappingStartEvent | SequenceStartEvent):
            kind = "map" if isinstance(event, MappingStartEvent) else "seq"
            tag = event.tag or (_MAP if kind == "map" else _SEQ)
            stack.append(_Node(kind, str(tag), _mark(event), event.anchor))
            if len(stack) > MAX_DEPTH:
                raise YAMLFailure(
                    f"protocol is not valid YAML: nesting deeper than {MAX_DEPTH} levels",
                    _mark(event),
                )
        elif isinstance(event, CollectionEndEvent):
            node = stack.pop()
            node.size = 1 + sum(child.size for child in node.items)
            node.height = 1 + max((child.height for child in node.items), default=0)
        if node is None:
            continue
        total += node.size if node.kind in ("scalar", "alias") else 1
        if total > MAX_NODES or node.height > MAX_DEPTH:
            raise YAMLFailure(
                f"protocol is not valid YAML: the document (with aliases expanded) has more "
                f"than {MAX_NODES} nodes or {MAX_DEPTH} levels of nesting",
                node.mark,
            )
        if node.anchor is not None:
            anchors[node.anchor] = node
        if stack:
            stack[-1].items.append(node)
        else:
            root = node
    return root


def _to_int(text: str) -> int:
    cleaned = text.replace("_", "")
    try:
        return int(cleaned, 0)
    except ValueError:
        return int(cleaned, 10)


def _to_float(text: str) -> float:
    cleaned = text.replace("_", "").lower()
    specials = {".nan": math.nan, ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}
    return specials[cleaned] if cleaned in specials else float(cleaned)


class _Constructor:
    """Expands the node tree into dicts, lists and scalars, recording positions."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    def build(self, node: _Node, path: Path) -> Any:
        self.loaded.value_marks[path] = node.mark
        node = node.target()
        if node.kind == "scalar":
            return self._scalar(node)
        if node.kind == "seq":
            if node.tag != _SEQ:
                raise YAMLFailure(
                    f"protocol is not valid YAML: tag '{node.tag}' is not allowed", node.mark
                )
            return [self.build(child, (*path, i)) for i, child in enumerate(node.items)]
        if node.tag != _MAP:
            raise YAMLFailure(
                f"protocol is not valid YAML: tag '{node.tag}' is not allowed", node.mark
            )
        return self._mapping(node, path)

    def _scalar(self, node: _Node) -> Any:
        tag, text = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            raise YAMLFailure(f"protocol is not valid YAML: tag '{tag}' is not allowed", node.mark)
        try:
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return text.lower() in ("true", "yes", "on")
            if tag == _TAG + "int":
                return _to_int(text)
            if tag == _TAG + "float":
                return _to_float(text)
        except (ValueError, OverflowError):
            raise YAMLFailure(
                f"protocol is not valid YAML: cannot read {text[:40]!r} as {tag.removeprefix(_TAG)}",
                node.mark,
            ) from None
        return text

    def _mapping(self, node: _Node, path: Path) -> dict[str, Any]:
        pairs = list(zip(node.items[0::2], node.items[1::2], strict=True))
        merged: dict[str, Any] = {}
        for key, value in pairs:
            if key.target().kind == "scalar" and key.target().tag == _MERGE:
                sources = value.target().items if value.target().kind == "seq" else [value]
                for source in sources:
                    if source.target().kind != "map":
                        raise YAMLFailure(
                            "protocol is not valid YAML: '<<' merge value must be a mapping "
                            "or a list of mappings",
                            source.mark,
                        )
                    for name, item in self._mapping(source.target(), path).items():
                        merged.setdefault(name, item)
        result: dict[str, Any] = {}
        for key, value in pairs:
            target = key.target()
            if target.kind != "scalar":
                raise YAMLFailure(
                    "protocol is not valid YAML: mapping keys must be scalars", key.mark
                )
            if target.tag == _MERGE:
                continue
            name = target.value
            if name in result:
                self.loaded.issues.append(
                    Issue(
                        path=_dotted((*path, name)),
                        code="duplicate key",
                        message=f"duplicate key {name!r}; each key may appear only once",
                        line=key.mark.line,
                        column=key.mark.column,
                    )
                )
                continue
            self.loaded.key_marks[(*path, name)] = key.mark
            result[name] = self.build(value, (*path, name))
        for name, item in merged.items():
            result.setdefault(name, item)
        return result


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "protocol"


def load_object(obj: Any) -> Loaded:
    """Copy already-loaded data (a mapping) into plain types, with the same bounds."""
    budget = [MAX_NODES]
    return Loaded(data=_copy(obj, 0, budget, set()))


def _copy(obj: Any, depth: int, budget: list[int], active: set[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise YAMLFailure(f"protocol exceeds {MAX_NODES} nodes or {MAX_DEPTH} levels of nesting")
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    if not isinstance(obj, Mapping | list | tuple):
        raise YAMLFailure(f"protocol contains a value of unsupported type {type(obj).__name__}")
    if id(obj) in active:
        raise YAMLFailure("protocol contains a recursive structure")
    active.add(id(obj))
    try:
        if isinstance(obj, Mapping):
            result: dict[str, Any] = {}
            for key, value in obj.items():
                if not isinstance(key, str):
                    raise YAMLFailure(f"protocol mapping keys must be strings; got {key!r:.40}")
                result[key] = _copy(value, depth + 1, budget, active)
            return result
        return [_copy(item, depth + 1, budget, active) for item in obj]
    finally:
        active.discard(id(obj))
