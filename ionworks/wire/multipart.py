"""``multipart/mixed`` bodies (RFC 2046) of named parts sized by Content-Length.

Our local server answers ``GET /simulations/{id}/result`` with one (metrics, time series and
steps). Both sides build/parse whole bodies in memory: aiohttp's streaming MultipartWriter
and MultipartReader cost more than the two downloads the bundle replaces.
"""

from __future__ import annotations

import re

__all__ = ["build", "parse"]

Part = tuple[str, bytes]  # (content type, body)
_PARAM = re.compile(r';\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))')


def param(header: str, key: str) -> str | None:
    """A parameter of a header value, e.g. ``boundary`` of a Content-Type."""
    for match in _PARAM.finditer(header):
        if match.group(1).lower() == key:
            return match.group(2) if match.group(2) is not None else match.group(3)
    return None


def build(boundary: str, parts: list[tuple[str, str, bytes]]) -> bytes:
    """The body for ``(name, content type, bytes)`` parts."""
    chunks = []
    for name, media_type, body in parts:
        head = (
            f"--{boundary}\r\nContent-Type: {media_type}\r\nContent-Length: {len(body)}\r\n"
            f'Content-Disposition: inline; name="{name}"\r\n\r\n'
        )
        chunks += [head.encode(), body, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


def parse(body: bytes, content_type: str) -> dict[str, Part]:
    """``{name: (content type, bytes)}``; raises ValueError on a malformed body."""
    boundary = param(content_type, "boundary")
    if not content_type.lower().startswith("multipart/") or not boundary:
        raise ValueError(f"not a multipart body (Content-Type {content_type!r})")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    if not body.startswith(delimiter[2:]):
        raise ValueError("the body does not start with the boundary")
    parts: dict[str, Part] = {}
    pos = len(delimiter) - 2
    while not body.startswith(b"--", pos):
        if not body.startswith(b"\r\n", pos):
            raise ValueError(f"expected CRLF after the boundary at byte {pos}")
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise ValueError(f"part headers at byte {pos} do not end")
        headers = {}
        for line in body[pos + 2 : head_end].decode("latin-1").split("\r\n"):
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed part header {line!r}")
            headers[key.strip().lower()] = value.strip()
        start = head_end + 4
        length = headers.get("content-length")
        end = start + int(length) if length is not None else body.find(delimiter, start)
        if end < start or body[end : end + len(delimiter)] != delimiter:
            raise ValueError(f"part at byte {start} is not followed by the boundary")
        name = param(headers.get("content-disposition", ""), "name")
        if not name:
            raise ValueError("a part has no name in its Content-Disposition")
        parts[name] = (headers.get("content-type", ""), body[start:end])
        pos = end + len(delimiter)
    return parts
