"""Bounded reading of ``multipart/form-data`` request bodies: text fields and files."""

from __future__ import annotations

from typing import Final

import anyio
import attrs
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ionworks.server.api.http import HTTPError, fail
from ionworks.server.state import limits

__all__ = ["Form", "read_form"]

#: Parts one form may have.
MAX_PARTS: Final = 16
#: Bytes of one text field.
MAX_FIELD_BYTES: Final = 64 * 1024


@attrs.frozen
class Form:
    """A form's text ``fields`` and ``files`` (field → (file name, bytes))."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


async def _collect(part: BodyPartReader, limit: int, limit_name: str, what: str) -> bytes:
    received = bytearray()
    while True:
        chunk = await part.read_chunk(64 * 1024)
        if not chunk:
            return bytes(received)
        received.extend(chunk)
        if len(received) > limit:
            fail(413, f"{what} exceeds the limit of {limit} bytes ({limit_name})")


async def _parts(request: web.Request, file_limit: int, limit_name: str) -> Form:
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    reader = await request.multipart()
    for _ in range(MAX_PARTS + 1):
        part = await reader.next()
        if part is None:
            return Form(fields, files)
        if not isinstance(part, BodyPartReader) or not part.name:
            fail(422, "every form part must be a named field (no nested multipart bodies)")
        if part.name in fields or part.name in files:
            fail(422, f"the form has the field {part.name!r} twice")
        if part.filename is not None:
            data = await _collect(part, file_limit, limit_name, f"the file {part.name!r}")
            files[part.name] = (part.filename, data)
            continue
        raw = await _collect(part, MAX_FIELD_BYTES, "form fields", f"form field {part.name!r}")
        try:
            fields[part.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            fail(400, f"form field {part.name!r} is not UTF-8 text")
    fail(422, f"the form has more than {MAX_PARTS} parts")


async def read_form(request: web.Request) -> Form:
    """A ``multipart/form-data`` body: each file at most the server's ``max_body_bytes``, each
    text field at most :data:`MAX_FIELD_BYTES`, :data:`MAX_PARTS` parts, all within the
    server's ``read_timeout_seconds`` (415, 413, 422, 408 or 400 otherwise)."""
    if request.content_type != "multipart/form-data":
        fail(415, f"send multipart/form-data (got {request.content_type or 'no content type'})")
    bounds = limits(request)
    try:
        with anyio.fail_after(bounds.read_timeout_seconds):
            return await _parts(request, bounds.max_body_bytes, "max_body_bytes")
    except TimeoutError:
        message = f"the request body did not arrive within {bounds.read_timeout_seconds:g} s"
        raise HTTPError(408, message, close=True) from None
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:  # malformed
        fail(400, f"the multipart body could not be read: {exc}")
