"""Routes: protocol checks (validate, input references) and vendor conversion."""

from __future__ import annotations

from aiohttp import web

from ionworks.server.http import fail, json_response, read_json

__all__ = ["setup"]


async def _protocol_text(request: web.Request) -> str:
    body = await read_json(request)
    protocol = body.get("protocol")
    if not isinstance(protocol, str):
        fail(422, "'protocol' must be a UCP YAML string")
    return protocol


async def validate_protocol(request: web.Request) -> web.Response:
    from ionworks import ucp

    return json_response(ucp.validate(await _protocol_text(request)))


async def input_references(request: web.Request) -> web.Response:
    from ionworks import ucp

    return json_response(ucp.find_input_references(await _protocol_text(request)))


async def convert_protocol(request: web.Request) -> web.Response:
    await read_json(request)
    fail(501, "protocol conversion to vendor formats is not implemented yet in the local server")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/protocols/validate", validate_protocol)
    r.add_post("/protocols/input_references", input_references)
    r.add_post("/protocols/convert", convert_protocol)
