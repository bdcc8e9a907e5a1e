"""Concurrent ``get_result`` calls, coalesced: one ``POST /simulations/results`` for many.

Our local server answers up to 64 results in one request (the ``result-bundles``
capability). :class:`ResultBatcher` gathers the ids that concurrent callers ask for within
one turn of the event loop and sends them together; no task runs in the background: the
first caller whose id is still waiting sends the request for everyone waiting (up to
:data:`BATCH` ids), the others wait for their share. An id the batch cannot answer (an error
part of any kind, or a batch that failed or was cancelled) comes back as ``None``, and its
caller asks for it alone, so errors are exactly those of a single request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio.lowlevel

from ionworks.resources._requests import Requests

__all__ = ["BATCH", "ResultBatcher", "Trio"]

#: Most ids per request (the server takes 64; smaller batches start decoding sooner).
BATCH = 32
#: ``(time_series bytes, steps bytes, metrics)`` of one result.
Trio = tuple[bytes, bytes, dict[str, Any]]


class _Ticket:
    __slots__ = ("future", "sid")

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.future: asyncio.Future[Trio | None] = asyncio.get_running_loop().create_future()


class ResultBatcher:
    """See the module docstring; one per client resource."""

    def __init__(self, api: Requests) -> None:
        self._api = api
        self._waiting: list[_Ticket] = []

    async def get(self, sid: str, accept: str | None) -> Trio | None:
        """The result of ``sid`` from a batch, or ``None``: ask for it alone."""
        ticket = _Ticket(sid)
        self._waiting.append(ticket)
        try:
            await anyio.lowlevel.checkpoint()  # the other callers of this turn queue theirs
        except BaseException:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            raise
        if ticket in self._waiting:  # nobody took it meanwhile: send it, and those after it
            at = self._waiting.index(ticket)
            batch = self._waiting[at : at + BATCH]
            del self._waiting[at : at + BATCH]
            await self._send(batch, accept)
        return await ticket.future

    async def _send(self, batch: list[_Ticket], accept: str | None) -> None:
        answers: dict[int, Trio] = {}
        try:
            body = {"simulation_ids": [t.sid for t in batch]}
            parts = await self._api.post_parts("/simulations/results", body, accept=accept)
            answers = _answers(parts, len(batch))
        except Exception:  # each caller asks alone, and meets the error itself
            pass
        finally:  # every ticket gets its answer, or None (also when this call is cancelled)
            for index, ticket in enumerate(batch):
                if not ticket.future.done():
                    ticket.future.set_result(answers.get(index))


def _answers(parts: dict[str, tuple[str, bytes]], count: int) -> dict[int, Trio]:
    """The complete results among the parts (``i/metrics``, ``i/time_series``, ``i/steps``);
    anything malformed is left out (its caller asks again alone, and sees the error)."""
    out: dict[int, Trio] = {}
    for index in range(count):
        try:
            metrics = json.loads(parts[f"{index}/metrics"][1])
            series, steps = parts[f"{index}/time_series"][1], parts[f"{index}/steps"][1]
        except (KeyError, ValueError):
            continue
        if isinstance(metrics, dict):
            out[index] = (series, steps, metrics)
    return out
