"""The aiohttp.web application: middlewares, lifecycle, route registration."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ionworks.server.executor import Executor, ProcessExecutor, default_workers
from ionworks.server.http import JSON, OWNER, HTTPError, error_body, json_response
from ionworks.server.jobs import JobRunner
from ionworks.server.limits import LIMITS, Limits
from ionworks.server.store import Store

__all__ = ["LOCAL_OWNER", "ServerConfig", "app_runner", "create_app"]

log = logging.getLogger("ionworks.server")

LOCAL_OWNER = "local"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE = web.AppKey("store", Store)
RUNNER = web.AppKey("runner", JobRunner)
CONFIG = web.AppKey("config", object)


class ServerConfig:
    """Settings of one server instance."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        api_keys: list[str] | None = None,
        allow_anonymous: bool | None = None,
        workers: int | None = None,
        executor: Executor | str | None = None,
        scheduler: str | None = None,
        start_workers: bool = False,
        limits: Limits | None = None,
        public_url: str | None = None,
    ) -> None:
        """``executor``: an :class:`Executor`, ``"process"`` (default: a pool of ``workers``
        processes) or ``"dask"`` (jobs on the Dask cluster at ``scheduler``; ``workers`` is
        then how many jobs are sent to the cluster at once). ``start_workers``: start every
        worker process (and import PyBaMM in it) when the server starts, as ``ionworks serve``
        does; otherwise workers start on first use (the embedded server in a script).
        ``limits``: the resource bounds (:class:`Limits` defaults). ``public_url``: the
        origin clients reach this server at (upload URLs are built from it, never from a
        request's ``Host`` header); the listening address if not set."""
        if isinstance(executor, str) and executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
        if executor == "dask" and not scheduler:
            raise ValueError("the dask executor needs a scheduler address")
        self.data_dir = Path(data_dir)
        self.api_keys = list(api_keys or [])
        # Without configured keys, requests without a key act as the single local user.
        self.allow_anonymous = (not self.api_keys) if allow_anonymous is None else allow_anonymous
        self.workers = workers or default_workers()
        self.executor = executor
        self.scheduler = scheduler
        self.start_workers = start_workers
        self.limits = limits or Limits()
        self.public_url = public_url.rstrip("/") if public_url else None


EXECUTORS = ("process", "dask")


def _make_executor(config: ServerConfig) -> Executor:
    if config.executor is not None and not isinstance(config.executor, str):
        return config.executor
    if config.executor == "dask":
        from ionworks.server.executor_dask import DaskExecutor

        assert config.scheduler is not None
        return DaskExecutor(config.scheduler)
    return ProcessExecutor(config.workers, initializer="ionworks.server.engine.simulate:warm_up")


def _error_response(status: int, detail: Any) -> web.Response:
    return web.Response(
        status=status, body=error_body(status, detail), headers={"Content-Type": JSON}
    )


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
    store = request.app[STORE]
    config: ServerConfig = request.app[CONFIG]  # type: ignore[assignment]
    key = _key_from(request)
    if key is None:
        if not config.allow_anonymous:
            return _error_response(401, "missing API key: send the X-API-Key header")
        owner_id = LOCAL_OWNER
    else:
        found = store.owner_for_key(key)
        if found is None:
            return _error_response(401, "invalid API key")
        owner_id = found
    request[OWNER] = owner_id
    return await handler(request)


_inflight: dict[tuple[str, str], asyncio.Future[None]] = {}


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """POST/PATCH with ``Idempotency-Key`` are executed once per (owner, key); replays get the
    stored response (24 h). Concurrent duplicates wait for the first."""
    key = request.headers.get("Idempotency-Key")
    if request.method not in ("POST", "PATCH") or not key or OWNER not in request:
        return await handler(request)
    store = request.app[STORE]
    owner_id = request[OWNER]
    ident = (owner_id, key)
    while ident in _inflight:
        await asyncio.shield(_inflight[ident])
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
    _inflight[ident] = done
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
        _inflight.pop(ident, None)
        done.set_result(None)


async def healthz(request: web.Request) -> web.Response:
    from ionworks._version import __version__
    from ionworks.server.routes_results import CAPABILITIES

    return json_response(
        {"status": "ok", "version": __version__, "capabilities": list(CAPABILITIES)}
    )


def create_app(config: ServerConfig) -> web.Application:
    """Build the application; the store, executor and job runner start with the app."""
    modules = route_modules()
    app = web.Application(
        client_max_size=config.limits.max_body_bytes,
        middlewares=[errors_middleware, auth_middleware, idempotency_middleware],
    )
    app[CONFIG] = config
    app[LIMITS] = config.limits
    store = Store(config.data_dir)
    app[STORE] = store
    for key in config.api_keys:
        store.add_key(key)
    if config.allow_anonymous:
        store.default_project(LOCAL_OWNER)
    executor = _make_executor(config)
    tasks: dict[str, Any] = {}
    for module in modules:
        store.ensure_schema(getattr(module, "SCHEMA", ""))
        tasks.update(module.job_tasks() if hasattr(module, "job_tasks") else {})
    runner = JobRunner(store, executor, config.workers, tasks)
    app[RUNNER] = runner
    app.router.add_get("/healthz", healthz)
    for module in modules:
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


def app_runner(config: ServerConfig) -> web.AppRunner:
    """The runner of :func:`create_app` as the CLI and the embedded server host it: a client
    that has not sent a complete request within ``read_timeout_seconds`` of connecting (or of
    its previous response) is disconnected, so idle or trickling connections do not pile up."""
    return web.AppRunner(
        create_app(config),
        access_log=None,
        keepalive_timeout=config.limits.read_timeout_seconds,
        lingering_time=2.0,  # after an early error response, read a stalled body this long
    )


def route_modules() -> list[ModuleType]:
    """Every ``ionworks.server.routes_*`` module, in name order.

    A route module has ``setup(app)`` and may define ``SCHEMA`` (SQL run at start, use
    ``CREATE TABLE IF NOT EXISTS``) and ``job_tasks()`` (job type → (worker function,
    payload builder, result handler)). Adding a resource group means adding one module.
    """
    import ionworks.server as package

    names = sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("routes_")
    )
    return [importlib.import_module(f"ionworks.server.{name}") for name in names]
