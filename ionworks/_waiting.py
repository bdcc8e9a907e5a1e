"""The polling engine: wait on many resources with few requests, honouring cancellation.

A *fetcher* takes the ids that are still pending and returns the outcome of those that reached
a terminal state. Simulations use one bulk status request per 1,000 ids per interval; other
resources are fetched concurrently (bounded) in one task group. No task group stays open across
a ``yield``, so the iterators are safe to drive from the sync facade's portal.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, Final, TypeVar

import anyio
from attrs import frozen

from ionworks._concurrency import task_group
from ionworks.errors import JobFailedError

__all__ = [
    "Outcome",
    "Progress",
    "WaitTimeout",
    "failure_error",
    "gather_limited",
    "id_list",
    "poll_outcomes",
    "wait_all",
]

T = TypeVar("T")
R = TypeVar("R")


@frozen
class Outcome:
    """A resource that reached a terminal state (``error_code``: the server's code of a
    failure, when it is not in ``record``)."""

    id: str
    failed: bool
    record: Any
    status: str = "completed"
    error: str | None = None
    error_code: str | None = None

    @property
    def code(self) -> str:
        """The failure's code: the server's ``error_code`` (here or in the record), else the
        status (``failed``/``canceled``)."""
        if self.error_code:
            return self.error_code
        record = self.record
        code = record.get("error_code") if isinstance(record, dict) else None
        code = code or getattr(record, "error_code", None)
        return str(code) if code else self.status


Fetcher = Callable[[list[str]], Awaitable[list[Outcome]]]


class WaitTimeout(TimeoutError):
    """The wait ran out of time. A builtin ``TimeoutError``.

    ``pending`` lists the ids that had not finished; ``results`` maps each finished id to its
    record (failed ones included when ``raise_on_failure=False``).
    """

    def __init__(self, message: str, pending: list[str], results: dict[str, Any]) -> None:
        super().__init__(message)
        self.pending = pending
        self.results = results


def id_list(value: object, name: str) -> list[str]:
    """The ids of an argument that takes one id or several: a ``str`` is one id (never its
    characters), a list or tuple holds ids; anything else is a ``TypeError`` naming ``name``.
    Ids are non-empty strings."""
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise TypeError(
            f"{name} must be an id (str) or a list or tuple of ids, got {type(value).__name__}"
        )
    for index, item in enumerate(items):
        where = name if isinstance(value, str) else f"{name}[{index}]"
        if not isinstance(item, str):
            raise TypeError(f"{where} must be an id (str), got {type(item).__name__}: {item!r}")
        if not item:
            raise ValueError(f"{where} is an empty string; expected an id")
    return [str(item) for item in items]


def check_wait_times(timeout: float | None, poll_interval: float) -> None:
    """``timeout``: ``None`` or seconds >= 0 (``inf``: no limit); ``poll_interval``: finite
    seconds >= 0. Otherwise a ``ValueError`` (``TypeError`` for what is not a number)."""
    if timeout is not None:
        _check_seconds("timeout", timeout, "a number of seconds >= 0 or None")
    _check_seconds("poll_interval", poll_interval, "a finite number of seconds >= 0")
    if math.isinf(poll_interval):
        raise ValueError(
            f"poll_interval must be a finite number of seconds >= 0, got {poll_interval!r}"
        )


def _check_seconds(name: str, value: object, expected: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


async def gather_limited(
    func: Callable[[T], Awaitable[R]], items: Sequence[T], *, limit: int = 16
) -> list[R]:
    """Run ``func`` over ``items`` concurrently (at most ``limit`` at once); results in order.

    ``limit`` tasks take the items in order from one shared iterator (cheaper than a task
    per item waiting on a limiter: ~0.1 ms less per item); the first error cancels the rest.
    """
    results: list[Any] = [None] * len(items)
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:  # the loop's one thread: each item is taken once
            results[index] = await func(item)

    async with task_group() as tg:
        for _ in range(min(limit, len(items))):
            tg.start_soon(worker)
    return results


class Progress:
    """A tqdm bar on a terminal, otherwise one status line whenever the counts change."""

    def __init__(self, kind: str, total: int, enabled: bool, action: str = "Waiting for") -> None:
        self._kind = kind
        self._total = total
        self._enabled = enabled
        self._bar: Any = None
        self._last: tuple[int, int] | None = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=f"{action} {kind}", unit=kind.rstrip("s"))

    def update(self, done: int, failed: int) -> None:
        if not self._enabled or self._last == (done, failed):
            return
        self._last = (done, failed)
        if self._bar is not None:
            self._bar.n = done + failed
            self._bar.set_postfix(failed=failed, refresh=False)
            self._bar.refresh()
        else:
            pending = self._total - done - failed
            print(
                f"{self._kind}: {done}/{self._total} completed, {failed} failed, {pending} pending",
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


#: Ids a status query asks for while more are pending, and how often it asks for all of
#: them (see :func:`poll_outcomes`).
POLL_WINDOW: Final = 1000
FULL_POLL_EVERY: Final = 10


async def poll_outcomes(
    ids: Sequence[str],
    fetch: Fetcher,
    *,
    timeout: float | None,
    poll_interval: float,
    kind: str = "resources",
) -> AsyncGenerator[Outcome, None]:
    """Yield each id's outcome as soon as it is terminal; raise :class:`WaitTimeout` on timeout.

    The first status query is made immediately; later ones every ``poll_interval`` seconds.
    While more than :data:`POLL_WINDOW` ids are pending, a query asks for the first
    :data:`POLL_WINDOW` of them (in the order given: a sweep's jobs run in that order) and
    every :data:`FULL_POLL_EVERY`-th for all, so a poll's cost stays bounded however long
    the list (an id finishing out of order is seen at the next full query).
    """
    check_wait_times(timeout, poll_interval)
    pending = list(dict.fromkeys(ids))
    finished: dict[str, Any] = {}
    deadline = None if timeout is None else anyio.current_time() + timeout
    polls = 0
    while pending:
        outcomes: list[Outcome] = []
        remaining = None if deadline is None else deadline - anyio.current_time()
        if remaining is not None and remaining <= 0:
            break
        full = polls % FULL_POLL_EVERY == 0
        polls += 1
        with anyio.move_on_after(remaining) as scope:
            outcomes = await fetch(list(pending if full else pending[:POLL_WINDOW]))
        if scope.cancelled_caught:
            break
        done_ids = {o.id for o in outcomes}
        pending = [i for i in pending if i not in done_ids]
        for outcome in outcomes:
            finished[outcome.id] = outcome.record
            yield outcome
        if not pending:
            return
        remaining = None if deadline is None else deadline - anyio.current_time()
        if remaining is not None and remaining <= 0:
            break
        await anyio.sleep(poll_interval if remaining is None else min(poll_interval, remaining))
    if pending:
        shown = ", ".join(pending[:10]) + (
            f" … (+{len(pending) - 10} more)" if len(pending) > 10 else ""
        )
        raise WaitTimeout(
            f"{len(pending)} of {len(dict.fromkeys(ids))} {kind} did not finish within "
            f"{timeout} seconds: {shown}",
            pending,
            finished,
        )


def failure_message(label: str, failures: list[Outcome]) -> str:
    """``"Simulation <id> failed [job_failed]: <the server's message>"`` (one failure; the
    code in brackets when it says more than the status), else one such line per failure
    under a count."""

    def describe(f: Outcome) -> str:
        code = "" if f.code == f.status else f" [{f.code}]"
        return f"{f.status}{code}: {f.error or 'unknown error'}"

    if len(failures) == 1:
        return f"{label} {failures[0].id} {describe(failures[0])}"
    lines = [f"  {f.id}: {describe(f)}" for f in failures]
    return f"{len(failures)} {label.lower()}(s) failed:\n" + "\n".join(lines)


def failure_error(label: str, failures: list[Outcome]) -> JobFailedError:
    """The :class:`JobFailedError` for these failures (``label``: ``"Simulation"`` …): their
    records, the first one's code and :func:`failure_message`."""
    return JobFailedError(
        failure_message(label, failures),
        [f.record for f in failures],
        error_code=failures[0].code if failures else None,
    )


async def wait_all(
    ids: Sequence[str],
    fetch: Fetcher,
    *,
    timeout: float | None,
    poll_interval: float,
    verbose: bool,
    raise_on_failure: bool,
    label: str,
) -> list[Any]:
    """Wait until every id is terminal; records in input order.

    A failed/canceled resource raises :class:`JobFailedError` at once when ``raise_on_failure``;
    otherwise its record is returned in place. On timeout :class:`WaitTimeout` carries the
    finished records.
    """
    unique = list(dict.fromkeys(ids))
    records: dict[str, Any] = {}
    failed = 0
    progress = Progress(f"{label.lower()}s", len(unique), verbose)
    try:
        outcomes = poll_outcomes(
            unique, fetch, timeout=timeout, poll_interval=poll_interval, kind=f"{label.lower()}s"
        )
        async with aclosing(outcomes):
            async for outcome in outcomes:
                if outcome.failed:
                    failed += 1
                    if raise_on_failure:
                        raise failure_error(label, [outcome])
                records[outcome.id] = outcome.record
                progress.update(len(records) - failed, failed)
    except WaitTimeout as exc:
        exc.results = dict(records)
        raise
    finally:
        progress.close()
    return [records[i] for i in ids]


def record_fetcher(get: Callable[[str], Awaitable[Any]], *, limit: int = 16) -> Fetcher:
    """A fetcher for resources without a bulk status endpoint: one GET per pending id,
    concurrently (at most ``limit`` at once). Terminal/failed are the server's flags."""

    async def fetch(ids: list[str]) -> list[Outcome]:
        records = await gather_limited(get, ids, limit=limit)
        return [
            Outcome(
                i,
                bool(r.is_failed),
                r,
                str(r.status),
                getattr(r, "error", None),
                getattr(r, "error_code", None),
            )
            for i, r in zip(ids, records, strict=True)
            if r.is_terminal
        ]

    return fetch


async def wait_records(
    record_id: str | Sequence[str],
    get: Callable[[str], Awaitable[Any]],
    *,
    timeout: float | None,
    poll_interval: float,
    verbose: bool,
    raise_on_failure: bool,
    label: str,
    argument: str = "record_id",
) -> Any:
    """``wait_for_completion`` for pipelines and simple pipelines (one id or many)."""
    ids = id_list(record_id, argument)
    records = await wait_all(
        ids,
        record_fetcher(get),
        timeout=timeout,
        poll_interval=poll_interval,
        verbose=verbose,
        raise_on_failure=raise_on_failure,
        label=label,
    )
    return records[0] if isinstance(record_id, str) else records
