"""The blocking facade ``ionworks.Ionworks``: its own behaviour (running loops, threads,
closing, error propagation, iterators). The resources are tested on both clients by the
resource tests themselves (``any_client``, ``new_client``)."""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aioresponses import CallbackResult

from ionworks import AsyncIonworks, Ionworks, Job
from ionworks.errors import MeasurementValidationError, NotFoundError
from tests.conftest import FAST_RETRIES, SyncAsAsync
from tests.helpers import API, assert_no_requests, job_record, url_re


def make_client() -> Ionworks:
    client = Ionworks(api_key="key-1", api_url=API, project_id="p1")
    client._async._transport.retry_policy = FAST_RETRIES
    return client


@pytest.fixture
def sync_client() -> Iterator[Ionworks]:
    client = make_client()
    try:
        yield client
    finally:
        client.close()


# =========================================================================== the resources

# Every resource test (tests/test_resource_*.py) runs on both clients through the
# ``any_client``/``new_client`` fixtures (tests/conftest.py). These check that the sync run
# really is the blocking client, with its calls on the portal thread.


def _where(url: Any, **kwargs: Any) -> CallbackResult:
    return CallbackResult(payload=job_record(worker=threading.current_thread().name))


async def test_any_client_runs_each_kind(any_client, client_kind, mock_api) -> None:
    mock_api.get(f"{API}/jobs/j1", callback=_where, repeat=True)
    if client_kind == "sync":
        assert isinstance(any_client, SyncAsAsync) and type(any_client._target) is Ionworks
        assert any_client.job._target is any_client._target.job
        expected = "ionworks-portal"
    else:
        assert type(any_client) is AsyncIonworks
        expected = threading.current_thread().name
    job = await any_client.job.get("j1")
    assert isinstance(job, Job) and job.worker == expected


async def test_sync_as_async_keeps_the_async_shape(new_client, client_kind, mock_api) -> None:
    mock_api.post(f"{API}/simulations/statuses", callback=_statuses, repeat=True)
    mock_api.get(
        url_re("/simulations/s1"), payload={"id": "s1", "storage_folder": "f"}, repeat=True
    )
    async with new_client(api_key="k", api_url=API, project_id="p1") as c:
        pending = c.simulation.get("s1")
        assert inspect.isawaitable(pending)
        assert (await pending)["id"] == "s1"
        iterator = c.simulation.as_completed(["s1"], timeout=10, poll_interval=0)
        assert hasattr(iterator, "__anext__")
        assert [r["id"] async for r in iterator] == ["s1"]
        assert c.project_id == "p1" and c.measurement is c.cell_measurement


# =========================================================================== facade behaviour


async def test_sync_call_inside_running_event_loop(mock_api) -> None:
    mock_api.get(f"{API}/jobs/j1", payload=job_record())
    client = make_client()
    try:
        assert client.job.get("j1").job_id == "j1"  # blocks this loop; the portal thread works
    finally:
        client.close()


def _echo_job(url: Any, **kwargs: Any) -> CallbackResult:
    job_id = str(url).rsplit("/", 1)[-1]
    return CallbackResult(payload=job_record(job_id=job_id, worker=threading.current_thread().name))


def test_calls_from_many_threads(sync_client, mock_api) -> None:
    mock_api.get(re.compile(r"^http://api\.test/jobs/j\d+$"), callback=_echo_job, repeat=True)
    ids = [f"j{i}" for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = list(pool.map(sync_client.job.get, ids))
    assert [j.job_id for j in jobs] == ids
    assert {j.worker for j in jobs} == {"ionworks-portal"}  # one loop serves every thread


def test_context_manager_closes(mock_api) -> None:
    with make_client() as client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.job.get("j1")
    client.close()  # idempotent after __exit__
    assert_no_requests(mock_api)


def test_close_is_idempotent_and_closed_client_refuses(mock_api) -> None:
    client = make_client()
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.simulation.list()
    assert_no_requests(mock_api)


@pytest.mark.parametrize(
    ("call", "exc_type", "match"),
    [
        (
            lambda c: c.simulation.protocol(
                {"parameterized_model": "pm", "protocol_id": "t", "bogus": 1}
            ),
            ValueError,
            "Unknown config key 'bogus'",
        ),
        (lambda c: c.study.create("a name"), ValueError, "name"),
        (lambda c: c.pipeline.update("pl-1"), ValueError, "at least one"),
        (
            lambda c: c.measurement.create(
                "ci", {"measurement": {"name": "n"}, "time_series": {"Time [s]": [0.0]}}
            ),
            MeasurementValidationError,
            "missing required",
        ),
    ],
)
def test_client_side_errors_propagate_unchanged(
    sync_client, mock_api, call, exc_type, match
) -> None:
    with pytest.raises(exc_type, match=match) as info:
        call(sync_client)
    assert type(info.value) is exc_type
    assert_no_requests(mock_api)


def test_http_errors_propagate_typed(sync_client, mock_api) -> None:
    mock_api.get(f"{API}/jobs/nope", status=404, payload={"detail": "Job not found"})
    with pytest.raises(NotFoundError) as info:
        sync_client.job.get("nope")
    assert str(info.value) == "error code: 404, message: Job not found"


def _statuses(url: Any, **kwargs: Any) -> CallbackResult:
    ids = json.loads(kwargs["data"])["simulation_ids"]
    return CallbackResult(payload=[{"simulation_id": i, "status": "completed"} for i in ids])


def test_as_completed_is_a_plain_iterator(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/simulations/statuses", callback=_statuses, repeat=True)
    for sid in ("s1", "s2", "s3"):
        mock_api.get(
            f"{API}/simulations/{sid}",
            payload={"id": sid, "storage_folder": f"f/{sid}"},
            repeat=True,
        )
    iterator = sync_client.simulation.as_completed(["s1", "s2", "s3"], poll_interval=0)
    assert iter(iterator) is iterator and not hasattr(iterator, "__anext__")
    assert next(iterator)["id"] == "s1"
    assert [r["id"] for r in iterator] == ["s2", "s3"]
    # stopping early closes the underlying async generator on the portal loop
    early = sync_client.simulation.as_completed(["s1", "s2"], poll_interval=0)
    assert next(early)["id"] == "s1"
    early.close()
