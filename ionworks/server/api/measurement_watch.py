"""Routes: watching measurements (the official client's ``cell_measurement.watch`` /
``unwatch`` and ``lab.list_watched``).

``POST`` / ``DELETE /cell_measurements/{mid}/watch`` start and stop the calling user's watch of
a measurement (204, idempotent both ways; 404 for a measurement the key cannot read). The user
is the key's own owner, also inside a project shared with it: a watch is personal, so reading
the measurement is enough (a ``Project Viewer`` may watch). A watch ends by itself once the
test ends (an ``end_time`` is set, at creation or by ``PATCH``) and goes with its measurement;
watching a finished measurement is accepted and leaves nothing behind.
``GET /projects/{pid}/lab/watched`` → ``{"measurement_ids": [...]}``: the user's watches in a
project, oldest first.
"""

from __future__ import annotations

from aiohttp import web

from ionworks.server.api import access
from ionworks.server.api.http import OWNER, fail, json_response, read_json
from ionworks.server.api.models import _store
from ionworks.server.db import measurements, watches
from ionworks.server.db.members import VIEWER

__all__ = ["setup"]


def _measurement_id(request: web.Request) -> str:
    """The path's measurement, readable by the key (404 otherwise)."""
    mid = request.match_info["mid"]
    row = access.record_in(request, "measurement", measurements.get, mid, least=VIEWER)
    return str(row["id"])


async def watch(request: web.Request) -> web.Response:
    body = await read_json(request)
    if body:
        shown = ", ".join(access.shown(k) for k in list(body)[:5])
        fail(422, f"watching a measurement takes no fields (an empty JSON object); got {shown}")
    watches.add(_store(request), request[OWNER], _measurement_id(request))
    return web.Response(status=204)


async def unwatch(request: web.Request) -> web.Response:
    watches.remove(_store(request), request[OWNER], _measurement_id(request))
    return web.Response(status=204)


async def list_watched(request: web.Request) -> web.Response:
    if request.query:
        fail(422, f"unknown query parameter(s) {', '.join(map(access.shown, request.query))}")
    project = access.project_in(request, request.match_info["pid"])
    ids = watches.watched(_store(request), request[OWNER], project["id"])
    return json_response({"measurement_ids": ids})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/cell_measurements/{mid}/watch", watch)
    r.add_delete("/cell_measurements/{mid}/watch", unwatch)
    r.add_get("/projects/{pid}/lab/watched", list_watched)
