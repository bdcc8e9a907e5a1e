"""Routes: appending rows to a stored time series (wire.md §10.3).

``POST /cell_measurements/{mid}/initiate-extend {}`` hands out one single-use upload URL
(``time_series_extend.parquet``, the same ``PUT /uploads/{token}`` as uploads); ``POST
…/confirm-extend {}`` claims it, marks the measurement ``pending``, checks the delta in a
thread (:func:`~ionworks.server.services.measurement_extend.check_delta`: a 422 naming the
column, the row or the limit, and the measurement stays as it was) and answers; the stitch
then runs in the background (``running``) and ends ``ready`` with new ``row_count``,
``updated_at`` and ``data_version``, or ``ready`` with the old data and a
``processing_error``. A measurement has at most one extend in flight and none while it is
processing (409); only time series can be extended (422).

Extend URLs are rows of the uploads table that only ``confirm-extend`` claims
(:data:`~ionworks.server.db.uploads.EXTEND_META`); ``confirm-upload`` never claims them and
never removes a stored measurement's files. At start, a stitch a stop interrupted is finished
when its new time series was already written, else the measurement keeps its data and says
so in ``processing_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any, Final

import anyio.to_thread
from aiohttp import web

from ionworks.errors import MeasurementValidationError
from ionworks.server.api import access
from ionworks.server.api.http import fail, json_response, read_json
from ionworks.server.api.measurement_uploads import check_open_uploads, origin
from ionworks.server.api.measurements import measurement_dict, measurement_or_404
from ionworks.server.db import measurements, uploads
from ionworks.server.db.measurements import FOLDER, TIME_SERIES
from ionworks.server.db.store import Store
from ionworks.server.db.uploads import EXTEND_FILE, complete_path, converted_path
from ionworks.server.services import measurement_extend as extend
from ionworks.server.state import STATE, limits, state

__all__ = ["setup"]

_TASKS: Final = web.AppKey("extend_tasks", set[asyncio.Task[None]])
log = logging.getLogger("ionworks.server")
INTERRUPTED: Final = (
    "the server stopped before this extend was applied; the measurement keeps its earlier "
    "data: extend it again"
)


async def _series(request: web.Request) -> sqlite3.Row:
    """The path's measurement (404), a time series (422); the body must be a JSON object."""
    row = access.measurement(request, request.match_info["mid"])
    await read_json(request)  # {} (bounded; anything else than an object is a 422)
    if row["measurement_type"] != "time_series":
        fail(
            422,
            f"measurement {row['id']} is a {row['measurement_type']} measurement; only "
            "time_series measurements can be extended",
        )
    return row


async def initiate_extend(request: web.Request) -> web.Response:
    row = await _series(request)
    store, bounds = state(request).store, limits(request)
    base = origin(request)
    check_open_uploads(store, row["owner_id"], bounds)
    try:
        token = uploads.create_extend(store, row["owner_id"], row)
    except uploads.AlreadyClaimed as exc:
        fail(409, str(exc))
    path = f"/uploads/{token}"
    url = {"filename": EXTEND_FILE, "signed_url": base + path, "token": token, "path": path}
    return json_response({"measurement_id": row["id"], "uploads": [url]})


async def confirm_extend(request: web.Request) -> web.Response:
    row = await _series(request)
    store, bounds, mid = state(request).store, limits(request), row["id"]
    uploads.sweep(store, bounds.upload_ttl_seconds)
    try:
        token = uploads.claim_extend(store, row["owner_id"], mid)
    except uploads.AlreadyClaimed as exc:
        fail(409, str(exc))
    except LookupError as exc:
        fail(404, f"measurement {mid}: {exc}")
    except ValueError as exc:
        fail(422, str(exc))
    folder = FOLDER.format(mid)
    try:
        delta = await anyio.to_thread.run_sync(
            extend.check_delta,
            store.blob_path(folder, TIME_SERIES),
            complete_path(store, token),
            converted_path(store, token),
            bounds,
        )
    except BaseException as exc:
        message = exc.message if isinstance(exc, MeasurementValidationError) else None
        measurements.end_processing(store, mid, message or "the extend delta was not applied")
        uploads.discard(store, [token])
        if message is None:
            raise
        fail(422, f"invalid extend data: {message}")
    task = asyncio.get_running_loop().create_task(
        _stitch(store, row, token, delta), name=f"extend {mid}"
    )
    tasks = request.app[_TASKS]
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    record = measurement_dict(measurement_or_404(store, row["owner_id"], mid))
    return json_response({**record, "steps_created": 0})


async def _stitch(store: Store, row: sqlite3.Row, token: str, delta: Any) -> None:
    """Append the checked delta (in a thread) and record the result; a failure is settled by
    :func:`_settle` (the old data and a ``processing_error``, or a stitch that got written)."""
    mid, folder = row["id"], FOLDER.format(row["id"])
    try:
        measurements.start_running(store, mid)
        rows, steps = await anyio.to_thread.run_sync(
            extend.stitch, store, folder, delta, row["steps_count"] is not None
        )
        if measurements.exists(store, mid):
            measurements.data_changed(store, mid, rows, steps)
        else:  # deleted meanwhile: remove what the stitch wrote
            store.delete_blobs(folder)
    except Exception as exc:
        log.warning("extend of measurement %s failed: %s", mid, exc)
        detail = exc.message if isinstance(exc, MeasurementValidationError) else None
        reason = detail or "the server could not write the extended series"
        await _settle(store, row, f"extend not applied: {reason}")
    finally:
        uploads.discard(store, [token])


async def _settle(store: Store, row: sqlite3.Row, error: str) -> None:
    """End a stitch that did not finish: if its new time series was written (its row count
    differs from the record's) record it (step table regenerated), else back to ``ready``
    with the old data and ``error``."""
    mid, folder = row["id"], FOLDER.format(row["id"])
    series = store.blob_path(folder, TIME_SERIES)
    try:
        rows = await anyio.to_thread.run_sync(extend.parquet_rows, series)
        if rows != row["row_count"]:
            steps = None
            if row["steps_count"] is not None:
                steps = await anyio.to_thread.run_sync(extend.regenerate_steps, store, folder)
            measurements.data_changed(store, mid, rows, steps)
            return
    except Exception as exc:  # an unreadable file: keep what is there, say why
        log.warning("settling the extend of measurement %s failed: %s", mid, exc)
    measurements.end_processing(store, mid, error)


async def _recover(store: Store) -> None:
    """Settle the stitches a stop interrupted (:func:`_settle`, :data:`INTERRUPTED`)."""
    for row in measurements.processing_rows(store):
        await _settle(store, row, INTERRUPTED)


async def _start(app: web.Application) -> None:
    app[_TASKS] = set()
    await _recover(app[STATE].store)


async def _stop(app: web.Application) -> None:
    """Let running stitches finish (a stitch in its thread cannot be interrupted)."""
    tasks = list(app.get(_TASKS, ()))
    if tasks:
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)


def setup(app: web.Application) -> None:
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
    r = app.router
    r.add_post("/cell_measurements/{mid}/initiate-extend", initiate_extend)
    r.add_post("/cell_measurements/{mid}/confirm-extend", confirm_extend)
