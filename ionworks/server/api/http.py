"""HTTP helpers shared by the route modules: exact JSON responses, safe body reading, errors."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable, Set
from typing import Any, Final, NoReturn, TypeVar

import anyio
import anyio.to_thread
from aiohttp import web

from ionworks.server.state import limits

__all__ = [
    "ACTING",
    "OWNER",
    "HTTPError",
    "fail",
    "is_read_only",
    "json_response",
    "owner",
    "read_json",
    "read_only",
]

OWNER = web.RequestKey("owner_id", str)
#: The owner a request acts for inside a project shared with its key (set only by
#: :mod:`ionworks.server.api.access`).
ACTING = web.RequestKey("acting_owner_id", str)
JSON = "application/json"

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])
#: Handlers of POST routes that change nothing (queries with a body, pure conversions): the
#: idempotency middleware neither stores nor replays their responses; a retry asks again.
_READ_ONLY: Final[set[object]] = set()


def read_only(handler: H) -> H:
    """Mark a POST handler as changing nothing (see :func:`is_read_only`)."""
    _READ_ONLY.add(handler)
    return handler


def is_read_only(request: web.Request) -> bool:
    """Whether the request's route is a :func:`read_only` POST."""
    return request.match_info.handler in _READ_ONLY


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json`` (wire.md §1.6)."""
    body = json.dumps(data, allow_nan=False, default=str).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": JSON})


def error_body(status: int, detail: Any, error_code: str | None = None) -> bytes:
    payload: dict[str, Any] = {"detail": detail}
    if error_code:  # a dict detail (e.g. {"message", "existing_id"}) gives its own message
        message = detail.get("message", detail) if isinstance(detail, dict) else detail
        payload = {"error_code": error_code, "message": str(message), "detail": detail}
    return json.dumps(payload, default=str).encode()


class HTTPError(Exception):
    """Abort a request with ``status`` and a JSON body ``{"detail": ...}``."""

    def __init__(
        self, status: int, detail: Any, error_code: str | None = None, *, close: bool = False
    ) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.error_code = error_code
        self.close = close  # end the connection after the response (e.g. a stalled body)

    def body(self) -> bytes:
        return error_body(self.status, self.detail, self.error_code)

    def response(self) -> web.Response:
        headers = {"Content-Type": JSON, **({"Connection": "close"} if self.close else {})}
        return web.Response(status=self.status, body=self.body(), headers=headers)


def fail(status: int, detail: Any, error_code: str | None = None) -> NoReturn:
    """Abort the request with a JSON error body ``{"detail": ...}``."""
    raise HTTPError(status, detail, error_code)


def owner(request: web.Request) -> str:
    """The owner whose records the request reads and writes: its API key's owner, or the owner
    of a project shared with the key once the request has entered it (:mod:`.access`)."""
    return request.get(ACTING) or request[OWNER]


async def read_body(request: web.Request) -> bytes:
    """The request body, decompressed, at most the server's ``max_body_bytes`` (413 over)."""
    bounds = limits(request)
    limit, timeout = bounds.max_body_bytes, bounds.read_timeout_seconds
    try:
        with anyio.fail_after(timeout):
            raw = await request.read()  # aiohttp stops at client_max_size (the same limit)
    except web.HTTPRequestEntityTooLarge:
        fail(413, f"request body exceeds the limit of {limit} bytes (max_body_bytes)")
    except TimeoutError:
        message = f"the request body did not arrive within {timeout:g} s (read_timeout_seconds)"
        raise HTTPError(408, message, close=True) from None
    encoding = request.headers.get("Content-Encoding", "").lower().strip()
    if encoding in ("", "identity") or raw[:2] != b"\x1f\x8b":
        # aiohttp's parser already inflates gzip request bodies (bounded by client_max_size)
        return raw
    if encoding != "gzip":
        fail(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        fail(400, f"request body is not valid gzip: {exc}")
    if len(out) > limit or decoder.unconsumed_tail:
        fail(413, f"decompressed request body exceeds the limit of {limit} bytes (max_body_bytes)")
    return out


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


INT64: Final = (-(2**63), 2**63 - 1)
#: A ``\\uD800``–``\\uDFFF`` escape: only then can a parsed string hold a lone surrogate.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
#: Bodies up to this size are parsed on the event loop; larger ones in a worker thread.
_INLINE_PARSE: Final = 256 * 1024


def _where(path: tuple[Any, ...]) -> str:
    text = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return text if len(text) <= 120 else text[:117] + "..."


def _check_tree(data: Any, max_depth: int, surrogates: bool) -> None:
    """Depth, int64 and (if the body has surrogate escapes) UTF-8 checks of a parsed body."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict | list):
            if len(path) >= max_depth:
                fail(400, f"request body nests deeper than {max_depth} levels at {_where(path)}")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if surrogates and isinstance(key, str) and _SURROGATE.search(key):
                    fail(
                        400,
                        f"request body has an invalid UTF-8 key (a lone surrogate) at {_where(path)}",
                    )
                stack.append((value, (*path, key)))
        elif isinstance(node, int) and not isinstance(node, bool):
            if not INT64[0] <= node <= INT64[1]:
                fail(422, f"{_where(path)}: integer {node} is outside the 64-bit range")
        elif surrogates and isinstance(node, str) and _SURROGATE.search(node):
            fail(400, f"{_where(path)}: string is not valid UTF-8 (a lone surrogate escape)")


def _parse_json(raw: bytes, max_depth: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(400, f"request body is not UTF-8: {exc}")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except _NonFinite as exc:
        fail(422, f"request body contains {exc}; send null or a finite number instead")
    except RecursionError:
        fail(400, f"request body nests deeper than {max_depth} levels")
    except ValueError as exc:
        fail(400, f"request body is not valid JSON: {exc}")
    _check_tree(data, max_depth, _SURROGATE_ESCAPE.search(raw) is not None)
    return data


async def read_json(request: web.Request, *, kind: type = dict) -> Any:
    """The request's JSON body (gzip accepted), checked against the server's limits (size,
    nesting depth, 64-bit integers, valid UTF-8); 400/413/422 with a clear message."""
    raw = await read_body(request)
    depth = limits(request).max_json_depth
    if not raw:
        data: Any = {}
    elif len(raw) <= _INLINE_PARSE:
        data = _parse_json(raw, depth)
    else:
        data = await anyio.to_thread.run_sync(_parse_json, raw, depth)
    if not isinstance(data, kind):
        fail(422, f"request body must be a JSON {'object' if kind is dict else 'array'}")
    return data


def protocol_text(request: web.Request, body: dict[str, Any], key: str = "protocol") -> str:
    """``body[key]`` as UCP YAML text within the server's ``max_protocol_bytes`` (parse it off
    the event loop: a large protocol takes seconds)."""
    text = body.get(key)
    if not isinstance(text, str) or not text:
        fail(422, f"'{key}' must be a non-empty UCP YAML string")
    limit = limits(request).max_protocol_bytes
    size = len(text.encode("utf-8"))
    if size > limit:
        fail(
            413,
            f"'{key}' has {size} bytes; protocols are limited to {limit} bytes (max_protocol_bytes)",
        )
    return text


def require_str(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        fail(422, f"'{key}' must be a non-empty string")
    return value


def check_editable(body: dict[str, Any], read_only: Set[str], what: str) -> None:
    """Refuse read-only fields (422 naming them) and a ``name`` that is not a non-empty string."""
    bad = sorted(read_only & set(body))
    if bad:
        fail(422, f"{what} field(s) cannot be set: {', '.join(bad)}")
    if "name" in body:
        require_str(body, "name")
