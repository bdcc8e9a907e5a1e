"""Listing shared by every list endpoint: paging (``limit``/``offset`` within the server's
``max_page_size``), PostgREST-style filters (``eq.``, ``neq.``, ``like.``/``ilike.``, ``in.()``,
``gt.``…) and the filter/sort/page window of in-memory lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import fail
from ionworks.server.state import limits

__all__ = [
    "MAX_OFFSET",
    "OPERATORS",
    "Predicate",
    "list_window",
    "matches",
    "name_matches",
    "page",
    "page_params",
    "predicate",
    "range_test",
]

#: The filter operators (``<op>.<argument>``) :func:`matches` understands.
OPERATORS: Final = frozenset({"eq", "neq", "like", "ilike", "in", "gt", "gte", "lt", "lte"})


def page(items: list[Any], total: int) -> dict[str, Any]:
    return {"items": items, "count": len(items), "total": total}


MAX_OFFSET = 10**9


def page_params(request: web.Request, *, offset_name: str = "offset") -> tuple[int, int]:
    """The request's ``limit`` and offset (``offset_name``). Every list endpoint pages: the
    default and the maximum ``limit`` are the server's ``max_page_size``; more is a 422 that
    names the maximum."""
    maximum = limits(request).max_page_size
    limit = _count_param(request, "limit", maximum)
    if limit > maximum:
        fail(
            422,
            f"query parameter 'limit' must be at most {maximum} (the server's max_page_size), "
            f"got {request.query['limit']}; page through longer lists with '{offset_name}'",
        )
    offset = _count_param(request, offset_name, 0)
    if offset > MAX_OFFSET:
        fail(
            422,
            f"query parameter '{offset_name}' must be at most {MAX_OFFSET}, "
            f"got {request.query[offset_name]}",
        )
    return limit, offset


def _count_param(request: web.Request, name: str, default: int) -> int:
    """A whole-number query parameter (digits only: no sign, spaces or ``_``)."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        fail(422, f"query parameter '{name}' must be a whole number >= 0, got {raw!r}")
    return int(raw) if len(raw) <= 18 else 10**18


Predicate = Callable[[Any], bool]
COMPARE: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def matches(value: Any, pattern: str) -> bool:
    """Supabase-style filter: ``eq.`` ``neq.`` ``ilike.`` ``like.`` ``in.(a,b)`` ``gt.``
    ``gte.`` ``lt.`` ``lte.``; a plain value is an exact match."""
    return predicate(pattern)(value)


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def predicate(pattern: str) -> Predicate:
    """The test of one filter value (see :func:`matches`); a 422 for a LIKE pattern that ends
    with its escape character."""
    op, dot, arg = pattern.partition(".")
    if not dot:
        return lambda value: _as_text(value) == pattern
    if op == "eq":
        return lambda value: _as_text(value) == arg
    if op == "neq":
        return lambda value: _as_text(value) != arg
    if op in ("ilike", "like"):
        try:
            like = _like(arg, ignore_case=op == "ilike")
        except ValueError as exc:  # the client's pattern: a 422, never a 500
            fail(422, str(exc))
        return lambda value: like(_as_text(value))
    if op == "in":
        options = {v.strip().strip('"') for v in arg.strip("()").split(",")}
        return lambda value: _as_text(value) in options
    if op in COMPARE:
        symbol = COMPARE[op]
        return lambda value: value is not None and _compare(_as_text(value), symbol, arg)
    return lambda value: _as_text(value) == pattern


def _like(pattern: str, *, ignore_case: bool) -> Callable[[str], bool]:
    """PostgREST's ``like``/``ilike``, i.e. SQL ``LIKE`` with ``*`` as an alias of ``%``:
    ``*`` and ``%`` match any run of characters, ``_`` exactly one character, ``\\`` makes
    the next character literal; every other character (``[``, ``]``, ``?`` …) matches itself.

    The pattern is split at its runs into fixed-width segments, each found once, left to
    right (leftmost is optimal for fixed widths): no backtracking, whatever the pattern.
    """
    segments: list[list[str | None]] = [[]]  # None: "_", any one character
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise ValueError(
                    f"LIKE pattern {pattern!r} ends with the escape character '\\'; "
                    "write '\\\\' for a literal backslash"
                )
            segments[-1].append(escaped)
        elif char in "*%":
            segments.append([])
        else:
            segments[-1].append(None if char == "_" else char)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    regexes = [
        re.compile("".join("." if c is None else re.escape(c) for c in segment), flags)
        for segment in segments
    ]
    last_width = len(segments[-1])

    def like(text: str) -> bool:
        if len(regexes) == 1:
            return regexes[0].fullmatch(text) is not None
        found = regexes[0].match(text)
        if found is None:
            return False
        position = found.end()
        for middle in regexes[1:-1]:
            found = middle.search(text, position)
            if found is None:
                return False
            position = found.end()
        start = len(text) - last_width
        return start >= position and regexes[-1].fullmatch(text, start) is not None

    return like


def range_test(symbol: str, bound: str) -> Predicate:
    """``created_at_gt=…`` and the like: a plain value, compared as text (ISO timestamps)."""
    return lambda value: _compare(_as_text(value), symbol, bound)


def _compare(value: str, op: str, bound: str) -> bool:
    return {
        ">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound,
    }[op]  # fmt: skip


def name_matches(value: str | None, pattern: str) -> bool:
    """A ``name`` filter: an operator filter (``eq.x``, ``ilike.*x*``, see :func:`matches`), or
    a plain text matched case-insensitively anywhere in the name."""
    op = pattern.partition(".")[0]
    if op in OPERATORS:
        return matches(value, pattern)
    return pattern.lower() in (value or "").lower()


def list_window(
    request: web.Request, items: list[dict[str, Any]], sortable: tuple[str, ...]
) -> dict[str, Any]:
    """Filter (``name`` eq./ilike., ``created_at_gt`` …), sort (``order_by``/``order``) and page
    (``limit``/``offset``, at most the server's ``max_page_size``) ``items`` (given newest
    first) into ``{items, count, total}``."""
    limit, offset = page_params(request)
    q = request.query
    if q.get("name"):
        items = [i for i in items if name_matches(i.get("name"), q["name"])]
    for field in ("created_at", "updated_at"):
        if q.get(f"{field}_gt"):
            items = [i for i in items if (i.get(field) or "") > q[f"{field}_gt"]]
        if q.get(f"{field}_lt"):
            items = [i for i in items if (i.get(field) or "") < q[f"{field}_lt"]]
    order = q.get("order")
    if order not in (None, "", "asc", "desc"):
        fail(422, f"order must be 'asc' or 'desc', got {order!r}")
    order_by = q.get("order_by")
    if order_by:
        if order_by not in sortable:
            fail(422, f"order_by must be one of {', '.join(sortable)}, got {order_by!r}")
        items = sorted(
            items,
            key=lambda i: (i.get(order_by) is None, str(i.get(order_by) or "").lower()),
            reverse=order == "desc",
        )
    elif order == "asc":
        items = items[::-1]
    return page(items[offset : offset + limit], len(items))
