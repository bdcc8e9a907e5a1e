"""Routes: steps and cycles of a time series measurement (wire.md §10.1) —
``GET /cell_measurements/{mid}/steps_and_cycles`` → ``{"steps": {col: [...]}, "cycles":
{col: [...]}}`` and ``GET /cell_measurements/{mid}/cycles`` → ``{"cycles": {...}}``.

Both are derived on request from the stored time series by the shared detector
(:mod:`ionworks.wire.steps`, honouring the series' own step and cycle columns), in a worker
thread; nothing is cached (the series is bounded at upload by ``max_measurement_rows``, and
no file is written that a concurrent delete could orphan). The uploaded step table, if any,
stays what ``…/steps/download`` serves.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response
from ionworks.server.api.models import _store
from ionworks.server.db.measurements import FOLDER, TIME_SERIES
from ionworks.server.services.measurement_files import derived_steps_and_cycles

__all__ = ["routes"]


async def _derived(request: web.Request) -> dict[str, Any]:
    store, row = _store(request), access.measurement(request, request.match_info["mid"])
    if row["measurement_type"] != "time_series":
        fail(
            422,
            f"measurement {row['id']} is a {row['measurement_type']} measurement; only time "
            "series have steps and cycles",
        )
    path = store.blob_path(FOLDER.format(row["id"]), TIME_SERIES)
    if not path.is_file():
        fail(404, f"measurement {row['id']} has no {TIME_SERIES}")
    try:
        return await anyio.to_thread.run_sync(derived_steps_and_cycles, path)
    except MeasurementValidationError as exc:
        fail(422, exc.message)


async def steps_and_cycles(request: web.Request) -> web.Response:
    return json_response(await _derived(request))


async def cycles(request: web.Request) -> web.Response:
    return json_response({"cycles": (await _derived(request))["cycles"]})


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cell_measurements/{mid}/steps_and_cycles", steps_and_cycles)
    router.add_get("/cell_measurements/{mid}/cycles", cycles)
