"""HTTP helpers shared by the route modules: exact JSON responses, safe body reading, errors."""

from __future__ import annotations

import json
import zlib
from typing import Any, NoReturn

from aiohttp import web

__all__ = ["MAX_BODY", "OWNER", "HTTPError", "fail", "json_response", "owner", "read_json"]

MAX_BODY = 64 * 1024 * 1024  # decompressed request bodies
OWNER = web.RequestKey("owner_id", str)
JSON = "application/json"


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json`` (wire.md §1.6)."""
    body = json.dumps(data, allow_nan=False, default=str).encode()
    return web.Response(body=body, status=status, headers={"Content-Type": JSON})


def error_body(status: int, detail: Any, error_code: str | None = None) -> bytes:
    payload: dict[str, Any] = {"detail": detail}
    if error_code:
        payload = {"error_code": error_code, "message": str(detail), "detail": detail}
    return json.dumps(payload, default=str).encode()


class HTTPError(Exception):
    """Abort a request with ``status`` and a JSON body ``{"detail": ...}``."""

    def __init__(self, status: int, detail: Any, error_code: str | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.error_code = error_code

    def body(self) -> bytes:
        return error_body(self.status, self.detail, self.error_code)

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=self.body(), headers={"Content-Type": JSON})


def fail(status: int, detail: Any, error_code: str | None = None) -> NoReturn:
    """Abort the request with a JSON error body ``{"detail": ...}``."""
    raise HTTPError(status, detail, error_code)


def owner(request: web.Request) -> str:
    return request[OWNER]


async def read_body(request: web.Request) -> bytes:
    raw = await request.read()
    encoding = request.headers.get("Content-Encoding", "").lower().strip()
    if encoding in ("", "identity") or raw[:2] != b"\x1f\x8b":
        # aiohttp's parser already inflates gzip request bodies (bounded by client_max_size)
        return raw
    if encoding != "gzip":
        fail(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(raw, MAX_BODY + 1)
    except zlib.error as exc:
        fail(400, f"request body is not valid gzip: {exc}")
    if len(out) > MAX_BODY or decoder.unconsumed_tail:
        fail(413, f"decompressed request body exceeds {MAX_BODY} bytes")
    return out


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


async def read_json(request: web.Request, *, kind: type = dict) -> Any:
    """The request's JSON body (gzip accepted); 400/422 with a clear message otherwise."""
    raw = await read_body(request)
    if not raw:
        data: Any = {}
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(400, f"request body is not UTF-8: {exc}")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except _NonFinite as exc:
            fail(422, f"request body contains {exc}; send null or a finite number instead")
        except ValueError as exc:
            fail(400, f"request body is not valid JSON: {exc}")
    if not isinstance(data, kind):
        fail(422, f"request body must be a JSON {'object' if kind is dict else 'array'}")
    return data


def require_str(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        fail(422, f"'{key}' must be a non-empty string")
    return value


def int_param(
    request: web.Request, name: str, default: int | None, *, lo: int = 0, hi: int = 10_000
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        fail(422, f"query parameter '{name}' must be an integer, got {raw!r}")
    if not lo <= value <= hi:
        fail(422, f"query parameter '{name}' must be between {lo} and {hi}, got {value}")
    return value
