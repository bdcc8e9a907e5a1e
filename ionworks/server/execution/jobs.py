"""The durable job queue: rows in SQLite, executed by an :class:`Executor`.

pending → running → completed | failed | canceled. On start, jobs left ``running`` by a crash are
put back to ``pending`` (they run after the work submitted since, see ``db/jobs.pending``). A
simulation job is ``completed`` only after its parquet files and metrics are stored. A job that
fails gets an error code (``db/jobs.ERROR_CODES``) and one readable line of error; tracebacks
go to the server's log only (:mod:`ionworks.server.logs`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs
from anyio.abc import TaskGroup

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store
from ionworks.server.execution.executor import Executor, JobCanceled, WorkerError
from ionworks.server.execution.fanout import FanOut, ServerTask
from ionworks.server.logs import log

__all__ = ["JobRunner", "JobType", "worker_error_code"]

#: How :class:`~ionworks.server.execution.executor.ProcessExecutor` words the loss of a worker.

#: Stores a job's result (a coroutine on the event loop; slow I/O goes to a thread).
Handler = Callable[[Store, dict[str, Any], Any], Awaitable[None]]


@attrs.frozen
class JobType:
    """One kind of job: ``run(payload)`` executes it (a picklable worker function, or a
    :class:`ServerTask` that runs here and fans sub-jobs out), ``build_payload(store,
    params)`` makes its input from the stored records when it is dispatched, and
    ``store(store, params, result)`` keeps what it returned."""

    name: str
    run: Callable[[Any], Any] | ServerTask
    build_payload: Callable[[Store, dict[str, Any]], Any]
    store: Handler


class JobRunner:
    """Moves pending jobs to the executor, at most ``capacity`` at a time."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        capacity: int,
        job_types: Mapping[str, JobType],
    ) -> None:
        self.store = store
        self.executor = executor
        self.capacity = capacity
        self.job_types = dict(job_types)
        self._wake = anyio.Event()
        self._running: set[str] = set()
        self._storing = 0  # finished jobs whose results are being stored
        self._fans: dict[str, FanOut] = {}  # running ServerTask jobs
        self._tg: TaskGroup | None = None

    def requeue_interrupted(self) -> int:
        """Jobs that were running when the server stopped go back to pending."""
        return jobs_db.requeue_running(self.store)

    def enqueue(
        self, owner_id: str, job_type: str, params: dict[str, Any], *, priority: int = 5
    ) -> str:
        return jobs_db.enqueue(self.store, owner_id, job_type, params, priority=priority)

    def wake(self) -> None:
        self._wake.set()

    def busy(self) -> bool:
        """Whether a job runs here or waits in the queue."""
        return bool(self._running) or bool(jobs_db.pending(self.store, 1))

    def cancel(self, job_id: str) -> None:
        """Cancel a pending job, or stop a running one."""
        if jobs_db.cancel(self.store, job_id) and job_id in self._running:
            fan = self._fans.get(job_id)
            if fan is not None:
                fan.cancel()
            else:
                self.executor.cancel(job_id)

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Dispatch forever (until cancelled)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            while True:
                self._wake = anyio.Event()
                try:
                    self._dispatch(tg)
                except Exception:  # e.g. "database is locked": log, keep dispatching
                    log.exception("job dispatch failed; retrying")
                with anyio.move_on_after(1.0):
                    await self._wake.wait()

    def _dispatch(self, tg: TaskGroup) -> None:
        # Results still being stored count against the capacity beyond one round of them,
        # so a slow disk holds back new work instead of piling results up in memory.
        free = self.capacity - len(self._running) - max(0, self._storing - self.capacity)
        if free <= 0:
            return
        for row in jobs_db.pending(self.store, free):
            if jobs_db.claim(self.store, row["id"]):
                self._running.add(row["id"])
                tg.start_soon(self._execute, dict(row))

    async def _execute(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        params = json.loads(job["params"])
        try:
            job_type = self.job_types[job["job_type"]]
            func, build_payload, on_result = job_type.run, job_type.build_payload, job_type.store
            payload = build_payload(self.store, params)
            if isinstance(func, ServerTask):  # runs here, its sub-jobs on the executor
                self._fans[job_id] = FanOut(self.executor, job_id)
                result = await func(self._fans[job_id], payload)
            else:
                result = await self.executor.run(job_id, func, payload)
            # The worker is free: dispatch the next job while this result is stored (the job
            # stays "running" until then, and is re-run if the server stops before).
            self._release(job_id)
            if jobs_db.status(self.store, job_id) == "running":
                self._storing += 1
                try:
                    await on_result(self.store, params, result)
                finally:
                    self._storing -= 1
                    self._wake.set()
                self._finish(job_id, "completed", None)
        except JobCanceled:
            pass
        except WorkerError as exc:
            code = worker_error_code(exc)
            log.info("job %s failed [%s]: %s", job_id, code, exc)
            if exc.traceback:
                log.debug("job %s: the worker's traceback:\n%s", job_id, exc.traceback)
            self._safe_finish(job_id, "failed", str(exc), code)
        except Exception as exc:  # a bug in the server: fail the job, keep serving
            log.exception("job %s failed in the server", job_id)
            message = f"internal server error ({type(exc).__name__}: {exc}); see the server log"
            self._safe_finish(job_id, "failed", message, jobs_db.SERVER_ERROR)
        finally:
            self._release(job_id)

    def _release(self, job_id: str) -> None:
        if job_id in self._running:
            self._fans.pop(job_id, None)
            self._running.discard(job_id)
            self._wake.set()

    def _safe_finish(self, job_id: str, status: str, error: str, error_code: str) -> None:
        """Record a failure; if even that fails the job stays ``running`` and is re-queued at
        the next start."""
        try:
            self._finish(job_id, status, error, error_code)
        except Exception:
            log.exception("could not record the end of job %s", job_id)

    def _finish(
        self, job_id: str, status: str, error: str | None, error_code: str | None = None
    ) -> None:
        jobs_db.finish(self.store, job_id, status, error, error_code)


def worker_error_code(exc: WorkerError) -> str:
    """``worker_died`` when the worker went away or broke the protocol, else ``job_failed``:
    the job's function raised."""
    return jobs_db.WORKER_DIED if exc.died else jobs_db.JOB_FAILED
