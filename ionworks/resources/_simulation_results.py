"""Many simulation results at once: ``client.simulation.get_results`` (a list) and
``client.simulation.iter_results`` (a generator), both in the order of the ids given. A base of
:class:`~ionworks.resources.simulation.AsyncSimulations`.

The fetches run concurrently in one task group, at most ``concurrency`` at a time, so the
blocking client (one portal call per list, or per window of the generator) gets the async
client's speed. Errors: by default the first failed fetch cancels the others and is raised
(with a note naming the simulation); ``return_exceptions=True`` puts each failed fetch's
exception in its place instead. Cancelling the call cancels every fetch in flight.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Final, Literal, overload

from ionworks._waiting import Progress, gather_limited, id_list
from ionworks.resources._base import AsyncResource

if TYPE_CHECKING:
    from ionworks.models import SimulationResult

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "AsyncSimulationResults"]

#: Fetches in flight at once by default, and at most (the transport's connection pool).
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY: Final = 64
#: ``iter_results`` fetches this many results per concurrent fetch ahead of its consumer:
#: memory stays bounded by one window while the fetches keep the connections busy.
WINDOW_PER_FETCH: Final = 4


class _Tally:
    """Counts fetched and failed results for the progress display."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.progress = Progress("results", total, enabled, action="Fetching")
        self.done = 0
        self.failed = 0

    def count(self, failed: bool) -> None:
        if failed:
            self.failed += 1
        else:
            self.done += 1
        self.progress.update(self.done, self.failed)


def _check_concurrency(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(
            f"concurrency must be an int from 1 to {MAX_CONCURRENCY}, got {concurrency!r}"
        )
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"concurrency must be from 1 to {MAX_CONCURRENCY} (fetches at once), got {concurrency}"
        )
    return concurrency


class AsyncSimulationResults(AsyncResource):
    """``get_results`` and ``iter_results`` over the subclass's ``get_result``."""

    if TYPE_CHECKING:

        async def get_result(self, simulation_id: str) -> SimulationResult: ...

    @overload
    async def get_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: Literal[False] = False,
    ) -> builtins.list[SimulationResult]: ...
    @overload
    async def get_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: bool,
    ) -> builtins.list[SimulationResult | Exception]: ...
    async def get_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: bool = False,
    ) -> builtins.list[SimulationResult] | builtins.list[SimulationResult | Exception]:
        """The results of completed simulations (each as :meth:`get_result` gives it), in the
        order of ``simulation_ids`` (one id, or a list or tuple of ids; a repeated id is
        fetched once).

        ``concurrency`` fetches run at once (1 to 64). ``progress=True`` shows a progress
        bar on a terminal (a status line per result elsewhere). The first failed fetch
        cancels the others and is raised, with a note naming the simulation;
        ``return_exceptions=True`` returns that fetch's exception in its place instead (any
        ``Exception``; cancellation always propagates). All results are held in memory: for
        many large results, :meth:`iter_results` keeps only a window of them.
        """
        ids = id_list(simulation_ids, "simulation_ids")
        limit = _check_concurrency(concurrency)
        tally = _Tally(len(ids), progress)
        try:
            return await self._fetch_all(ids, limit, return_exceptions, tally)
        finally:
            tally.progress.close()

    @overload
    def iter_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: Literal[False] = False,
    ) -> AsyncIterator[SimulationResult]: ...
    @overload
    def iter_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: bool,
    ) -> AsyncIterator[SimulationResult | Exception]: ...
    async def iter_results(
        self,
        simulation_ids: str | Sequence[str],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = False,
        return_exceptions: bool = False,
    ) -> AsyncIterator[SimulationResult | Exception]:
        """Yield the results of :meth:`get_results` one by one, in the same (input) order,
        with the same arguments and errors: pair them with ``zip(ids, ...)``. The fetches run
        ahead in windows of ``4 × concurrency`` results, so memory holds one window however
        many ids are given; no task stays running while the caller holds a result, and
        leaving the loop early fetches nothing more.
        """
        ids = id_list(simulation_ids, "simulation_ids")
        limit = _check_concurrency(concurrency)
        window = limit * WINDOW_PER_FETCH
        tally = _Tally(len(ids), progress)
        try:
            for start in range(0, len(ids), window):
                chunk = ids[start : start + window]
                for item in await self._fetch_all(chunk, limit, return_exceptions, tally):
                    yield item
        finally:
            tally.progress.close()

    async def _fetch_all(
        self, ids: builtins.list[str], limit: int, return_exceptions: bool, tally: _Tally
    ) -> builtins.list[SimulationResult | Exception]:
        unique = builtins.list(dict.fromkeys(ids))

        async def one(simulation_id: str) -> SimulationResult | Exception:
            try:
                result = await self.get_result(simulation_id)
            except Exception as exc:  # cancellation is a BaseException: it propagates
                tally.count(failed=True)
                if return_exceptions:
                    return exc
                exc.add_note(f"(while fetching the result of simulation {simulation_id})")
                raise
            tally.count(failed=False)
            return result

        fetched = await gather_limited(one, unique, limit=limit)
        by_id = dict(zip(unique, fetched, strict=True))
        return [by_id[i] for i in ids]
