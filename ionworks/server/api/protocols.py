"""Routes: protocol checks (validate, input references) and vendor conversion."""

from __future__ import annotations

import base64
from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.http import fail, json_response, protocol_text, read_json

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


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/protocols/validate", validate_protocol)
    r.add_post("/protocols/input_references", input_references)
    r.add_post("/protocols/convert", convert_protocol)
