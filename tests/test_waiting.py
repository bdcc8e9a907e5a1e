"""Waiting semantics: bulk status polling, fail-fast, timeouts, cancellation, as_completed."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import anyio
import pytest
from aiohttp import web
from aioresponses import CallbackResult, aioresponses

from ionworks import AsyncIonworks, WaitTimeout
from ionworks.errors import IonworksError, JobFailedError
from tests.conftest import API
from tests.helpers import serving

STATUSES = f"{API}/simulations/statuses"
SIM_RE = re.compile(rf"^{re.escape(API)}/simulations/([^/?]+)$")


class SimState:
    """Scripted statuses: ``plan[id]`` lists the status of each poll round (last one sticks)."""

    def __init__(self, plan: dict[str, list[str]], *, stored: bool = True) -> None:
        self.plan = plan
        self.rounds: dict[str, int] = dict.fromkeys(plan, 0)
        self.status_posts: list[list[str]] = []
        self.record_gets: list[str] = []
        self.stored = stored

    def status(self, sid: str) -> str:
        steps = self.plan[sid]
        return steps[min(self.rounds[sid], len(steps) - 1)]

    def on_statuses(self, url: Any, **kwargs: Any) -> CallbackResult:
        ids = json.loads(kwargs["data"])["simulation_ids"]
        self.status_posts.append(ids)
        out = []
        for sid in ids:
            if sid in self.plan:
                status = self.status(sid)
                self.rounds[sid] += 1
                error = "solver diverged" if status == "failed" else None
                out.append(
                    {
                        "simulation_id": sid,
                        "status": status,
                        "error": error,
                        "error_code": None,
                        "updated_at": "t",
                    }
                )
        return CallbackResult(payload=out)

    def on_get(self, url: Any, **kwargs: Any) -> CallbackResult:
        sid = str(url).rsplit("/", 1)[1]
        self.record_gets.append(sid)
        if sid not in self.plan:
            return CallbackResult(status=404, payload={"detail": f"simulation {sid} not found"})
        done = self.status(sid) == "completed" or self.rounds[sid] > len(self.plan[sid])
        folder = f"sims/{sid}" if (done and self.stored) else None
        return CallbackResult(payload={"id": sid, "job_id": f"job-{sid}", "storage_folder": folder})

    def install(self, mock: aioresponses) -> None:
        mock.post(STATUSES, callback=self.on_statuses, repeat=True)
        mock.get(SIM_RE, callback=self.on_get, repeat=True)


async def test_single_id_returns_record(client: AsyncIonworks, mock_api: aioresponses) -> None:
    state = SimState({"s1": ["pending", "running", "completed"]})
    state.install(mock_api)
    record = await client.simulation.wait_for_completion("s1", poll_interval=0.001, verbose=False)
    assert record["id"] == "s1" and record["storage_folder"] == "sims/s1"
    assert len(state.status_posts) == 3


async def test_many_ids_one_status_request_per_1000_per_round(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    ids = [f"s{i:04d}" for i in range(2500)]
    state = SimState({sid: ["running", "completed"] for sid in ids})
    state.install(mock_api)
    records = await client.simulation.wait_for_completion(
        list(reversed(ids)), poll_interval=0.001, verbose=False
    )
    assert [r["id"] for r in records] == list(reversed(ids))  # input order
    assert len(state.status_posts) == 6  # 2 rounds x 3 chunks
    assert max(len(p) for p in state.status_posts) == 1000
    assert len(state.record_gets) == 2500  # one record fetch per finished id, none per round


async def test_failure_raises_at_once(client: AsyncIonworks, mock_api: aioresponses) -> None:
    state = SimState({"ok": ["running"], "bad": ["failed"]})
    state.install(mock_api)
    with pytest.raises(JobFailedError) as info:
        await client.simulation.wait_for_completion(["ok", "bad"], timeout=30, verbose=False)
    assert isinstance(info.value, IonworksError)
    assert "bad" in str(info.value) and "solver diverged" in str(info.value)
    assert len(state.status_posts) == 1  # did not wait for "ok"


async def test_raise_on_failure_false_returns_every_record(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    state = SimState({"a": ["completed"], "b": ["canceled"], "c": ["running", "completed"]})
    state.install(mock_api)
    records = await client.simulation.wait_for_completion(
        ["c", "b", "a"], poll_interval=0.001, verbose=False, raise_on_failure=False
    )
    assert [r["id"] for r in records] == ["c", "b", "a"]
    assert records[1]["status"] == "canceled"
    assert records[0]["storage_folder"] == "sims/c"


async def test_timeout_names_pending_and_keeps_results(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    state = SimState({"done": ["completed"], "slow": ["running"]})
    state.install(mock_api)
    with pytest.raises(TimeoutError) as info:
        await client.simulation.wait_for_completion(
            ["done", "slow"], timeout=0.2, poll_interval=0.02, verbose=False
        )
    err = info.value
    assert isinstance(err, WaitTimeout)
    assert err.pending == ["slow"] and "slow" in str(err)
    assert err.results["done"]["id"] == "done"


async def test_completed_without_stored_results_is_not_done(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    SimState({"s": ["completed"]}, stored=False).install(mock_api)
    with pytest.raises(TimeoutError):
        await client.simulation.wait_for_completion(
            "s", timeout=0.1, poll_interval=0.01, verbose=False
        )


async def test_unknown_id_is_a_not_found_error(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    SimState({"s": ["running"]}).install(mock_api)
    with pytest.raises(IonworksError, match="nope") as info:
        await client.simulation.wait_for_completion(["s", "nope"], verbose=False)
    assert info.value.status_code == 404


async def test_as_completed_yields_in_completion_order(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    state = SimState(
        {
            "a": ["running", "running", "completed"],
            "b": ["completed"],
            "c": ["running", "completed"],
        }
    )
    state.install(mock_api)
    order = [
        r["id"] async for r in client.simulation.as_completed(["a", "b", "c"], poll_interval=0.001)
    ]
    assert order == ["b", "c", "a"]


async def test_as_completed_break_early_stops_polling(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    state = SimState({"a": ["completed"], "b": ["running"]})
    state.install(mock_api)
    async for record in client.simulation.as_completed(["a", "b"], poll_interval=0.001):
        assert record["id"] == "a"
        break
    posts = len(state.status_posts)
    await anyio.sleep(0.05)
    assert len(state.status_posts) == posts


async def test_verbose_prints_status_lines_off_tty(
    client: AsyncIonworks, mock_api: aioresponses, capsys: pytest.CaptureFixture[str]
) -> None:
    SimState({"a": ["completed"], "b": ["running", "completed"]}).install(mock_api)
    await client.simulation.wait_for_completion(["a", "b"], poll_interval=0.001)
    out = capsys.readouterr().out
    assert "simulations: 1/2 completed" in out and "simulations: 2/2 completed" in out


PIPE = {"name": "p", "status": "running", "is_terminal": False, "is_failed": False}


async def test_pipeline_wait_success_and_failure(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    mock_api.get(f"{API}/pipelines/p1", payload={**PIPE, "id": "p1"})
    mock_api.get(
        f"{API}/pipelines/p1",
        payload={**PIPE, "id": "p1", "status": "completed", "is_terminal": True},
    )
    done = await client.pipeline.wait_for_completion("p1", poll_interval=0.001, verbose=False)
    assert done.status == "completed"
    mock_api.get(
        f"{API}/pipelines/p2",
        payload={
            **PIPE,
            "id": "p2",
            "status": "failed",
            "is_terminal": True,
            "is_failed": True,
            "error": "bad",
        },
    )
    with pytest.raises(IonworksError, match="Pipeline p2 failed: bad"):
        await client.pipeline.wait_for_completion("p2", verbose=False)


async def test_simple_pipeline_timeout(client: AsyncIonworks, mock_api: aioresponses) -> None:
    record = {
        **PIPE,
        "id": "sp",
        "project_id": "p1",
        "organization_id": "o",
        "created_at": "t",
        "updated_at": "t",
    }
    mock_api.get(f"{API}/simple_pipelines/sp", payload=record, repeat=True)
    with pytest.raises(TimeoutError, match="sp"):
        await client.simple_pipeline.wait_for_completion(
            "sp", timeout=0.05, poll_interval=0.01, verbose=False
        )


async def test_many_pipelines_are_polled_concurrently() -> None:
    active = 0
    peak = 0

    async def get_pipeline(request: web.Request) -> web.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        body = {**PIPE, "id": request.match_info["pid"], "status": "completed", "is_terminal": True}
        return web.json_response(body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/pipelines/{pid}", get_pipeline)
    async with serving(app) as url:
        async with AsyncIonworks(api_url=url) as client:
            ids = [f"p{i}" for i in range(10)]
            with anyio.fail_after(0.45):  # sequential polling would need >= 0.5 s
                done = await client.pipeline.wait_for_completion(ids, verbose=False)
        assert [p.id for p in done] == ids and peak > 1


def client_tasks() -> set[asyncio.Task[Any]]:
    """Tasks on this loop except the in-process test server's request handlers."""
    return {
        t
        for t in asyncio.all_tasks()
        if "RequestHandler" not in getattr(t.get_coro(), "__qualname__", "")
    }


async def test_cancelling_a_wait_leaves_no_task_or_connection() -> None:
    async def statuses(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        ids = (await request.json())["simulation_ids"]
        body = [{"simulation_id": i, "status": "running", "error": None} for i in ids]
        return web.json_response(body, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, content_type="application/json")

    app = web.Application()
    app.router.add_post("/simulations/statuses", statuses)
    app.router.add_get("/healthz", healthz)
    async with serving(app) as url:
        async with AsyncIonworks(api_url=url) as client:
            before = client_tasks()
            ids = [f"s{i}" for i in range(3000)]
            with anyio.move_on_after(0.12):  # cancels while a status request is in flight
                await client.simulation.wait_for_completion(ids, poll_interval=0.01, verbose=False)
            await asyncio.sleep(0)
            assert client_tasks() == before
            connector = client._transport._session.connector  # type: ignore[union-attr]
            assert connector is not None and not connector._acquired  # no leaked connection
            assert await client.health_check() == {"status": "ok"}


async def test_long_waits_ask_for_a_window_and_now_and_then_for_all() -> None:
    """More than POLL_WINDOW ids pending: a query asks for the first POLL_WINDOW of them,
    every FULL_POLL_EVERY-th for all, so a 10,000-id wait costs about a request per poll;
    an id that finishes out of order is still yielded (at the next full query)."""
    from ionworks._waiting import FULL_POLL_EVERY, POLL_WINDOW, Outcome, poll_outcomes

    ids = [f"s{i}" for i in range(2500)]
    asked: list[int] = []
    done: set[str] = set()

    async def fetch(wanted: list[str]) -> list[Outcome]:
        asked.append(len(wanted))
        if len(asked) == 2:
            done.add(ids[-1])  # the last one finishes early, out of order
        if len(asked) > 2 * FULL_POLL_EVERY:
            done.update(ids)
        return [Outcome(i, False, {"id": i}) for i in wanted if i in done]

    seen = [o.id async for o in poll_outcomes(ids, fetch, timeout=None, poll_interval=0.001)]
    assert sorted(seen) == sorted(ids) and seen[0] == ids[-1]
    assert asked[0] == len(ids)  # the first query asks for all
    assert asked[1:FULL_POLL_EVERY] == [POLL_WINDOW] * (FULL_POLL_EVERY - 1)
    assert asked[FULL_POLL_EVERY] == len(ids)  # all of them: the early one is seen here
