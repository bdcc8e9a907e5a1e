"""Parsing and validation of UCP documents (ucp.md §1-§10).

:func:`parse` turns YAML text (or an already-loaded mapping) into a :class:`~.model.Protocol`
and raises :class:`~.errors.UCPError` listing *every* problem found in one pass;
:func:`validate` wraps it into the server's ``{"valid": ..., "error": ...}`` answer and
never raises.

Item classification (both syntaxes, each item on its own):

1. a mapping with a ``direction`` key is a **flat step**;
2. a mapping with a ``steps`` key is a **flat block** (``block``/``name``, ``repeat``);
3. a one-key mapping whose value is a list, or a mapping with ``steps``, is a **keyed
   block** named by the key (any name, including a step type such as ``Discharge``, as
   in the Python-API docs' convert example);
4. a one-key mapping whose key is a step type (exact case) is a **keyed step**;
5. anything else is rejected (``unknown step`` / ``steps``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._fields import Ctx, Loc, describe, read_text
from ._sections import parse_global, parse_safety
from ._steps import parse_step, step_label
from ._yaml import Loaded, YAMLFailure, load_object, load_text
from .checks import semantic_issues
from .errors import Issue, UCPError
from .model import (
    Block,
    Item,
    Protocol,
    Value,
)
from .vocab import MAX_BLOCK_DEPTH, STEP_KINDS, Constraint

__all__ = ["load", "parse", "validate"]

_TOP_KEYS = ("global", "safety_limits", "steps")
_SPECIAL_TARGETS = ("end", "next")
_INTEGER = re.compile(r"\s*\d+\s*")


def load(protocol: object) -> Loaded:
    """Load text (``str``/``bytes``) or copy a mapping; raises :class:`UCPError`."""
    try:
        if isinstance(protocol, bytes | bytearray):
            protocol = bytes(protocol).decode("utf-8")
        if isinstance(protocol, str):
            return load_text(protocol)
        if isinstance(protocol, Mapping):
            return load_object(protocol)
    except UnicodeDecodeError as error:
        raise UCPError(
            [Issue("protocol", "yaml", f"protocol is not valid YAML: {error}")]
        ) from None
    except YAMLFailure as failure:
        mark = failure.mark
        raise UCPError(
            [
                Issue(
                    "protocol",
                    failure.code,
                    failure.message,
                    mark.line if mark else None,
                    mark.column if mark else None,
                )
            ]
        ) from None
    raise UCPError(
        [
            Issue(
                "protocol",
                "mapping",
                f"protocol must be YAML text or a mapping with a 'steps' key; got {type(protocol).__name__}",
            )
        ]
    )


def parse(protocol: str | Mapping[str, Any]) -> Protocol:
    """Parse and validate a protocol; raises :class:`UCPError` with every issue found.

    Well-formed but unresolved ``input["…"]`` references are allowed (see
    :func:`~.checks.resolve_inputs`).
    """
    loaded = load(protocol)
    ctx = Ctx(loaded)
    result = _document(ctx, loaded.data)
    issues = list(ctx.issues)
    if result is not None:
        known = {(issue.path, issue.code, issue.message) for issue in issues}
        issues += [i for i in semantic_issues(result) if (i.path, i.code, i.message) not in known]
    if issues or result is None:
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.column or 0))
        raise UCPError(issues)
    return result


def validate(protocol: object) -> dict[str, Any]:
    """``{"valid": True, "error": None}`` or ``{"valid": False, "error": message}``.

    Never raises, whatever the input.
    """
    try:
        parse(protocol)  # type: ignore[arg-type]
    except UCPError as error:
        return {"valid": False, "error": str(error)}
    except RecursionError:
        return {
            "valid": False,
            "error": "protocol is not valid YAML: document is nested too deeply",
        }
    except Exception as error:  # never raise from validate
        return {"valid": False, "error": f"protocol could not be validated: {type(error).__name__}"}
    return {"valid": True, "error": None}


def _document(ctx: Ctx, data: Any) -> Protocol | None:
    root = Loc((), "", "protocol")
    if not isinstance(data, Mapping):
        got = "an empty document" if data is None else type(data).__name__
        ctx.error(
            root, "mapping", f"protocol must parse to a mapping with a 'steps' key; got {got}"
        )
        return None
    ctx.check_keys(data, root, _TOP_KEYS, "unknown key")
    settings = parse_global(ctx, data.get("global"), Loc(("global",), "global", "global"))
    safety = parse_safety(
        ctx, data.get("safety_limits"), Loc(("safety_limits",), "safety_limits", "safety_limits")
    )
    steps_loc = Loc(("steps",), "steps", "protocol", "steps")
    raw_steps = data.get("steps")
    items: tuple[Item, ...] = ()
    if "steps" not in data:
        ctx.error(root, "steps", "missing 'steps' (a list of step items)")
    elif not isinstance(raw_steps, list) or not raw_steps:
        got = "an empty list" if raw_steps == [] else describe(raw_steps)
        ctx.error(steps_loc, "steps", f"'steps' must be a non-empty list of step items; got {got}")
    else:
        items = _items(ctx, raw_steps, ("steps",), "steps", 0)
    for target, origin in ctx.gotos:
        if target not in ctx.labels and target.lower() not in _SPECIAL_TARGETS:
            ctx.issues.append(
                origin.issue(
                    "goto",
                    f"unknown goto target {target!r}; expected a step label, a block name, "
                    "'End' or 'next'",
                )
            )
    return Protocol(items, settings, safety)


def _items(
    ctx: Ctx, raw: list[Any], data: tuple[str | int, ...], display: str, depth: int
) -> tuple[Item, ...]:
    parsed = (_item(ctx, item, (*data, i), f"{display}[{i}]", depth) for i, item in enumerate(raw))
    return tuple(item for item in parsed if item is not None)


def _item(ctx: Ctx, raw: Any, data: tuple[str | int, ...], display: str, depth: int) -> Item | None:
    here = Loc(data, display, display)
    if not isinstance(raw, Mapping):
        ctx.error(here, "steps", f"step item must be a mapping; got {describe(raw)}")
        return None
    if "direction" in raw:
        return _flat_step(ctx, raw, data, display)
    if "steps" in raw:
        name = raw.get("block", raw.get("name"))
        named = isinstance(name, str) and name.strip()
        body_loc = Loc(
            data,
            f"{display}.{name.strip()}" if named else display,
            f"{display} block {name.strip()!r}" if named else f"{display} block",
        )
        allowed = ("block", "name", "repeat", "steps", "note")
        ctx.check_keys(raw, body_loc, allowed, "unknown key")
        return _block(ctx, name, raw, body_loc, (*data, "steps"), depth)
    if len(raw) != 1:
        keys = ", ".join(repr(key) for key in raw) or "none"
        ctx.error(
            here,
            "steps",
            "step item must have exactly one key (a step type or a block name) or a "
            f"'direction' field; got keys {keys}",
        )
        return None
    key, body = next(iter(raw.items()))
    if isinstance(body, list) or (isinstance(body, Mapping) and "steps" in body):
        loc = Loc((*data, key), f"{display}.{key}", f"{display} block {key!r}")
        if isinstance(body, list):
            return _block(ctx, key, {"steps": body}, loc, (*data, key), depth)
        ctx.check_keys(body, loc, ("repeat", "steps", "note"), "unknown key")
        return _block(ctx, key, body, loc, (*data, key, "steps"), depth)
    if key in STEP_KINDS:
        return _keyed_step(ctx, key, body, data, display)
    hint = next((kind for kind in STEP_KINDS if kind.lower() == key.lower()), None)
    ctx.error(
        Loc((*data, key), f"{display}.{key}", display, ""),
        "unknown step",
        f"unknown step type {key!r}; expected one of {', '.join(STEP_KINDS)}, or a block "
        "(a name with a list of steps)"
        + (f"; step types are case-sensitive: did you mean {hint!r}?" if hint else ""),
        key=True,
    )
    return None


def _subject(display: str, kind: str, label: str | None) -> str:
    return f"{display} {label!r} ({kind})" if label else f"{display} {kind!r}"


def _keyed_step(
    ctx: Ctx, kind: str, body: Any, data: tuple[str | int, ...], display: str
) -> Item | None:
    path = f"{display}.{kind}"
    params = {} if body is None else body
    label = step_label(params) if isinstance(params, Mapping) else None
    loc = Loc((*data, kind), path, _subject(display, kind, label))
    if not isinstance(params, Mapping):
        ctx.error(
            loc, "steps", f"parameters of a {kind} step must be a mapping; got {describe(body)}"
        )
        return None
    return parse_step(ctx, kind, params, loc, path)


def _flat_step(
    ctx: Ctx, raw: Mapping[str, Any], data: tuple[str | int, ...], display: str
) -> Item | None:
    direction = raw["direction"]
    kind = None
    if isinstance(direction, str):
        kind = next(
            (k for k in STEP_KINDS if k.lower() == " ".join(direction.lower().split())), None
        )
    label = step_label(raw)
    if kind is None:
        loc = Loc((*data, "direction"), f"{display}.direction", display, "direction")
        shown = direction if isinstance(direction, str) else describe(direction)
        ctx.error(
            loc,
            "unknown step",
            f"unknown step type {shown!r}; expected one of {', '.join(STEP_KINDS)}",
        )
        return None
    params = {key: value for key, value in raw.items() if key != "direction"}
    path = f"{display}.{kind}"
    return parse_step(ctx, kind, params, Loc(data, path, _subject(display, kind, label)), path)


def _block(
    ctx: Ctx,
    name: Any,
    body: Mapping[str, Any],
    loc: Loc,
    items_data: tuple[str | int, ...],
    depth: int,
) -> Block | None:
    if name is not None:
        name = read_text(ctx, name, loc, "steps", "block name")
        if name is not None:
            ctx.add_label(name, loc, key=True)
    if depth >= MAX_BLOCK_DEPTH:
        ctx.error(loc, "repeat", f"blocks are nested deeper than {MAX_BLOCK_DEPTH} levels")
        return None
    repeat = _repeat(ctx, body.get("repeat", 1), loc.key("repeat"))
    raw_items = body.get("steps")
    if not isinstance(raw_items, list) or not raw_items:
        got = "an empty list" if raw_items == [] else describe(raw_items)
        ctx.error(loc.key("steps"), "steps", f"a block needs a non-empty list of steps; got {got}")
        return None
    items = _items(ctx, raw_items, items_data, f"{loc.display}.steps", depth + 1)
    note = body.get("note")
    if repeat is None:
        return None
    return Block(
        name, repeat, items, loc.display, None if note is None else str(note), ctx.origin(loc)
    )


def _repeat(ctx: Ctx, raw: Any, loc: Loc) -> Value | None:
    if isinstance(raw, float) or (
        isinstance(raw, str) and "input" not in raw and not _INTEGER.fullmatch(raw)
    ):
        ctx.error(
            loc, "repeat", f"repeat count must be an integer from 1 to 10000; got {describe(raw)}"
        )
        return None
    return ctx.value(raw, loc, Constraint.REPEAT, "repeat")
