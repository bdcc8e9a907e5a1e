"""``/ui/static/<name>``: the pages' scripts and styles, from a fixed list of files shipped in
the package (a name not on the list is a 404; nothing from the request reaches a path)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.http import HTTPError
from ionworks.server.ui.auth import data, public
from ionworks.server.ui.dispatch import api_get

__all__ = ["FILES", "routes"]

FOLDER: Final = Path(__file__).parent / "static"
FILES: Final = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "ui.js": "text/javascript",
    "ui.css": "text/css",
}


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    media_type = FILES.get(name)
    if media_type is None:
        raise HTTPError(404, "no such file")
    body = await anyio.to_thread.run_sync((FOLDER / name).read_bytes)
    return web.Response(body=body, headers={"Content-Type": f"{media_type}; charset=utf-8"})


async def api_proxy(request: web.Request) -> web.StreamResponse:
    """``GET /ui/api/<path>``: the API's GET answer for the session's owner (the pages'
    scripts poll statuses this way; download links point here)."""
    path = "/" + request.match_info["path"]
    query = request.rel_url.raw_query_string
    response = await api_get(request, path + ("?" + query if query else ""))
    if not isinstance(response, web.FileResponse):
        response.headers.setdefault("Content-Disposition", "attachment")
    return response


def routes(app: web.Application) -> None:
    app.router.add_get("/ui/static/{name}", public(static_file))
    app.router.add_get("/ui/api/{path:.+}", data(api_proxy))
