"""A small fault-injecting reverse proxy (aiohttp) for tests, in front of a loopback server.

Each incoming request gets its fault (or none) from a deterministic schedule drawn from a
seed, in arrival order:

- ``5xx_before``: a 503 burst, nothing forwarded (several consecutive requests);
- ``5xx_after``: forwarded (the server acted), then a 502 to the client;
- ``drop_request``: the connection is reset after the request line and headers arrive,
  nothing forwarded;
- ``drop_response``: forwarded, then the status line, headers and half the body are sent and
  the connection is closed (``Content-Length`` promises more);
- ``slow``: held for longer than the client timeout, then forwarded (a late duplicate);
- ``malformed``: forwarded, then 200 with a truncated JSON body (JSON responses only);
- ``429``: ``Too Many Requests`` with ``Retry-After``, nothing forwarded.

Bounded: it listens on 127.0.0.1 only, forwards to a loopback upstream only, and after
``max_requests`` requests or ``max_seconds`` it answers 503 without forwarding.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = ["FAULT_KINDS", "FaultPlan", "FaultProxy"]

FAULT_KINDS = (
    "5xx_before",
    "5xx_after",
    "drop_request",
    "drop_response",
    "slow",
    "malformed",
    "429",
)
HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "accept-encoding",
        "date",
        "server",
    }
)


class FaultPlan:
    """How often and how faults are injected.

    ``rate`` is the chance that a request starts a fault; 5xx faults come in bursts of
    ``burst`` requests (a random length in the range). The first faults cover every kind in
    ``kinds`` once (in a seeded order) so even a short run sees each kind.
    """

    def __init__(
        self,
        seed: int,
        *,
        rate: float = 0.15,
        kinds: tuple[str, ...] = FAULT_KINDS,
        burst: tuple[int, int] = (2, 4),
        slow_seconds: float = 1.5,
        retry_after: str = "0.2",
        max_requests: int = 50_000,
        max_seconds: float = 900.0,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s): {sorted(unknown)}")
        self.seed = seed
        self.rate = rate
        self.kinds = kinds
        self.burst = burst
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self._rng = random.Random(seed)
        self._first = list(kinds)
        self._rng.shuffle(self._first)
        self._burst_left = 0
        self._burst_kind = ""
        self._carry: list[str] = []

    def defer(self, kind: str) -> None:
        """A fault that did not fit its request (e.g. ``malformed`` on a download) moves on to
        the next request."""
        self._carry.append(kind)

    def next_fault(self) -> str | None:
        """The fault of the next request (``None``: forward it untouched)."""
        if self._carry:
            return self._carry.pop(0)
        if self._burst_left > 0:
            self._burst_left -= 1
            return self._burst_kind
        if self._first and self.rate > 0:  # every kind once, first: coverage is certain
            kind = self._first.pop(0)
        elif not self.kinds or self._rng.random() >= self.rate:
            return None
        else:
            kind = self._rng.choice(self.kinds)
        if kind.startswith("5xx"):
            self._burst_left = self._rng.randint(*self.burst) - 1
            self._burst_kind = kind
        return kind


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the fault proxy only forwards to loopback servers, not {url!r}")


class FaultProxy:
    """``async with FaultProxy(upstream, plan) as proxy:`` then point the client at
    ``proxy.url``. ``proxy.counts`` has ``requests``, ``forwarded``, ``faults`` and one entry
    per fault kind."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        _require_loopback(upstream)
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.counts: Counter[str] = Counter()
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._started = 0.0
        self._pending: set[asyncio.Task[Any]] = set()

    @property
    def faults(self) -> int:
        return sum(self.counts[k] for k in FAULT_KINDS)

    def figures(self) -> dict[str, int]:
        return {
            "requests": self.counts["requests"],
            "forwarded": self.counts["forwarded"],
            "faults": self.faults,
            **{k: self.counts[k] for k in FAULT_KINDS},
        }

    async def __aenter__(self) -> FaultProxy:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), auto_decompress=True
        )
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._started = time.monotonic()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, Any, bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        self.counts["forwarded"] += 1
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=headers,
            data=body if body else None,
            allow_redirects=False,
        ) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
            return resp.status, out, payload

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        if (
            self.counts["requests"] > self.plan.max_requests
            or time.monotonic() - self._started > self.plan.max_seconds
        ):
            self.counts["over_budget"] += 1
            return web.json_response({"detail": "fault proxy budget exhausted"}, status=503)
        fault = self.plan.next_fault()
        if fault in ("drop_request", "5xx_before", "429", "slow", "5xx_after"):
            self.counts[fault] += 1
        if fault == "drop_request":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # ends this handler quietly; nothing forwarded
        if fault == "5xx_before":
            return web.json_response({"detail": "injected: service unavailable"}, status=503)
        if fault == "429":
            return web.json_response(
                {"detail": "injected: too many requests"},
                status=429,
                headers={"Retry-After": self.plan.retry_after},
            )
        body = await request.read()
        if fault == "slow":
            await asyncio.sleep(self.plan.slow_seconds)
        # The upstream call runs in its own task: a client that hangs up (timeout, reset)
        # must not cancel a request the server is already processing half-way.
        task = asyncio.ensure_future(self._forward(request, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        status, headers, payload = await asyncio.shield(task)
        if fault == "5xx_after":
            return web.json_response({"detail": "injected: bad gateway"}, status=502)
        is_json = headers.get("Content-Type", "").startswith("application/json")
        if fault == "malformed" and is_json and payload:
            self.counts[fault] += 1
            return web.Response(
                status=200,
                body=payload[: max(1, len(payload) // 2)] + b"\x00<garbage",
                headers={"Content-Type": "application/json"},
            )
        if fault == "malformed" or (fault == "drop_response" and not payload):
            self.plan.defer(fault)  # did not fit this response
        if fault == "drop_response" and payload:
            self.counts[fault] += 1
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = len(payload)
            await resp.prepare(request)
            await resp.write(payload[: len(payload) // 2])
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        return web.Response(status=status, body=payload, headers=headers)
