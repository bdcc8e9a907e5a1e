"""The event-loop thread behind the sync facade (hand-written; not generated).

Each sync client owns one :class:`PortalThread`: a daemon thread running an asyncio loop with an
anyio ``BlockingPortal``. Every sync call is submitted to that loop, so the async client and its
single aiohttp session live on one loop, the facade works inside a running event loop (Jupyter)
and from several threads, and a script that never closes its client still exits: the thread is a
daemon and an ``atexit`` hook closes the client first.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import CancelledError
from typing import Any, TypeVar, cast

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["PortalThread", "shutdown"]

T = TypeVar("T")

#: How long closing a client waits for calls still running in other threads.
STOP_GRACE_S = 10.0


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


class _Call:
    """One sync call: started on the loop thread, waited for by the caller.

    The coroutine runs as a plain asyncio task inside an anyio cancel scope, so a cancel
    (Ctrl-C in the caller) is delivered the anyio way: shielded sections finish first. The
    caller waits on a bare lock, the cheapest hand-off between threads (~80 µs a call).
    """

    __slots__ = ("args", "done", "error", "finished", "func", "result", "scope", "task")

    def __init__(self, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        self.func, self.args = func, args
        self.done = threading.Lock()
        self.done.acquire()  # released when the call has finished
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.scope: anyio.CancelScope | None = None
        self.task: asyncio.Task[Any] | None = None

    def start(self) -> None:  # on the loop thread
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        # The outcome is handed over here, not in a done callback: one loop turn sooner.
        try:
            with anyio.CancelScope() as scope:
                self.scope = scope
                self.result = await self.func(*self.args)
            if scope.cancelled_caught:
                self.error = CancelledError("the call was cancelled")
        except asyncio.CancelledError:  # cancelled from outside (the loop shutting down)
            self.error = CancelledError("the call was cancelled")
            raise
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished = True
            self.done.release()

    def cancel(self) -> None:  # on the loop thread
        if self.scope is not None:
            self.scope.cancel()
        elif self.task is not None:  # not started yet: it never will
            self.task.cancel()
            self.error = CancelledError("the call was cancelled")
            self.finished = True
            self.done.release()


class PortalThread:
    """A daemon thread with an event loop, and a portal to run coroutines on it."""

    def __init__(self, name: str = "ionworks-portal") -> None:
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[_Call] = set()
        self._error: BaseException | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("could not start the ionworks event-loop thread") from self._error

    def _run(self) -> None:
        async def main() -> None:
            async with BlockingPortal() as portal:
                self._loop = asyncio.get_running_loop()
                self._portal = portal
                self._ready.set()
                await portal.sleep_until_stopped()

        try:
            anyio.run(main, backend="asyncio")
        except BaseException as exc:  # pragma: no cover - loop start failure
            self._error = exc
        finally:
            self._ready.set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def call(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait for it. Ctrl-C cancels the call promptly."""
        if self._loop is None or self._stopped:
            raise RuntimeError("this client is closed; create a new one")
        if self.on_loop_thread():
            raise RuntimeError(
                "a sync ionworks client cannot be called from its own event-loop thread "
                "(inside a coroutine, use AsyncIonworks)"
            )
        call = _Call(func, args)
        loop = self._loop
        self._inflight.add(call)
        try:
            loop.call_soon_threadsafe(call.start)
            # A bounded wait in a loop: an unbounded lock wait would defer Ctrl-C until the
            # call finished.
            while not call.done.acquire(timeout=0.1):
                pass
        except BaseException:  # KeyboardInterrupt, SystemExit
            if not call.finished:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(call.cancel)
            raise
        finally:
            self._inflight.discard(call)
        if call.error is not None:
            raise call.error
        return cast(T, call.result)

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator from this thread, one item per portal call."""
        try:
            while True:
                try:
                    item = self.call(_next, agen)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not self._stopped:
                self.call(aclose)

    def stop(self, before: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Stop the loop and join the thread (idempotent). On the loop's own thread (a
        finalizer run by garbage collection there) ``before()`` and the stop are scheduled
        instead."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        portal = self._portal
        if self.on_loop_thread():
            if portal is not None:

                async def close_then_stop() -> None:
                    with contextlib.suppress(Exception):
                        if before is not None:
                            await before()
                    await portal.stop()

                asyncio.get_running_loop().create_task(close_then_stop())
            return
        # Calls still running in other threads may finish (bounded) before the loop stops.
        deadline = time.monotonic() + STOP_GRACE_S
        while any(not c.finished for c in list(self._inflight)) and time.monotonic() < deadline:
            time.sleep(0.01)
        if portal is not None and self._thread.is_alive():
            try:
                portal.call(portal.stop)
            except RuntimeError:  # the loop is already gone
                pass
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)


def shutdown(async_client: Any, portal: PortalThread) -> None:
    """Close the async client on its loop, then stop the loop (idempotent, never raises).

    Used as a ``weakref.finalize`` callback: it runs on ``close()``, when the sync client is
    garbage-collected, or at interpreter exit, whichever comes first.
    """
    if portal.stopped:
        return
    if portal.on_loop_thread():
        portal.stop(before=async_client.aclose)
        return
    try:
        portal.call(async_client.aclose)
    except Exception:  # best effort: the loop may already be gone
        pass
    finally:
        portal.stop()
