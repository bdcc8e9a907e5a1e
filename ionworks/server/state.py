"""The one object a running server keeps under its aiohttp application: :class:`ServerState`.

Handlers reach the store, the job runner, the configuration and the limits through
``state(request)``; nothing of a server lives in module globals, so several servers (tests, an
embedded server beside ``ionworks serve``) run in one process without sharing anything.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import attrs
from aiohttp import web

from ionworks.server.config import ServerConfig
from ionworks.server.db.store import Store
from ionworks.server.execution.jobs import JobRunner
from ionworks.server.limits import Limits

__all__ = ["STATE", "Activity", "ServerState", "limits", "state"]


@attrs.define
class Activity:
    """Requests under way and when the last one ended (for the daemon's idle stop)."""

    in_flight: int = 0
    last: float = attrs.field(factory=time.monotonic)

    def begin(self) -> None:
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight -= 1
        self.last = time.monotonic()


@attrs.define(eq=False)
class ServerState:
    """Everything one server instance owns."""

    config: ServerConfig
    store: Store
    runner: JobRunner
    #: POST/PATCH requests under way per (owner, Idempotency-Key): duplicates wait for them.
    inflight: dict[tuple[str, str], asyncio.Future[None]] = attrs.field(factory=dict)
    activity: Activity = attrs.field(factory=Activity)

    def idle_for(self) -> float:
        """Seconds since the server last had a request under way or a job queued or running
        (0 while it has)."""
        if self.activity.in_flight or self.runner.busy():
            self.activity.last = time.monotonic()
            return 0.0
        return time.monotonic() - self.activity.last

    @property
    def limits(self) -> Limits:
        return self.config.limits


#: The application's :class:`ServerState` (set by ``create_app``).
STATE: Final = web.AppKey("state", ServerState)


def state(request: web.Request) -> ServerState:
    """The state of the server answering ``request``."""
    return request.app[STATE]


def limits(request: web.Request) -> Limits:
    """The limits of the server answering ``request``."""
    return state(request).limits
