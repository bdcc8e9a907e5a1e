"""``simulation.get_results`` / ``iter_results`` on both clients against the real local
server: input order (repeats, one id), the same frames as ``get_result``, errors (raised with
the simulation named, or returned in place), fail-fast and caller cancellation (no fetch keeps
running), bounded windows of the generator, argument checks and the progress display."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import NotFoundError
from ionworks.models import SimulationResult
from ionworks.resources._simulation_results import MAX_CONCURRENCY
from ionworks.server.hosting import EmbeddedServer
from tests.conftest import async_of
from tests.server.conftest import KEY_A
from tests.ucp.protocols import SEED_SINGLE

POINTS = 5
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def sims(server: EmbeddedServer) -> Iterator[list[str]]:
    """``POINTS`` computed simulations (one DOE batch), submitted once for the module."""
    with Ionworks(api_key=KEY_A, api_url=server.url) as client:
        values = [1e-14 * (1 + i) for i in range(POINTS)]
        responses = client.simulation.protocol_batch(
            {
                "parameterized_model": "chen2020-spm",
                "protocol_experiment": {"protocol": SEED_SINGLE, "name": "many results"},
                "design_parameters_doe": {
                    "sampling": "grid",
                    "rows": [
                        {
                            "type": "discrete",
                            "name": "Negative particle diffusivity [m2.s-1]",
                            "values": values,
                        }
                    ],
                },
            }
        )
        ids = [r.simulation_id for r in responses]
        client.simulation.wait_for_completion(ids, timeout=300, poll_interval=0.1, verbose=False)
        yield ids


@pytest.fixture
def live(owner_api: Any) -> Any:
    """Key A on the session's server, on both clients in turn."""
    return owner_api


def same(a: SimulationResult, b: SimulationResult) -> bool:
    return (
        a.time_series.equals(b.time_series) and a.steps.equals(b.steps) and a.metrics == b.metrics
    )


async def test_results_come_in_input_order_as_get_result_gives_them(
    live: Any, sims: list[str]
) -> None:
    singles = {sid: await live.simulation.get_result(sid) for sid in sims}
    assert not singles[sims[0]].time_series.equals(singles[sims[-1]].time_series)
    order = [*reversed(sims), sims[2]]  # a repeated id is fetched once, returned twice
    api = async_of(live)
    before = api._transport.request_count
    results = await live.simulation.get_results(order, concurrency=3)
    # concurrent fetches share POST /simulations/results requests (result-bundles)
    assert 1 <= api._transport.request_count - before < POINTS
    assert len(results) == len(order)
    assert all(same(r, singles[sid]) for sid, r in zip(order, results, strict=True))
    assert results[-1] is results[POINTS - 3]
    (one,) = await live.simulation.get_results(sims[0])  # one id: a list of one
    assert same(one, singles[sims[0]])
    assert await live.simulation.get_results([]) == []


async def test_the_generator_yields_the_same_in_order_window_by_window(
    live: Any, sims: list[str]
) -> None:
    expected = await live.simulation.get_results(sims)
    got = [r async for r in live.simulation.iter_results(sims, concurrency=1)]  # windows of 4
    assert len(got) == POINTS
    assert all(same(a, b) for a, b in zip(got, expected, strict=True))
    api = async_of(live)
    before = api._transport.request_count
    async for _ in live.simulation.iter_results(sims, concurrency=1):
        break  # leaving early: only the first window (4 results) was fetched
    assert api._transport.request_count - before == 4


async def test_a_failed_fetch_is_raised_naming_the_simulation_or_returned(
    live: Any, sims: list[str]
) -> None:
    order = [sims[0], MISSING, sims[1]]
    with pytest.raises(NotFoundError) as caught:
        await live.simulation.get_results(order)
    assert any(MISSING in note for note in caught.value.__notes__)
    results = await live.simulation.get_results(order, return_exceptions=True)
    assert isinstance(results[1], NotFoundError)
    assert isinstance(results[0], SimulationResult) and isinstance(results[2], SimulationResult)
    items = [r async for r in live.simulation.iter_results(order, return_exceptions=True)]
    assert [type(r).__name__ for r in items] == [
        "SimulationResult",
        "NotFoundError",
        "SimulationResult",
    ]
    with pytest.raises(NotFoundError):
        async for _ in live.simulation.iter_results(order):
            pass


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"concurrency": 0}, ValueError, "concurrency must be from 1 to 64"),
        ({"concurrency": MAX_CONCURRENCY + 1}, ValueError, "got 65"),
        ({"concurrency": True}, TypeError, "concurrency must be an int"),
        ({"concurrency": 2.0}, TypeError, "concurrency must be an int"),
    ],
)
async def test_bad_concurrency_is_refused_before_any_request(
    live: Any, sims: list[str], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    api = async_of(live)
    before = api._transport.request_count
    with pytest.raises(error, match=message):
        await live.simulation.get_results(sims, **kwargs)
    with pytest.raises(TypeError, match=r"simulation_ids must be an id"):
        await live.simulation.get_results(42)
    with pytest.raises(ValueError, match=r"simulation_ids\[1\] is an empty string"):
        await live.simulation.get_results([sims[0], ""])
    assert api._transport.request_count == before


async def test_progress_reports_each_result(
    live: Any, sims: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    await live.simulation.get_results(sims[:2], progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "results: 1/2 completed, 0 failed, 1 pending",
        "results: 2/2 completed, 0 failed, 0 pending",
    ]


# --------------------------------------------------------------------------- cancellation


class SlowFetches:
    """Stands in for ``get_result``: ``MISSING`` fails at once, other ids hang; counts the
    fetches started, finished and cancelled."""

    def __init__(self) -> None:
        self.started = self.finished = self.cancelled = 0

    async def __call__(self, simulation_id: str) -> SimulationResult:
        self.started += 1
        if simulation_id == MISSING:
            raise NotFoundError(f"simulation {simulation_id} not found", 404)
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        self.finished += 1
        raise AssertionError("unreachable: the fetch should have been cancelled")


async def test_the_first_failure_cancels_the_fetches_in_flight(server: EmbeddedServer) -> None:
    async with AsyncIonworks(api_key=KEY_A, api_url=server.url) as api:
        fetches = SlowFetches()
        api.simulation.get_result = fetches  # type: ignore[method-assign]
        ids = [f"s{i}" for i in range(6)] + [MISSING]
        with anyio.fail_after(5), pytest.raises(NotFoundError):
            await api.simulation.get_results(ids, concurrency=8)
        assert fetches.started == 7 and fetches.cancelled == 6 and fetches.finished == 0


async def test_cancelling_the_caller_cancels_every_fetch(server: EmbeddedServer) -> None:
    async with AsyncIonworks(api_key=KEY_A, api_url=server.url) as api:
        fetches = SlowFetches()
        api.simulation.get_result = fetches  # type: ignore[method-assign]
        with anyio.move_on_after(0.2) as scope:
            await api.simulation.get_results([f"s{i}" for i in range(40)], concurrency=16)
        assert scope.cancelled_caught
        assert fetches.started == 16 and fetches.cancelled == 16 and fetches.finished == 0


def test_the_sync_client_fails_fast_too(server: EmbeddedServer, sims: list[str]) -> None:
    with Ionworks(api_key=KEY_A, api_url=server.url) as client:
        fetches = SlowFetches()
        client._async.simulation.get_result = fetches  # type: ignore[method-assign]
        with pytest.raises(NotFoundError) as caught:
            client.simulation.get_results([*sims, MISSING])
        assert fetches.cancelled == POINTS and fetches.finished == 0
        assert any(MISSING in note for note in caught.value.__notes__)


async def test_concurrent_get_result_calls_share_one_request(
    api: AsyncIonworks, sims: list[str]
) -> None:
    """Concurrent get_result calls go out as one POST /simulations/results (our server's
    ``result-bundles``) with the same results as one request each; an id it cannot answer
    raises exactly what a single request raises, and the others still arrive."""
    import asyncio

    assert "result-bundles" in await api._capabilities()
    before = api._transport.request_count
    batched = await asyncio.gather(*(api.simulation.get_result(i) for i in sims))
    assert api._transport.request_count - before == 1
    api._server_capabilities = frozenset()  # the cloud's way: two downloads and the record
    singles = [await api.simulation.get_result(i) for i in sims]
    api._server_capabilities = None
    assert all(same(a, b) for a, b in zip(batched, singles, strict=True))
    mixed = await asyncio.gather(
        api.simulation.get_result(sims[0]),
        api.simulation.get_result(MISSING),
        api.simulation.get_result(sims[1]),
        return_exceptions=True,
    )
    assert isinstance(mixed[1], NotFoundError) and MISSING in str(mixed[1])
    assert same(mixed[0], batched[0]) and same(mixed[2], batched[1])  # type: ignore[arg-type]
