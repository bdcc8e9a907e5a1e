"""Executors run engine calls away from the event loop.

:class:`ProcessExecutor` keeps ``workers`` long-lived worker processes (PyBaMM is imported once
per worker, built simulations are cached per worker). Each job runs in one worker; cancelling a
running job terminates that worker and starts a fresh one, so cancellation takes effect at once.
The interface (:class:`Executor`) is what a Dask-based executor implements too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Protocol

import anyio
import anyio.to_thread

__all__ = ["Executor", "JobCanceled", "ProcessExecutor", "WorkerError", "default_workers"]


class WorkerError(Exception):
    """The job's function raised; ``str()`` is the original error text."""


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


def _worker_main(conn: Connection, initializer: Callable[[], None] | None) -> None:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    if initializer is not None:
        initializer()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        func, payload = message
        result: tuple[Any, ...]
        try:
            result = ("ok", func(payload))
        except BaseException as exc:
            text = str(exc) or type(exc).__name__
            result = ("error", f"{text}", traceback.format_exc(limit=5))
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx: Any, initializer: Callable[[], None] | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, initializer), daemon=True)
        self.process.start()
        child.close()
        self.job_id: str | None = None
        self.canceled = False

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ProcessExecutor:
    """A pool of long-lived worker processes (spawned, so the server's threads are safe)."""

    def __init__(
        self, workers: int | None = None, initializer: Callable[[], None] | None = None
    ) -> None:
        self._ctx = mp.get_context("spawn")
        self._initializer = initializer
        self.size = workers or default_workers()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._by_job: dict[str, _Worker] = {}
        self._slots = anyio.Semaphore(self.size)
        self._closed = False

    def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            self._discard(worker)
        worker = _Worker(self._ctx, self._initializer)
        self._all.append(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._all:
            self._all.remove(worker)

    def start(self) -> None:
        """Start all workers now (otherwise they start on first use)."""
        while len(self._all) < self.size:
            worker = _Worker(self._ctx, self._initializer)
            self._all.append(worker)
            self._idle.append(worker)

    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any:
        """Run ``func(payload)`` in a worker; raises WorkerError / JobCanceled."""
        if self._closed:
            raise RuntimeError("executor is closed")
        async with self._slots:
            worker = self._take()
            worker.job_id, worker.canceled = job_id, False
            self._by_job[job_id] = worker
            healthy = False
            try:
                worker.conn.send((func, payload))
                reply = await anyio.to_thread.run_sync(worker.conn.recv, abandon_on_cancel=True)
                healthy = True
            except (EOFError, OSError, BrokenPipeError) as exc:
                if worker.canceled:
                    raise JobCanceled(job_id) from exc
                raise WorkerError(
                    f"the worker process died (exit code {worker.process.exitcode})"
                ) from exc
            finally:
                self._by_job.pop(job_id, None)
                worker.job_id = None
                if healthy and not self._closed:
                    self._idle.append(worker)
                else:
                    self._discard(worker)
        if reply[0] == "ok":
            return reply[1]
        raise WorkerError(reply[1])

    def cancel(self, job_id: str) -> bool:
        """Stop a running job by terminating its worker. False if it is not running here."""
        worker = self._by_job.get(job_id)
        if worker is None:
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
                worker.process.join(timeout=2)
                worker.kill()

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stop_all)
