"""Fan one job's work out over the executor's workers (sub-jobs), from the server process.

A job type whose function is a :class:`ServerTask` runs in the server process instead of a
worker: the :class:`~ionworks.server.execution.jobs.JobRunner` gives it a :class:`FanOut` bound to the
job, and the task submits sub-jobs (``<job id>#<n>``) to the same executor — one at a time
(:meth:`FanOut.run`) or many at once (:meth:`FanOut.map`, e.g. the chunks of an optimizer's
population). Synchronous code (scipy) runs in a thread with :meth:`FanOut.in_thread` and calls
:meth:`FanOut.run_sync` / :meth:`FanOut.map_sync`, which bridge to the event loop.

Cancelling the job (:meth:`FanOut.cancel`) cancels its running and queued sub-jobs, and every
later sub-job is refused with :class:`~ionworks.server.execution.executor.JobCanceled`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

from ionworks.server.execution.executor import Executor, JobCanceled, default_workers

__all__ = ["FanOut", "ServerTask", "chunks"]

T = TypeVar("T")


class FanOut:
    """The sub-jobs of one job on an executor (see the module docstring)."""

    def __init__(self, executor: Executor, job_id: str, width: int | None = None) -> None:
        self.executor = executor
        self.job_id = job_id
        #: How many sub-jobs can usefully run at once (the process pool's size).
        self.width = max(1, width or getattr(executor, "size", None) or default_workers())
        self.canceled = False
        self._active: set[str] = set()
        self._serial = itertools.count(1)

    async def run(self, func: Callable[[Any], T], payload: Any) -> T:
        """``func(payload)`` as a sub-job; raises WorkerError / JobCanceled."""
        if self.canceled:
            raise JobCanceled(self.job_id)
        sub_id = f"{self.job_id}#{next(self._serial)}"
        self._active.add(sub_id)
        try:
            result: T = await self.executor.run(sub_id, func, payload)
            return result
        finally:
            self._active.discard(sub_id)

    async def map(self, func: Callable[[Any], T], payloads: Sequence[Any]) -> list[T]:
        """``[func(p) for p in payloads]`` as concurrent sub-jobs, results in order.

        The first failure cancels the others and is raised (WorkerError / JobCanceled).
        """
        results: list[Any] = [None] * len(payloads)
        errors: list[Exception] = []
        async with anyio.create_task_group() as tg:

            async def one(index: int, payload: Any) -> None:
                try:
                    results[index] = await self.run(func, payload)
                except Exception as exc:
                    errors.append(exc)
                    tg.cancel_scope.cancel()

            for index, payload in enumerate(payloads):
                tg.start_soon(one, index, payload)
        if errors:
            raise errors[0]
        return results

    def run_sync(self, func: Callable[[Any], T], payload: Any) -> T:
        """:meth:`run` from a thread started by :meth:`in_thread`."""
        if self.canceled:
            raise JobCanceled(self.job_id)
        return anyio.from_thread.run(self.run, func, payload)

    def map_sync(self, func: Callable[[Any], T], payloads: Sequence[Any]) -> list[T]:
        """:meth:`map` from a thread started by :meth:`in_thread`."""
        if self.canceled:
            raise JobCanceled(self.job_id)
        return anyio.from_thread.run(self.map, func, list(payloads))

    async def in_thread(self, func: Callable[[], T]) -> T:
        """Run ``func()`` in a thread; cancelling the caller cancels the sub-jobs at once.

        The thread is not waited for after a cancellation: its next (or current) sub-job
        raises JobCanceled, so it ends by itself.
        """
        try:
            return await anyio.to_thread.run_sync(func, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            self.cancel()
            raise

    def cancel(self) -> None:
        """Cancel the running and queued sub-jobs and refuse new ones."""
        self.canceled = True
        for sub_id in list(self._active):
            self.executor.cancel(sub_id)


class ServerTask:
    """A job function run in the server process with a :class:`FanOut` for its sub-jobs.

    ``JobRunner`` awaits ``task(fan, payload)`` instead of ``executor.run(job_id, ...)``;
    the task does its heavy work in sub-jobs (``fan.run`` / ``fan.map``).
    """

    def __init__(self, func: Callable[[FanOut, Any], Awaitable[Any]]) -> None:
        self.func = func
        self.__name__ = getattr(func, "__name__", "server_task")

    async def __call__(self, fan: FanOut, payload: Any) -> Any:
        return await self.func(fan, payload)


def chunks(items: Sequence[T], count: int) -> list[list[T]]:
    """``items`` split into at most ``count`` contiguous, nearly equal, non-empty chunks."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for k in range(count):
        stop = start + size + (1 if k < extra else 0)
        out.append(list(items[start:stop]))
        start = stop
    return [c for c in out if c]
