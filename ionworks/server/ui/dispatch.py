"""Reads of the JSON API from inside a web-page request, as the page's owner.

A page never reads the database on its own: it asks the API's own GET handlers (resolved by
the application's router, run with the session's owner in place of an API key), so every page
sees exactly what the API shows that key — its own records and the projects shared with it,
another key's ids a 404 — with the same bounds and errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlencode

from aiohttp import web

from ionworks.server.api.http import HTTPError

__all__ = ["READABLE", "api_get", "api_json", "api_path", "check_id", "inner_request", "run"]

#: The API paths the pages (and their scripts, through ``/ui/api/``) may read.
READABLE: Final = (
    "/projects",
    "/simulations",
    "/experiment_templates/",
    "/jobs",
    "/cell_measurements",
    "/pipelines",
    "/simple_pipelines",
)
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def check_id(value: str, what: str) -> str:
    """A record id from a page's path: letters, digits and ``_.:-`` up to 128 characters
    (anything else cannot be an id: a 404 before any lookup)."""
    if not _ID.fullmatch(value):
        raise HTTPError(404, f"{what} not found")
    return value


def api_path(*segments: str, **query: Any) -> str:
    """An API path from segments (each percent-encoded) and query parameters."""
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    params = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + urlencode(params) if params else "")


#: The only state-changing API route the pages call (with the session's CSRF token checked).
WRITABLE: Final = frozenset({("POST", "/jobs/{id}/cancel")})


def inner_request(
    request: web.Request,
    path: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> web.Request:
    """The API request ``method path`` (a path and query) made for the page's owner; made
    before the page's own body is read (aiohttp cannot copy a request after that)."""
    if not path.startswith(READABLE) or len(path) > 2048:
        raise HTTPError(404, "not found")
    return request.clone(method=method, rel_url=path, headers=headers or {})


async def run(request: web.Request, inner: web.Request) -> web.StreamResponse:
    """The API's answer to ``inner``: its handler resolved by the application's router.
    Raises :class:`HTTPError` for the API's errors and for routes the pages may not use."""
    match = await request.app.router.resolve(inner)
    if match.http_exception is not None or match.route.resource is None:
        raise HTTPError(404, "not found")
    route = (match.route.method, match.route.resource.canonical)
    if not route[1].startswith(READABLE) or (route[0] != "GET" and route not in WRITABLE):
        raise HTTPError(404, "not found")
    match.add_app(request.app)
    match.freeze()
    inner._match_info = match  # what aiohttp's own dispatch does before calling a handler
    try:
        return await match.handler(inner)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        raise HTTPError(exc.status_code, exc.reason) from None


async def api_get(request: web.Request, path: str) -> web.StreamResponse:
    """The API's answer to ``GET path`` for the page's owner (see :func:`run`)."""
    return await run(request, inner_request(request, path))


async def api_json(request: web.Request, *segments: str, **query: Any) -> Any:
    """The decoded JSON answer of ``GET /<segments>?<query>`` (see :func:`api_get`)."""
    response = await api_get(request, api_path(*segments, **query))
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        raise HTTPError(502, "the API answered without a JSON body")
    if response.content_type == "text/plain":
        return body.decode("utf-8", "replace")
    return json.loads(body)
