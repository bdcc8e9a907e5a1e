"""Safe HTML building for the web pages: every value is escaped unless it is :class:`Safe`.

Pages are built from :func:`el` calls (tag and attribute names come from this package's code,
never from a request); text and attribute values are escaped with :func:`html.escape`. Data
for the scripts travels in ``<script type="application/json">`` blocks (:func:`json_block`),
which the browser never executes and in which ``<``, ``>`` and ``&`` are escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode

from ionworks.wire.jsonsafe import json_safe

__all__ = ["Safe", "el", "esc", "fmt", "json_block", "table", "url"]

VOID: Final = frozenset({"meta", "link", "input", "br", "img"})


class Safe(str):
    """HTML that is already escaped (built by :func:`el`)."""

    __slots__ = ()


def esc(value: Any) -> str:
    """``value`` as escaped text (``Safe`` values pass through)."""
    if isinstance(value, Safe):
        return value
    return html.escape("" if value is None else str(value), quote=True)


def _children(children: Iterable[Any]) -> Iterable[str]:
    for child in children:
        if child is None:
            continue
        if isinstance(child, str | int | float):
            yield esc(child)
        else:
            yield from _children(child)


def el(tag: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Safe:
    """``<tag attrs>children</tag>``: attribute values and text escaped; ``None`` and
    ``False`` attributes left out, ``True`` ones written bare."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{esc(value)}"')
    head = "<" + " ".join(parts) + ">"
    if tag in VOID:
        return Safe(head)
    return Safe(head + "".join(_children(children)) + f"</{tag}>")


def url(*segments: str, **query: Any) -> str:
    """``/ui/<segments>`` with each segment percent-encoded (a ``/`` in an id stays inside
    its segment) and the query encoded; ``None`` query values are left out."""
    path = "/ui/" + "/".join(quote(str(s), safe="") for s in segments)
    params = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + urlencode(params) if params else "")


def fmt(value: Any) -> str:
    """A value for a table cell: numbers to 6 significant digits, containers as JSON."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, allow_nan=True)
    return str(value)


def json_block(block_id: str, data: Any) -> Safe:
    """Data for the page's script: a JSON ``<script type="application/json">`` block."""
    text = json.dumps(json_safe(data), allow_nan=False, default=str)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return Safe(f'<script type="application/json" id="{esc(block_id)}">{text}</script>')


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    table_id: str | None = None,
    sortable: bool = False,
) -> Safe:
    """A table; cells that are :class:`Safe` (links) are kept, others shown with :func:`fmt`."""
    head = el("tr", None, [el("th", None, h) for h in headers])
    body = [
        el("tr", None, [el("td", None, c if isinstance(c, Safe) else fmt(c)) for c in row])
        for row in rows
    ]
    attrs = {"id": table_id, "class": "sortable" if sortable else None}
    table_html = el("table", attrs, el("thead", None, head), el("tbody", None, body))
    return el("div", {"class": "scroll"}, table_html)  # wide tables scroll, the page does not
