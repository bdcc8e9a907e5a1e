"""The shared local daemon: one ``ionworks serve --daemon`` per data directory.

With no API configured, every client on the machine that uses the same data directory talks to
one background server for it. :func:`ensure_running` finds it through the discovery file
``server.json`` (url, pid, key; mode 0600) or starts it as a detached process (own session, no
terminal, stdin from ``/dev/null``, output to ``server.log``), so it outlives the script that
started it and never holds a client's stdio. It stops by itself after an idle time with no
requests and no queued or running jobs (:func:`idle_timeout`), or with :func:`stop`.

This module is imported by client processes: it loads no aiohttp and no server code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import attrs

from ionworks._version import __version__

__all__ = [
    "IDLE_TIMEOUT_ENV",
    "Discovery",
    "default_data_dir",
    "ensure_running",
    "idle_timeout",
    "local_key",
    "log_path",
    "read_discovery",
    "remove_discovery",
    "stop",
    "write_discovery",
]

IDLE_TIMEOUT_ENV = "IONWORKS_LOCAL_IDLE_TIMEOUT"
DEFAULT_IDLE_TIMEOUT = 15 * 60.0
#: ``server.log`` is moved to ``server.log.1`` when a daemon starts and it is larger than this.
LOG_ROTATE_BYTES = 8 * 1024 * 1024


@attrs.frozen
class Discovery:
    """What ``server.json`` says of the daemon serving a data directory."""

    url: str
    pid: int
    api_key: str
    version: str = ""
    started_at: float = 0.0


def default_data_dir() -> Path:
    """``IONWORKS_DATA_DIR``, else ``$XDG_DATA_HOME/ionworks`` (``~/.local/share/ionworks``)."""
    explicit = os.environ.get("IONWORKS_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ionworks"


def log_path(data_dir: Path) -> Path:
    """The daemon's log (its own output and its workers')."""
    return data_dir / "server.log"


def _discovery_path(data_dir: Path) -> Path:
    return data_dir / "server.json"


def idle_timeout(environ: dict[str, str] | None = None) -> float | None:
    """Seconds without requests or jobs before the daemon stops (``IONWORKS_LOCAL_IDLE_TIMEOUT``;
    default 15 min; ``0`` or a negative value: never). An unreadable value is a ``ValueError``
    naming the variable."""
    raw = (os.environ if environ is None else environ).get(IDLE_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(
            f"{IDLE_TIMEOUT_ENV} must be a number of seconds (0: never stop), got {raw!r}"
        ) from None
    if seconds != seconds or seconds in (float("inf"),):
        raise ValueError(f"{IDLE_TIMEOUT_ENV} must be a finite number of seconds, got {raw!r}")
    return seconds if seconds > 0 else None


def local_key(data_dir: Path) -> str:
    """The data directory's own API key (created once, mode 0600), so data survive restarts."""
    path = data_dir / "api_key"
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    key = f"local-{secrets.token_hex(16)}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def write_discovery(data_dir: Path, info: Discovery) -> None:
    """Publish ``info`` atomically, readable only by this user."""
    path = _discovery_path(data_dir)
    tmp = path.with_name(f".server.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(attrs.asdict(info), fh)
    os.replace(tmp, path)


def remove_discovery(data_dir: Path, pid: int) -> None:
    """Remove the discovery file if it still names process ``pid``."""
    info = _read_file(data_dir)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            _discovery_path(data_dir).unlink()


def _read_file(data_dir: Path) -> Discovery | None:
    try:
        raw = json.loads(_discovery_path(data_dir).read_text())
        return Discovery(
            url=str(raw["url"]),
            pid=int(raw["pid"]),
            api_key=str(raw["api_key"]),
            version=str(raw.get("version", "")),
            started_at=float(raw.get("started_at", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid reused by another user
        return False
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


def _healthy(info: Discovery, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(f"{info.url}/healthz", headers={"X-API-Key": info.api_key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def read_discovery(data_dir: Path | None = None) -> Discovery | None:
    """The daemon serving ``data_dir`` if its process is alive (``None`` otherwise)."""
    info = _read_file(data_dir or default_data_dir())
    return info if info is not None and _alive(info.pid) else None


@contextlib.contextmanager
def _spawn_lock(data_dir: Path, timeout: float) -> Iterator[None]:
    """Serialises starting the daemon between processes (two clients start one daemon)."""
    with open(data_dir / "spawn.lock", "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another process has been starting the local server for {data_dir} "
                        f"for over {timeout:.0f} s; see {log_path(data_dir)}"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_running(data_dir: Path | None = None, *, timeout: float = 120.0) -> tuple[str, str]:
    """``(url, api_key)`` of the daemon for ``data_dir``, started if none answers.

    Blocking (call it from a worker thread in async code). Raises ``RuntimeError`` with a
    user-facing reason: the server extra is missing, or the daemon did not come up (the end of
    its log is quoted).
    """
    data_dir = data_dir or default_data_dir()
    info = read_discovery(data_dir)
    if info is not None and _healthy(info):
        _warn_if_other_version(info)
        return info.url, info.api_key
    if find_spec("pybamm") is None:
        raise RuntimeError(
            "No Ionworks API is configured and the local server needs the server extra: "
            "pip install 'ionworks[server]' (or set IONWORKS_API_URL and IONWORKS_API_KEY)"
        )
    try:
        idle = idle_timeout()  # checked here: a daemon would only fail with it in its log
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _spawn_lock(data_dir, timeout):
        info = read_discovery(data_dir)  # started by another process meanwhile?
        if info is not None and not _wait_healthy(info, None, data_dir, timeout):
            if _alive(info.pid):
                raise RuntimeError(
                    f"the local server for {data_dir} (pid {info.pid}) does not answer at "
                    f"{info.url}; stop it with 'ionworks stop' (or kill {info.pid}) and retry"
                )
            info = None  # it stopped meanwhile (idle)
        if info is None:
            _wait_data_dir_free(data_dir, min(timeout, 60.0))
            info = _start(data_dir, timeout)
            until = f"{idle / 60:g} min idle or 'ionworks stop'" if idle else "'ionworks stop'"
            print(
                f"ionworks: started the local server at {info.url} (data: {data_dir}; "
                f"runs until {until}; log: {log_path(data_dir)})",
                file=sys.stderr,
            )
    return info.url, info.api_key


def _wait_data_dir_free(data_dir: Path, timeout: float) -> None:
    """Wait until no server holds the data directory's lock (a daemon that stopped when idle
    may still be closing it); a server that keeps it is not the shared daemon: an error."""
    deadline = time.monotonic() + timeout
    with open(data_dir / "server.lock", "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise RuntimeError(
                        f"the data directory {data_dir} is in use by another ionworks server "
                        f"({holder}) that is not the shared local server; stop it, or set "
                        "IONWORKS_DATA_DIR to another directory"
                    ) from None
                time.sleep(0.1)
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
                return


def _warn_if_other_version(info: Discovery) -> None:
    """After an upgrade the running daemon still has the old code: say so (once a process)."""
    if info.version and info.version != __version__ and info.pid not in _warned:
        _warned.add(info.pid)
        print(
            f"ionworks: the local server (pid {info.pid}) runs ionworks {info.version}, this is "
            f"{__version__}; run 'ionworks stop' to restart it with this version",
            file=sys.stderr,
        )


_warned: set[int] = set()


def _start(data_dir: Path, timeout: float) -> Discovery:
    log = log_path(data_dir)
    with contextlib.suppress(OSError):
        if log.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    command = [
        *[sys.executable, "-m", "ionworks", "serve", "--daemon"],
        *["--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", "0"],
    ]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # no terminal signals; survives the client
            close_fds=True,
        )
    finally:
        os.close(fd)
    # Reap it when it exits while this process lives (no zombie); it outlives this process.
    threading.Thread(target=process.wait, name="ionworks-daemon-reaper", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _read_file(data_dir)
        if info is not None and info.pid == process.pid:
            if _wait_healthy(info, process, data_dir, deadline - time.monotonic()):
                return info
        if process.poll() is not None:
            raise RuntimeError(_start_failure(data_dir, process.returncode))
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(
        f"the local server for {data_dir} did not start within {timeout:.0f} s; "
        f"see {log_path(data_dir)}"
    )


def _wait_healthy(
    info: Discovery, process: subprocess.Popen[bytes] | None, data_dir: Path, timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(info):
            return True
        if (process is not None and process.poll() is not None) or not _alive(info.pid):
            if process is not None:
                raise RuntimeError(_start_failure(data_dir, process.returncode))
            return False
        time.sleep(0.1)
    return False


def _start_failure(data_dir: Path, code: int | None) -> str:
    try:
        tail = log_path(data_dir).read_text(errors="replace").strip().splitlines()[-5:]
    except OSError:
        tail = []
    detail = ("; log: " + " | ".join(tail)) if tail else ""
    return f"the local server for {data_dir} exited at start (status {code}){detail}"


def stop(data_dir: Path | None = None, *, timeout: float = 30.0) -> Discovery | None:
    """Stop the daemon for ``data_dir`` (SIGTERM, then SIGKILL after ``timeout``); the
    stopped daemon's discovery, or ``None`` if none was running."""
    data_dir = data_dir or default_data_dir()
    info = read_discovery(data_dir)
    if info is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    remove_discovery(data_dir, info.pid)
    return info
