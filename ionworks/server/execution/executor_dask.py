"""Run engine calls on a Dask distributed cluster (``ionworks serve --executor dask``).

:class:`DaskExecutor` implements the :class:`~ionworks.server.execution.executor.Executor` protocol on
a ``distributed.Client`` connected to an existing scheduler (``--scheduler ADDRESS``; a
``LocalCluster`` in tests). It submits the same worker functions the process pool runs
(``ionworks.server.execution.worker.run_simulation_job`` …), so a Dask worker keeps the engine's
module-level cache of built simulations between tasks, exactly like a pool worker. A worker
plugin imports PyBaMM and the result helpers once per worker when it joins.

Cancelling a job cancels its Dask future: a queued task never starts, and the server stops
waiting for a running one at once (Dask cannot interrupt a running thread; the worker finishes
that task and its result is dropped).

The cluster's workers need ``ionworks[server]`` installed (the same version as the server);
the package is not shipped to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from ionworks.server.execution.executor import Deliver, JobCanceled, WorkerError, not_canceled
from ionworks.server.execution.worker import run_chunk

__all__ = ["DaskExecutor", "WarmUpPlugin"]

PLUGIN_NAME = "ionworks-warm-up"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the Dask executor needs the dask extra: pip install 'ionworks[server,dask]'"
        ) from exc
    return distributed


def _plugin_base() -> type:
    try:
        from distributed import WorkerPlugin
    except ImportError:  # pragma: no cover - the class is only used with distributed
        return object
    return WorkerPlugin


class WarmUpPlugin(_plugin_base()):  # type: ignore[misc]
    """Imports PyBaMM and the result helpers once in each worker (also late joiners)."""

    name = PLUGIN_NAME

    def __init__(self, initializer: str = "ionworks.server.engine.simulate:warm_up") -> None:
        self.initializer = initializer

    def setup(self, worker: Any) -> None:
        import importlib
        import os

        os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
        module, _, name = self.initializer.partition(":")
        getattr(importlib.import_module(module), name)()


class DaskExecutor:
    """Jobs as futures on ``distributed.Client(address)`` (see the module docstring)."""

    #: A task's round trip (server → scheduler → worker → server) costs milliseconds:
    #: chunks of up to 64 jobs, ~0.5 s of work (the process pool's: 16, ~0.2 s).
    max_chunk = 64
    chunk_seconds = 0.5

    def __init__(
        self,
        address: str,
        *,
        initializer: str | None = "ionworks.server.engine.simulate:warm_up",
        connect_timeout: float = 30,
    ) -> None:
        self.address = address
        self._initializer = initializer
        self._timeout = connect_timeout
        self._client: Any = None
        self._connecting: asyncio.Lock | None = None
        self._futures: dict[str, Any] = {}
        self._canceled: dict[str, asyncio.Event] = {}
        self._cancel_requested: set[str] = set()
        # job id -> (its chunk's id, the chunk's jobs, those of them canceled)
        self._chunk_of: dict[str, tuple[str, set[str], set[str]]] = {}
        self._serial = itertools.count()
        self._closed = False

    async def client(self) -> Any:
        """The asynchronous ``distributed.Client`` (connected, plugin registered, on first use)."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                distributed = _import_distributed()
                client = await distributed.Client(
                    self.address,
                    asynchronous=True,
                    timeout=self._timeout,
                    set_as_default=False,
                )
                if self._initializer:
                    await client.register_plugin(WarmUpPlugin(self._initializer), name=PLUGIN_NAME)
                self._client = client
        return self._client

    async def run(self, job_id: str, func: Callable[[Any], Any], payload: Any) -> Any:
        """Run ``func(payload)`` on a Dask worker; raises WorkerError / JobCanceled."""
        if self._closed:
            raise RuntimeError("executor is closed")
        if job_id in self._cancel_requested:
            self._cancel_requested.discard(job_id)
            raise JobCanceled(job_id)
        canceled = self._canceled.setdefault(job_id, asyncio.Event())
        try:
            client = await self.client()
            if canceled.is_set():
                raise JobCanceled(job_id)
            key = f"ionworks-{job_id}-{next(self._serial)}"
            future = client.submit(func, payload, key=key, pure=False, retries=0)
            self._futures[job_id] = future
            waiter = asyncio.ensure_future(self._result(future))
            stopper = asyncio.ensure_future(canceled.wait())
            try:
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(BaseException):
                        await waiter
                    self._cancel_future(future)
            if waiter.cancelled() or not waiter.done():
                raise JobCanceled(job_id)
            return waiter.result()  # or WorkerError / JobCanceled from _result
        finally:
            self._futures.pop(job_id, None)
            self._canceled.pop(job_id, None)

    async def run_chunk(
        self, jobs: Sequence[tuple[str, Any]], func: Callable[[Any], Any], deliver: Deliver
    ) -> None:
        """Run the jobs as one Dask task (one round trip for several simulations); every
        job's outcome goes to ``deliver`` when the task ends (see
        ``ProcessExecutor.run_chunk``). Cancelling a job drops its result; cancelling all of
        them cancels the task. A task that fails as a whole fails each of its jobs."""
        todo = not_canceled(jobs, self._cancel_requested, deliver)
        if not todo:
            return
        chunk_id = f"chunk-{next(self._serial)}"
        members, canceled = {job_id for job_id, _ in todo}, set[str]()
        for job_id in members:
            self._chunk_of[job_id] = (chunk_id, members, canceled)
        try:
            try:
                outcomes = await self.run(chunk_id, run_chunk, (func, [p for _, p in todo]))
            except (JobCanceled, WorkerError) as exc:
                for job_id, _ in todo:
                    lost = isinstance(exc, JobCanceled) or job_id in canceled
                    deliver(job_id, JobCanceled(job_id) if lost else WorkerError(str(exc)))
                return
            for (job_id, _), (status, value) in zip(todo, outcomes, strict=True):
                if job_id in canceled:
                    deliver(job_id, JobCanceled(job_id))
                else:
                    deliver(job_id, value if status == "ok" else WorkerError(value))
        finally:
            for job_id in members:
                self._chunk_of.pop(job_id, None)

    async def _result(self, future: Any) -> Any:
        distributed = _import_distributed()
        try:
            return await future
        except (asyncio.CancelledError, JobCanceled):
            raise
        except distributed.client.FutureCancelledError as exc:
            raise JobCanceled(str(exc)) from exc
        except Exception as exc:  # the job's function raised on the worker
            raise WorkerError(str(exc) or type(exc).__name__) from exc

    def _cancel_future(self, future: Any) -> None:
        try:
            pending = future.cancel(reason="job canceled")
        except Exception:  # the client may already be closing
            return
        if inspect.isawaitable(pending):
            task = asyncio.ensure_future(pending)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def cancel(self, job_id: str) -> bool:
        """Cancel a job's future; a job not submitted yet never starts."""
        chunk = self._chunk_of.get(job_id)
        if chunk is not None:
            chunk_id, members, canceled = chunk
            canceled.add(job_id)
            return self.cancel(chunk_id) if canceled >= members else True
        event = self._canceled.get(job_id)
        future = self._futures.get(job_id)
        if event is None:
            self._cancel_requested.add(job_id)
            return False
        event.set()
        if future is not None:
            self._cancel_future(future)
        return future is not None

    async def aclose(self) -> None:
        self._closed = True
        for event in list(self._canceled.values()):
            event.set()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                futures = list(self._futures.values())
                if futures:
                    await client.cancel(futures)
            await asyncio.shield(client.close())
