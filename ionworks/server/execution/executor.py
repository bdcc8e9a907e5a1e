"""Executors run engine calls away from the event loop.

:class:`ProcessExecutor` keeps ``workers`` long-lived worker processes (fresh interpreters started with
``python -m ionworks.server.execution._worker_main``, so the user's script is never re-imported; PyBaMM is imported once
per worker, built simulations are cached per worker). Each job runs in one worker; cancelling a
running job terminates that worker and starts a fresh one, so cancellation takes effect at once.
:meth:`ProcessExecutor.run_chunk` sends several jobs in one message (one round trip); the worker
answers each as it ends. A job of the chunk canceled while queued in the worker still runs there
but its result is dropped (about a chunk's work, ~0.2 s); the jobs a killed or dead worker never began come back as
:class:`NotStarted` (the runner queues them again).
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
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread

__all__ = [
    "Deliver",
    "Executor",
    "JobCanceled",
    "NotStarted",
    "ProcessExecutor",
    "WorkerError",
    "default_workers",
    "not_canceled",
]

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


class NotStarted(Exception):
    """The job was part of a chunk whose worker went away before it began this job: it can
    simply be queued again."""


#: Receives each job's outcome of a chunk (see :meth:`ProcessExecutor.run_chunk`).
Deliver = Callable[[str, Any], None]


class Executor(Protocol):
    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any: ...

    def cancel(self, job_id: str) -> bool: ...

    async def aclose(self) -> None: ...


def not_canceled(
    jobs: Sequence[tuple[str, Any]], canceled: set[str], deliver: Deliver
) -> list[tuple[str, Any]]:
    """The jobs not canceled before they were sent (those are delivered as canceled and
    forgotten from ``canceled``)."""
    todo = []
    for job_id, payload in jobs:
        if job_id in canceled:
            canceled.discard(job_id)
            deliver(job_id, JobCanceled(job_id))
        else:
            todo.append((job_id, payload))
    return todo


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


class _Worker:
    """One worker interpreter connected by a socket pair (see ``_worker_main``)."""

    def __init__(self, initializer: str | None, log_path: Path | None) -> None:
        parent, child = socket.socketpair()
        ready, ready_child = os.pipe()  # one byte once the initializer has run
        os.set_blocking(ready, False)
        self._ready: int | None = ready
        command = [
            sys.executable,
            "-m",
            "ionworks.server.execution._worker_main",
            str(child.fileno()),
            str(os.getpid()),
            initializer or "",
            str(ready_child),
        ]
        # Output goes to the server's log, never to the terminal of a process hosting the server.
        out = os.open(log_path, _LOG_FLAGS, 0o600) if log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command,
                pass_fds=(child.fileno(), ready_child),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        finally:
            child.close()
            os.close(ready_child)
            if log_path:
                os.close(out)
        self.conn = Connection(parent.detach())
        self.remaining: list[str] = []  # jobs of the current dispatch without a reply yet
        self.canceled_jobs: set[str] = set()
        self.canceled = False

    async def warmed(self) -> None:
        """Return once the worker has run its initializer (or has gone)."""
        while self._ready is not None:
            try:
                os.read(self._ready, 1)  # the byte, or b"" (gone): done either way
            except BlockingIOError:
                await anyio.sleep(0.05)
                continue
            os.close(self._ready)
            self._ready = None

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
        if self._ready is not None:
            os.close(self._ready)
            self._ready = None


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

    async def warmed(self) -> None:
        """Return once every worker started so far has run its initializer (imported
        PyBaMM), or has gone."""
        for worker in list(self._all):
            await worker.warmed()

    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any:
        """Run ``func(payload)`` in a worker; raises WorkerError / JobCanceled."""
        outcome: list[Any] = []
        await self.run_chunk([(job_id, payload)], func, lambda _, value: outcome.append(value))
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    async def run_chunk(
        self, jobs: Sequence[tuple[str, Any]], func: Callable[[Any], Any], deliver: Deliver
    ) -> None:
        """Run ``func(payload)`` for each ``(job_id, payload)`` in order, in one worker (one
        round trip). ``deliver(job_id, outcome)`` is called on the event loop for every job,
        as soon as it is known: the result, or a :class:`WorkerError` / :class:`JobCanceled` /
        :class:`NotStarted` instance (the worker went away before it began that job)."""
        if self._closed:
            raise RuntimeError("executor is closed")
        async with self._slots:
            todo = not_canceled(jobs, self._cancel_requested, deliver)
            if todo:
                await self._run_in_worker(todo, func, deliver)

    async def _run_in_worker(
        self, todo: list[tuple[str, Any]], func: Callable[[Any], Any], deliver: Deliver
    ) -> None:
        worker = self._take()
        worker.remaining, worker.canceled_jobs = [job_id for job_id, _ in todo], set()
        worker.canceled = False
        for job_id in worker.remaining:
            self._by_job[job_id] = worker
        token = secrets.token_hex(8)
        healthy = True
        try:
            # one job as before; several as one chunk message (the worker answers each)
            message: tuple[Any, ...] | None = (
                (todo[0][0], token, func, todo[0][1])
                if len(todo) == 1
                else (None, token, func, todo)
            )
            while worker.remaining and healthy:
                job_id = worker.remaining[0]
                try:
                    if message is not None:
                        worker.conn.send(message)
                        message = None
                    reply = await anyio.to_thread.run_sync(
                        worker.conn.recv, abandon_on_cancel=True, limiter=self._threads
                    )
                except (EOFError, OSError, BrokenPipeError):
                    healthy = False
                    lost: Exception = (
                        JobCanceled(job_id)  # stopped by the server (closing)
                        if worker.canceled
                        else WorkerError(
                            f"the worker process died (exit code {worker.exitcode})", died=True
                        )
                    )
                else:
                    healthy = _answers(reply, job_id, token, worker.process.pid)
                    lost = WorkerError(
                        "the worker process answered out of turn and was replaced", died=True
                    )
                    if not healthy:
                        log.error(
                            "worker %s gave a reply that does not match job %s",
                            worker.process.pid,
                            job_id,
                        )
                worker.remaining.pop(0)
                if job_id in worker.canceled_jobs:
                    deliver(job_id, JobCanceled(job_id))
                elif not healthy:
                    deliver(job_id, lost)
                elif reply[3] == "ok":
                    deliver(job_id, reply[4])
                else:
                    deliver(
                        job_id,
                        WorkerError(reply[4], traceback=reply[5] if len(reply) > 5 else None),
                    )
            for job_id in worker.remaining:  # the worker is gone before it began these
                deliver(
                    job_id,
                    JobCanceled(job_id) if job_id in worker.canceled_jobs else NotStarted(job_id),
                )
        finally:
            for job_id, _ in todo:
                self._by_job.pop(job_id, None)
            if worker.remaining:  # interrupted (closing, or a deliver that raised):
                healthy = False  # replies may still come, so this worker is not reused
            worker.remaining = []
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._discard(worker)

    def cancel(self, job_id: str) -> bool:
        """Stop a job: kill its worker if it runs, else make sure it never starts."""
        worker = self._by_job.get(job_id)
        if worker is None:
            self._cancel_requested.add(job_id)
            return False
        worker.canceled_jobs.add(job_id)
        if worker.remaining[:1] == [job_id]:  # it runs now: stop the worker; the rest of
            worker.canceled = True  # its chunk goes back to the queue (NotStarted)
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
