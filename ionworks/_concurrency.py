"""Task groups that raise the SDK's own errors, not ``ExceptionGroup``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

__all__ = ["task_group"]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


@asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """``anyio.create_task_group()`` that re-raises the first real error of its children.

    Concurrent requests fail the way a single request would (``except IonworksError`` works);
    cancellation still propagates as cancellation.
    """
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        cancelled = anyio.get_cancelled_exc_class()
        for leaf in leaves:
            if not isinstance(leaf, cancelled):
                raise leaf from None
        raise leaves[0] from None
