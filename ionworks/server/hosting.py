"""Hosting the server: on a background thread of this process (:class:`EmbeddedServer`), or as
the process itself (:func:`serve`, used by ``ionworks serve`` and the shared local daemon)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ionworks._version import __version__
from ionworks.server.config import ServerConfig
from ionworks.server.daemon import Discovery, default_data_dir, remove_discovery, write_discovery
from ionworks.server.limits import Limits

if TYPE_CHECKING:
    from ionworks.server.state import ServerState

__all__ = ["EmbeddedServer", "app_runner", "default_data_dir", "serve"]

log = logging.getLogger("ionworks.server")


class EmbeddedServer:
    """The server on a daemon thread with its own event loop. ``start()`` returns the URL."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: list[str] | None = None,
        allow_anonymous: bool | None = None,
        workers: int | None = None,
        limits: Limits | None = None,
    ) -> None:

        self.config = ServerConfig(
            Path(data_dir),
            api_keys=api_keys,
            allow_anonymous=allow_anonymous,
            workers=workers,
            limits=limits,
        )
        self.host = host
        self.port = port
        self.url: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 60) -> str:
        self._thread = threading.Thread(target=self._run, name="ionworks-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the local server did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the local server failed to start: {self._error}") from self._error
        assert self.url is not None
        return self.url

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = app_runner(self.config)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            server = site._server
            assert server is not None
            port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            self.url = f"http://{self.host}:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def stop(self, timeout: float = 30) -> None:
        """Stop serving, stop the workers and close the database (idempotent)."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop.set)
                self._thread.join(timeout)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def app_runner(config: ServerConfig) -> web.AppRunner:
    """The runner of :func:`create_app` as the CLI and the embedded server host it: a client
    that has not sent a complete request within ``read_timeout_seconds`` of connecting (or of
    its previous response) is disconnected, so idle or trickling connections do not pile up."""
    from ionworks.server import ui
    from ionworks.server.api.app import create_app

    app = create_app(config)
    ui.setup(app)  # the web pages at /ui
    return web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=config.limits.read_timeout_seconds,
        lingering_time=2.0,  # after an early error response, read a stalled body this long
    )


def serve(
    config: ServerConfig,
    host: str,
    port: int,
    *,
    daemon: bool = False,
    idle_timeout: float | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, or until idle for ``idle_timeout`` seconds (no request and
    no queued or running job). ``daemon``: publish the discovery file (see
    :mod:`ionworks.server.daemon`) while serving. ``announce(url)`` is called once listening."""
    asyncio.run(_serve(config, host, port, daemon, idle_timeout, announce))


async def _serve(
    config: ServerConfig,
    host: str,
    port: int,
    daemon: bool,
    idle_timeout: float | None,
    announce: Callable[[str], None] | None,
) -> None:
    from ionworks.server.state import STATE

    runner = app_runner(config)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher: asyncio.Task[None] | None = None
    importer: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        bound = server.sockets[0].getsockname()[1] if server else port  # type: ignore[attr-defined]
        url = f"http://{host}:{bound}"
        if daemon:
            write_discovery(
                config.data_dir,
                Discovery(
                    url=url,
                    pid=os.getpid(),
                    api_key=config.api_keys[0],
                    version=__version__,
                    started_at=time.time(),
                ),
            )
        if announce is not None:
            announce(url)
        state = runner.app[STATE]
        importer = loop.create_task(_import_pybamm_soon(state))
        if idle_timeout is not None:
            watcher = loop.create_task(_stop_when_idle(state, idle_timeout, stop))
        await stop.wait()
    finally:
        if importer is not None:
            importer.cancel()
        if watcher is not None:
            watcher.cancel()
        if daemon:
            remove_discovery(config.data_dir, os.getpid())
        await runner.cleanup()


async def _import_pybamm_soon(state: ServerState) -> None:
    """The request-time model checks (pipelines, simulations) import PyBaMM: do it soon, off
    the loop, so the first such request does not wait seconds for it (a client with a 10 s
    read timeout, like ionworks-api's, could give up on a loaded machine) — but once the
    workers have imported theirs and the server has been idle for :data:`IDLE_BEFORE_IMPORT`:
    the import competing with the workers (and, holding the GIL, with the event loop) made a
    just-started server's first sweep take twice as long. A request that needs PyBaMM
    before then imports it itself, in a thread; a server that only runs simulations never
    needs it."""
    warmed = getattr(state.runner.executor, "warmed", None)
    if callable(warmed):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(warmed(), WARM_UP_WAIT)
    while state.idle_for() < IDLE_BEFORE_IMPORT:  # noqa: ASYNC110 - requests and jobs: polled
        await asyncio.sleep(0.25)
    await asyncio.get_running_loop().run_in_executor(None, _import_pybamm_quietly)


#: Longest the server's own PyBaMM import waits for its workers' warm-up.
WARM_UP_WAIT = 60.0
#: Seconds without a request or a job before the server imports PyBaMM itself.
IDLE_BEFORE_IMPORT = 1.0


def _import_pybamm_quietly() -> None:
    from ionworks.wire.pybamm import import_pybamm

    with contextlib.suppress(Exception):  # no PyBaMM: the checks say so when they need it
        import_pybamm()


async def _stop_when_idle(state: ServerState, idle_timeout: float, stop: asyncio.Event) -> None:
    """Set ``stop`` once the server has had no request and no job for ``idle_timeout`` s."""
    period = min(5.0, max(0.05, idle_timeout / 10))
    while True:
        await asyncio.sleep(period)
        if state.idle_for() >= idle_timeout:
            log.info("idle for %.0f s: stopping", idle_timeout)
            stop.set()
            return
