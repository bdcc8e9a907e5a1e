"""The durable job queue: rows in SQLite, executed by an :class:`Executor`.

pending → running → completed | failed | canceled. On start, jobs left ``running`` by a crash are
put back to ``pending`` (they run after the work submitted since, see ``db/jobs.pending``). A
simulation job is ``completed`` only after its parquet files and metrics are stored. Job types
with a ``store_group`` (simulations) are claimed several at a time in dispatch order and run as
chunks (one worker round trip each, :meth:`ProcessExecutor.run_chunk`); their results are stored
in groups: all files synced, then one transaction records them and completes those jobs. A job that
fails gets an error code (``db/jobs.ERROR_CODES``) and one readable line of error; tracebacks
go to the server's log only (:mod:`ionworks.server.logs`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import anyio
import attrs
from anyio.abc import TaskGroup

from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store
from ionworks.server.execution.executor import Executor, JobCanceled, NotStarted, WorkerError
from ionworks.server.execution.fanout import FanOut, ServerTask
from ionworks.server.logs import log

__all__ = ["JobRunner", "JobType", "worker_error_code"]

#: How :class:`~ionworks.server.execution.executor.ProcessExecutor` words the loss of a worker.

#: Stores a job's result (a coroutine on the event loop; slow I/O goes to a thread).
Handler = Callable[[Store, dict[str, Any], Any], Awaitable[None]]
#: Stores the results of several jobs, ``(job_id, params, result)``: their files durably
#: first, then in one transaction their records and the jobs' ``completed`` status.
GroupHandler = Callable[[Store, Sequence[tuple[str, dict[str, Any], Any]]], Awaitable[None]]

#: Most jobs one worker gets per round trip (a chunk), and most results stored per group.
MAX_CHUNK: Final = 16
MAX_GROUP: Final = 64
#: A chunk holds about this many seconds of work (by the job type's measured time per job),
#: so queued work of higher priority waits at most about that long for a free worker.
CHUNK_SECONDS: Final = 0.2
#: While chunks run, a group of results waits up to this long for :data:`GROUP_FILL`
#: results (each group costs a filesystem sync: ~5 ms of the kernel's time).
GROUP_WAIT: Final = 0.025
GROUP_FILL: Final = 16


@attrs.frozen
class JobType:
    """One kind of job: ``run(payload)`` executes it (a picklable worker function, or a
    :class:`ServerTask` that runs here and fans sub-jobs out), ``build_payload(store,
    params)`` makes its input from the stored records when it is dispatched, and
    ``store(store, params, result)`` keeps what it returned. A type with ``store_group``
    runs in chunks (several jobs per worker round trip, on executors that have
    ``run_chunk``) and stores results in groups (see :data:`GroupHandler`)."""

    name: str
    run: Callable[[Any], Any] | ServerTask
    build_payload: Callable[[Store, dict[str, Any]], Any]
    store: Handler
    store_group: GroupHandler | None = None


class JobRunner:
    """Moves pending jobs to the executor, at most ``capacity`` dispatches at a time."""

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
        self._dispatches = 0  # executor calls under way (a chunk counts once)
        self._storing = 0  # finished jobs whose results are being stored
        self._results: list[tuple[JobType, str, dict[str, Any], Any]] = []
        self._results_ready = anyio.Event()
        self._seconds: dict[str, float] = {}  # measured seconds per job, by job type
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
        """Cancel a pending or running job (running: stop it, or drop its result)."""
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
            tg.start_soon(self._store_groups)
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
        # Results still being stored count against the capacity beyond a few rounds of them,
        # so a slow disk holds back new work instead of piling results up in memory.
        most = self._max_chunk
        backlog = max(0, self._storing - self.capacity * most) // most
        free = self.capacity - self._dispatches - backlog
        if free <= 0:
            return
        chunked = hasattr(self.executor, "run_chunk")
        rows = jobs_db.pending(self.store, free * (most if chunked else 1))
        for group in self._chunks(rows, free, chunked):
            claimed = set(jobs_db.claim_many(self.store, [row["id"] for row in group]))
            jobs = [dict(row) for row in group if row["id"] in claimed]
            if not jobs:
                continue
            self._running.update(claimed)
            self._dispatches += 1
            job_type = self.job_types.get(jobs[0]["job_type"])
            if len(group) > 1 or (job_type is not None and job_type.store_group and chunked):
                assert job_type is not None
                tg.start_soon(self._execute_chunk, job_type, jobs)
            else:
                tg.start_soon(self._execute, jobs[0])

    def _chunks(self, rows: list[Any], free: int, chunked: bool) -> list[list[Any]]:
        """At most ``free`` dispatches of ``rows`` (in dispatch order): consecutive jobs of a
        type with ``store_group`` share a chunk, sized to spread the queue over the free
        workers and to hold about :data:`CHUNK_SECONDS` of work."""
        groups: list[list[Any]] = []
        room = 0  # how many more jobs the last group takes
        for row in rows:
            if groups and room > 0 and groups[-1][0]["job_type"] == row["job_type"]:
                if self._chunk_size(row, len(rows) // free) > 1:
                    groups[-1].append(row)
                    room -= 1
                    continue
            if len(groups) == free:
                break
            groups.append([row])
            room = self._chunk_size(row, len(rows) // free, chunked) - 1
        return groups

    def _chunk_size(self, row: Any, share: int, chunked: bool = True) -> int:
        """How many jobs a chunk starting with ``row`` holds: 1 for job types without
        ``store_group`` and for re-attempts (interrupted by a stop, maybe its cause)."""
        job_type = self.job_types.get(row["job_type"])
        if not (chunked and job_type and job_type.store_group) or row["attempts"]:
            return 1
        seconds = getattr(self.executor, "chunk_seconds", CHUNK_SECONDS)
        per_job = self._seconds.get(job_type.name, seconds / 2)  # unknown: 2 a chunk
        return max(1, min(self._max_chunk, share, int(seconds / max(per_job, 1e-4))))

    @property
    def _max_chunk(self) -> int:
        """Most jobs a chunk holds (an executor may ask for more: a Dask task costs more)."""
        return int(getattr(self.executor, "max_chunk", MAX_CHUNK))

    async def _execute_chunk(self, job_type: JobType, jobs: list[dict[str, Any]]) -> None:
        """Run a chunk of jobs of one type in one worker; results go to :meth:`_store_groups`."""
        params: dict[str, dict[str, Any]] = {}
        items = []
        try:
            for job in jobs:
                try:
                    params[job["id"]] = json.loads(job["params"])
                    items.append((job["id"], job_type.build_payload(self.store, params[job["id"]])))
                except Exception as exc:
                    self._failed(job["id"], exc)
            ends = [time.monotonic()]  # the chunk's start, then each job's end

            def deliver(job_id: str, outcome: Any) -> None:
                ends.append(time.monotonic())
                self._outcome(job_type, job_id, params[job_id], outcome)

            await self.executor.run_chunk(items, job_type.run, deliver)  # type: ignore[attr-defined]
            self._measured(job_type.name, ends)
        except Exception as exc:  # a bug in the server: fail what is left, keep serving
            for job_id, _ in items:
                if job_id in self._running:
                    self._failed(job_id, exc)
        finally:
            self._dispatches -= 1
            for job in jobs:
                self._release(job["id"])
            self._wake.set()

    def _measured(self, name: str, ends: list[float]) -> None:
        """Update the job type's seconds per job from one chunk's reply times: without the
        first job (it may pay for building a model) when replies came one by one; from the
        whole chunk when they came together (a Dask task)."""
        count = len(ends) - 1
        if count < 1:
            return
        total, rest = ends[-1] - ends[0], ends[-1] - ends[1]
        per_job = total / count
        if count > 1 and rest >= 0.001 * (count - 1):  # replies one by one: not the first
            per_job = rest / (count - 1)
        previous = self._seconds.get(name, per_job)
        self._seconds[name] = 0.5 * previous + 0.5 * per_job

    def _outcome(
        self, job_type: JobType, job_id: str, params: dict[str, Any], outcome: Any
    ) -> None:
        """One job of a chunk ended in its worker (see ``ProcessExecutor.run_chunk``)."""
        self._release(job_id)
        if isinstance(outcome, JobCanceled):
            return
        if isinstance(outcome, NotStarted):
            jobs_db.unclaim(self.store, job_id)
        elif isinstance(outcome, BaseException):
            self._failed(job_id, outcome)
        else:  # stays "running" until its result is stored (re-run if the server stops first)
            self._storing += 1
            self._results.append((job_type, job_id, params, outcome))
            self._results_ready.set()

    async def _store_groups(self) -> None:
        """Store finished results in groups: whatever arrived while the last group was
        written makes the next one, and while chunks still run, up to :data:`GROUP_WAIT`
        more (one sync, one transaction and one thread hop per group)."""
        while True:
            await self._results_ready.wait()
            if self._dispatches and len(self._results) < GROUP_FILL:
                # more results are on their way: gather a few (one sync for all of them)
                with anyio.move_on_after(GROUP_WAIT):
                    while len(self._results) < GROUP_FILL:
                        self._results_ready = anyio.Event()
                        await self._results_ready.wait()
            self._results_ready = anyio.Event()
            while self._results:
                batch, self._results = self._results[:MAX_GROUP], self._results[MAX_GROUP:]
                job_type = batch[0][0]
                same = [item for item in batch if item[0] is job_type]
                self._results = [item for item in batch if item[0] is not job_type] + self._results
                try:
                    assert job_type.store_group is not None
                    await job_type.store_group(self.store, [item[1:] for item in same])
                except Exception as exc:
                    for _, job_id, _, _ in same:
                        self._failed(job_id, exc)
                finally:
                    self._storing -= len(same)
                    self._wake.set()

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
            self._release(job_id, dispatch=True)
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
        except Exception as exc:
            self._failed(job_id, exc)
        finally:
            self._release(job_id, dispatch=True)

    def _failed(self, job_id: str, exc: BaseException) -> None:
        """Record a job's failure: the worker's error, or a server bug (logged)."""
        if isinstance(exc, WorkerError):
            code = worker_error_code(exc)
            log.info("job %s failed [%s]: %s", job_id, code, exc)
            if exc.traceback:
                log.debug("job %s: the worker's traceback:\n%s", job_id, exc.traceback)
            self._safe_finish(job_id, "failed", str(exc), code)
            return
        log.error("job %s failed in the server", job_id, exc_info=exc)
        message = f"internal server error ({type(exc).__name__}: {exc}); see the server log"
        self._safe_finish(job_id, "failed", message, jobs_db.SERVER_ERROR)

    def _release(self, job_id: str, *, dispatch: bool = False) -> None:
        if job_id in self._running:
            self._fans.pop(job_id, None)
            self._running.discard(job_id)
            if dispatch:  # a single job's dispatch ends with it
                self._dispatches -= 1
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
