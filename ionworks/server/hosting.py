"""Run the server on a background thread, and the process-wide zero-config server."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from ionworks.server.config import ServerConfig
from ionworks.server.db.store import DataDirInUse
from ionworks.server.limits import Limits

__all__ = ["EmbeddedServer", "default_data_dir", "shared_server"]


def default_data_dir() -> Path:
    """``IONWORKS_DATA_DIR``, else ``$XDG_DATA_HOME/ionworks`` (``~/.local/share/ionworks``)."""
    explicit = os.environ.get("IONWORKS_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ionworks"


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
    from ionworks.server.api.app import create_app

    return web.AppRunner(
        create_app(config),
        access_log=None,
        keepalive_timeout=config.limits.read_timeout_seconds,
        lingering_time=2.0,  # after an early error response, read a stalled body this long
    )


_shared_lock = threading.Lock()
_shared: tuple[str, str] | None = None
_shared_server: EmbeddedServer | None = None


def shared_server() -> tuple[str, str]:
    """The process-wide zero-config server: ``(url, api_key)``, started on first use.

    Data live in :func:`default_data_dir`. If another live process already serves that
    directory, its URL and key (from ``server.json``) are used instead of a second server.
    """
    global _shared, _shared_server
    with _shared_lock:
        if _shared is not None:
            return _shared
        try:
            import pybamm  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(
                "No Ionworks API is configured and the embedded local server needs the server "
                "extra: pip install 'ionworks[server]' (or set IONWORKS_API_URL and "
                "IONWORKS_API_KEY)"
            ) from exc
        data_dir = default_data_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        info_path = data_dir / "server.json"
        key = _local_key(data_dir)
        server = EmbeddedServer(data_dir, api_keys=[key], allow_anonymous=False)
        try:
            url = server.start()
        except RuntimeError as exc:
            if not isinstance(exc.__cause__, DataDirInUse):
                raise
            _shared = _running_server(info_path, key)
            return _shared
        tmp = info_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": url, "api_key": key, "pid": os.getpid()}))
        os.chmod(tmp, 0o600)
        os.replace(tmp, info_path)
        print(
            f"ionworks: using the embedded local server at {url} (data: {data_dir})",
            file=sys.stderr,
        )
        _shared, _shared_server = (url, key), server
        return _shared


def _running_server(info_path: Path, key: str, wait: float = 30.0) -> tuple[str, str]:
    """The server another process runs on this data directory (it may still be starting)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            info = json.loads(info_path.read_text())
            os.kill(int(info["pid"]), 0)
            with urllib.request.urlopen(f"{info['url']}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return str(info["url"]), key
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the data directory {info_path.parent} is locked by another ionworks server "
                "that does not answer; stop it or set IONWORKS_DATA_DIR to another directory"
            )
        time.sleep(0.2)


def _local_key(data_dir: Path) -> str:
    """The data directory's own API key (created once, mode 0600), so data survive restarts."""
    path = data_dir / "api_key"
    if path.exists():
        return path.read_text().strip()
    key = f"local-{secrets.token_hex(16)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
