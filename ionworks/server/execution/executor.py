"""Executors run engine calls away from the event loop.

:class:`ProcessExecutor` keeps ``workers`` long-lived worker processes (fresh interpreters started with
``python -m ionworks.server.execution._worker_main``, so the user's script is never re-imported; PyBaMM is imported once
per worker, built simulations are cached per worker). Each job runs in one worker; cancelling a
running job terminates that worker and starts a fresh one, so cancellation takes effect at once.
The interface (:class:`Executor`) is what a Dask-based executor implements too.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread

__all__ = ["Executor", "JobCanceled", "ProcessExecutor", "WorkerError", "default_workers"]

log = logging.getLogger("ionworks.server")


class WorkerError(Exception):
    """The job's function raised (``str()`` is its error text, ``traceback`` the worker's
    traceback if it sent one), or ``died``: the worker went away or broke the protocol."""

    def __init__(self, message: str, *, died: bool = False, traceback: str | None = None) -> None:
        super().__init__(message)
        self.died = died
        self.traceback = traceback


class JobCanceled(Exception):
    """The job was canceled while running."""


class Executor(Protocol):
    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any: ...

    def cancel(self, job_id: str) -> bool: ...

    async def aclose(self) -> None: ...


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class _Worker:
    """One worker interpreter connected by a socket pair (see ``_worker_main``)."""

    def __init__(self, initializer: str | None, log_path: Path | None) -> None:
        parent, child = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "ionworks.server.execution._worker_main",
            str(child.fileno()),
            str(os.getpid()),
        ]
        if initializer:
            command.append(initializer)
        # Output goes to the server's log, never to the terminal of a process hosting the server.
        out = os.open(log_path, _LOG_FLAGS, 0o600) if log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command,
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        finally:
            child.close()
            if log_path:
                os.close(out)
        self.conn = Connection(parent.detach())
        self.job_id: str | None = None
        self.canceled = False

    def is_alive(self) -> bool:
        return self.process.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        if self.is_alive():
            try:  # the whole process group: anything the worker forked goes too
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not land
            pass
        self.conn.close()


def _answers(reply: Any, job_id: str, token: str, pid: int) -> bool:
    """Whether ``reply`` answers this dispatch (job id and token) from this very process."""
    return (
        isinstance(reply, tuple)
        and len(reply) >= 5
        and reply[0] == job_id
        and reply[1] == token
        and reply[2] == pid
        and reply[3] in ("ok", "error")
    )


class ProcessExecutor:
    """A pool of long-lived worker processes (spawned, so the server's threads are safe)."""

    def __init__(
        self,
        workers: int | None = None,
        initializer: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        """``initializer`` is ``"module:function"``, called once in each worker at start;
        workers append their output to ``log_path`` (discarded if ``None``)."""
        self._initializer = initializer
        self._log_path = log_path
        self.size = workers or default_workers()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._by_job: dict[str, _Worker] = {}
        self._slots = anyio.Semaphore(self.size)
        # waiting on a worker occupies a thread for the whole job: own limiter, not anyio's
        self._threads = anyio.CapacityLimiter(self.size)
        self._cancel_requested: set[str] = set()
        self._closed = False

    def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.is_alive():
                return worker
            self._discard(worker)
        worker = _Worker(self._initializer, self._log_path)
        self._all.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._all:
            self._all.remove(worker)

    def start(self) -> None:
        """Start all workers now (otherwise they start on first use)."""
        while len(self._all) < self.size:
            worker = _Worker(self._initializer, self._log_path)
            self._all.append(worker)
            self._idle.append(worker)

    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any:
        """Run ``func(payload)`` in a worker; raises WorkerError / JobCanceled."""
        if self._closed:
            raise RuntimeError("executor is closed")
        async with self._slots:
            if job_id in self._cancel_requested:
                self._cancel_requested.discard(job_id)
                raise JobCanceled(job_id)
            worker = self._take()
            worker.job_id, worker.canceled = job_id, False
            self._by_job[job_id] = worker
            token = secrets.token_hex(8)
            healthy = False
            try:
                worker.conn.send((job_id, token, func, payload))
                reply = await anyio.to_thread.run_sync(
                    worker.conn.recv, abandon_on_cancel=True, limiter=self._threads
                )
                healthy = _answers(reply, job_id, token, worker.process.pid)
            except (EOFError, OSError, BrokenPipeError) as exc:
                if worker.canceled:
                    raise JobCanceled(job_id) from exc
                raise WorkerError(
                    f"the worker process died (exit code {worker.exitcode})", died=True
                ) from exc
            finally:
                self._by_job.pop(job_id, None)
                worker.job_id = None
                if healthy and not self._closed:
                    self._idle.append(worker)
                else:
                    self._discard(worker)
        if not healthy:
            log.error(
                "worker %s gave a reply that does not match job %s", worker.process.pid, job_id
            )
            raise WorkerError("the worker process answered out of turn and was replaced", died=True)
        if reply[3] == "ok":
            return reply[4]
        raise WorkerError(reply[4], traceback=reply[5] if len(reply) > 5 else None)

    def cancel(self, job_id: str) -> bool:
        """Stop a job: kill its worker if it runs, else make sure it never starts."""
        worker = self._by_job.get(job_id)
        if worker is None:
            self._cancel_requested.add(job_id)
            return False
        worker.canceled = True
        worker.kill()
        return True

    async def aclose(self) -> None:
        self._closed = True
        workers, self._all, self._idle = list(self._all), [], []
        for worker in workers:
            worker.canceled = True

        def stop_all() -> None:
            for worker in workers:
                try:
                    worker.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
                try:
                    worker.process.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                worker.kill()

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stop_all)
