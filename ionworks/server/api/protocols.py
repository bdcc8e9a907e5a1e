"""Routes: protocol checks (validate, input references), parsing a protocol file, and vendor
conversion."""

from __future__ import annotations

import base64
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.forms import read_form
from ionworks.server.api.http import fail, json_response, protocol_text, read_json, read_only
from ionworks.server.services.protocol_files import ProtocolFileError, parse_file
from ionworks.server.state import limits

__all__ = ["setup"]


async def _protocol_text(request: web.Request) -> str:
    return protocol_text(request, await read_json(request))


async def validate_protocol(request: web.Request) -> web.Response:
    from ionworks import ucp

    text = await _protocol_text(request)
    return json_response(await anyio.to_thread.run_sync(ucp.validate, text))


async def input_references(request: web.Request) -> web.Response:
    from ionworks import ucp

    text = await _protocol_text(request)
    return json_response(await anyio.to_thread.run_sync(ucp.find_input_references, text))


def _convert(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    from ionworks.ucp.export import SDX_MESSAGE, TARGETS, ExportError, check_stem, export

    protocol = body.get("protocol")
    if not isinstance(protocol, str | dict):
        fail(422, "'protocol' must be a UCP YAML string or a UCP mapping")
    if isinstance(protocol, str):
        protocol_text(request, body)
    target = body.get("target")
    if target not in TARGETS:
        fail(422, f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if target == "arbin_sdx":
        fail(422, SDX_MESSAGE)
    stem = body.get("filename_stem", "protocol")
    try:
        check_stem(stem)
    except ValueError as exc:
        fail(422, str(exc))
    capacity = body.get("nominal_capacity_ah")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int | float) or not capacity > 0
    ):
        fail(422, f"'nominal_capacity_ah' must be a positive number, got {capacity!r}")
    drive_cycles = body.get("drive_cycles")
    if drive_cycles is not None and not isinstance(drive_cycles, dict):
        fail(422, "'drive_cycles' must be an object mapping names to samples")
    verify = body.get("verify", False)
    if not isinstance(verify, bool):
        fail(422, "'verify' must be a boolean")
    try:
        result = export(
            protocol,
            target,
            drive_cycles=drive_cycles,
            filename_stem=stem,
            nominal_capacity_ah=capacity,
            verify=verify,
        )
    except ExportError as exc:
        fail(422, str(exc))
    return {
        "target": result.target,
        "primary": {
            "filename": result.primary_filename,
            "content_base64": base64.b64encode(result.primary_bytes).decode("ascii"),
            "media_type": result.media_type,
        },
        "assets": [
            {"filename": name, "content_base64": base64.b64encode(data).decode("ascii")}
            for name, data in result.assets
        ],
    }


async def convert_protocol(request: web.Request) -> web.Response:
    """``POST /protocols/convert`` (wire.md §9.3): the vendor file(s) as base64 in JSON."""
    body = await read_json(request)
    return json_response(await anyio.to_thread.run_sync(_convert, request, body))


async def _uploaded_file(request: web.Request) -> tuple[str, bytes]:
    """The form's ``file`` (its file name and bytes), at most ``max_protocol_bytes``."""
    form = await read_form(request)
    if "file" in form.files:
        filename, data = form.files["file"]
    elif "file" in form.fields:  # sent as a plain field: its text is the file
        filename, data = "protocol", form.fields["file"].encode()
    else:
        fail(422, "the form has no field 'file' (the protocol file)")
    limit = limits(request).max_protocol_bytes
    if len(data) > limit:
        fail(413, f"the file exceeds the limit of {limit} bytes (max_protocol_bytes)")
    return filename or "protocol", data


async def parse_protocol_file(request: web.Request) -> web.Response:
    """``POST /protocols/parse`` (wire.md §9.2): a UCP file → ``ParsedProtocol`` (nothing is
    saved); a vendor cycler file → 422 naming the formats this server parses."""
    filename, data = await _uploaded_file(request)
    try:
        parsed = await anyio.to_thread.run_sync(parse_file, filename, data)
    except ProtocolFileError as exc:
        fail(422, str(exc))
    return json_response(parsed)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/protocols/parse", read_only(parse_protocol_file))
    r.add_post("/protocols/validate", read_only(validate_protocol))
    r.add_post("/protocols/input_references", read_only(input_references))
    r.add_post("/protocols/convert", read_only(convert_protocol))
