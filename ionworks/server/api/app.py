"""The aiohttp.web application: middlewares (JSON errors, API-key auth, idempotency), the
resource groups' routes, and the lifecycle of the store, executor and job runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ionworks.server.api import (
    cells,
    jobs,
    measurement_extend,
    measurement_records,
    measurement_uploads,
    measurement_watch,
    measurements,
    models,
    parameterized_models,
    pipelines,
    platform,
    projects,
    protocols,
    raw_data,
    raw_data_links,
    results,
    simulations,
    studies,
    templates,
)
from ionworks.server.api.http import (
    JSON,
    OWNER,
    HTTPError,
    error_body,
    is_read_only,
    json_response,
)
from ionworks.server.config import ServerConfig, make_executor
from ionworks.server.db.store import Store
from ionworks.server.execution.jobs import JobRunner
from ionworks.server.services.job_types import job_types
from ionworks.server.state import STATE, ServerState, state

__all__ = ["LOCAL_OWNER", "ROUTES", "create_app"]

log = logging.getLogger("ionworks.server")

LOCAL_OWNER = "local"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_response(status: int, detail: Any) -> web.Response:
    return web.Response(
        status=status, body=error_body(status, detail), headers={"Content-Type": JSON}
    )


@web.middleware
async def activity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts requests under way (an idle daemon stops only when there are none)."""
    activity = state(request).activity
    activity.begin()
    try:
        return await handler(request)
    finally:
        activity.end()


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HTTPError as exc:
        return exc.response()
    except web.HTTPException as exc:  # aiohttp's own (404 route, 405 method, 413 size, ...)
        if exc.status_code < 400:
            raise
        return _error_response(exc.status_code, exc.reason)
    except RequestPayloadError as exc:  # a body aiohttp cannot decode (e.g. corrupt gzip)
        return _error_response(400, f"request body could not be read: {exc}")
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        log.exception("unhandled error for %s %s", request.method, request.path)
        return _error_response(500, f"internal server error: {type(exc).__name__}: {exc}")


def _key_from(request: web.Request) -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/healthz" or request.path.startswith("/uploads/"):
        return await handler(request)
    ui = request.path == "/ui" or request.path.startswith("/ui/")
    if ui and request.path != "/ui/login-token":
        return await handler(request)  # the web pages check their own session cookie
    server = state(request)
    key = _key_from(request)
    if key is None:
        if not server.config.allow_anonymous:
            return _error_response(401, "missing API key: send the X-API-Key header")
        owner_id = LOCAL_OWNER
    else:
        found = server.store.owner_for_key(key)
        if found is None:
            return _error_response(401, "invalid API key")
        owner_id = found
    request[OWNER] = owner_id
    return await handler(request)


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """POST/PATCH with ``Idempotency-Key`` are executed once per (owner, key); replays get the
    stored response (24 h). Concurrent duplicates wait for the first."""
    key = request.headers.get("Idempotency-Key")
    if request.method not in ("POST", "PATCH") or not key or OWNER not in request:
        return await handler(request)
    if is_read_only(request):  # a query: nothing to deduplicate, nothing worth storing
        return await handler(request)
    server = state(request)
    store, inflight = server.store, server.inflight
    owner_id = request[OWNER]
    ident = (owner_id, key)
    while ident in inflight:
        await asyncio.shield(inflight[ident])
    stored = store.idempotent_response(owner_id, key)
    if stored is not None:
        method, path, status, body = stored
        if (method, path) != (request.method, request.path):
            return _error_response(
                422, f"Idempotency-Key {key!r} was already used for {method} {path}"
            )
        return web.Response(
            status=status, body=body, headers={"Content-Type": JSON, "Idempotent-Replayed": "true"}
        )
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    inflight[ident] = done
    try:
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and response.status < 500
            and response.body is not None
        ):
            body = response.body if isinstance(response.body, bytes) else b""
            store.remember_response(
                owner_id, key, request.method, request.path, response.status, body
            )
        return response
    except web.HTTPException as exc:
        if exc.status_code < 500 and isinstance(exc.body, bytes):
            store.remember_response(
                owner_id, key, request.method, request.path, exc.status_code, exc.body
            )
        raise
    finally:
        inflight.pop(ident, None)
        done.set_result(None)


async def healthz(request: web.Request) -> web.Response:
    from ionworks._version import __version__
    from ionworks.server.api.results import CAPABILITIES

    return json_response(
        {"status": "ok", "version": __version__, "capabilities": list(CAPABILITIES)}
    )


#: The resource groups, each a module with ``setup(app)`` that adds its routes.
ROUTES: Final = (
    projects,
    models,
    parameterized_models,
    simulations,
    results,
    jobs,
    protocols,
    cells,
    measurements,
    measurement_uploads,
    measurement_extend,
    measurement_records,
    measurement_watch,
    raw_data,
    raw_data_links,
    studies,
    pipelines,
    templates,
    platform,
)


def create_app(config: ServerConfig) -> web.Application:
    """Build the application around one :class:`ServerState`; the store, executor and job
    runner start and stop with the app."""
    app = web.Application(
        client_max_size=config.limits.max_body_bytes,
        middlewares=[
            activity_middleware,
            errors_middleware,
            auth_middleware,
            idempotency_middleware,
        ],
    )
    store = Store(config.data_dir)
    for key in config.api_keys:
        store.add_key(key)
    if config.allow_anonymous:
        store.default_project(LOCAL_OWNER)
    executor = make_executor(config)
    runner = JobRunner(store, executor, config.workers, job_types())
    app[STATE] = ServerState(config=config, store=store, runner=runner)
    app.router.add_get("/healthz", healthz)
    for module in ROUTES:
        module.setup(app)

    async def lifecycle(app: web.Application) -> Any:
        store.clean_temp_files()
        start = getattr(executor, "start", None)
        if config.start_workers and callable(start):
            start()  # spawns the processes; each imports PyBaMM before its first job
        requeued = runner.requeue_interrupted()
        if requeued:
            log.info("re-queued %d interrupted job(s)", requeued)
        # A plain task: aiohttp may run startup and cleanup in different tasks, so no cancel
        # scope may span the yield.
        task = asyncio.get_running_loop().create_task(runner.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await executor.aclose()
        store.close()

    app.cleanup_ctx.append(lifecycle)
    return app
