"""Client-side arguments: lists read whole in pages of the server maximum, one id or a list of
ids for the waits, and clear errors, before any request, for what cannot be sent."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from aioresponses import aioresponses

from ionworks import AsyncIonworks, Ionworks
from ionworks.resources import _base
from tests.helpers import (
    API,
    assert_no_requests,
    job_record,
    measurement_record,
    pipeline_record,
    requests_to,
    simple_pipeline_record,
    url_re,
)

Call = Callable[[AsyncIonworks], Awaitable[Any]]


def _ids(result: Any) -> list[str]:
    items = result["items"] if isinstance(result, dict) else list(result)
    return [
        str(i["id"] if isinstance(i, dict) else getattr(i, "id", None) or i.job_id) for i in items
    ]


# --- lists: every item, in pages of the server maximum ---------------------------------------

# (name, call without a limit, call with limit=5, path, response key, record of id i, offset key)
LISTS: list[tuple[str, Call, Call, str, str | None, Callable[[int], dict[str, Any]], str]] = [
    ("simulation", lambda c: c.simulation.list(), lambda c: c.simulation.list(limit=5),
     "/simulations", "simulations", lambda i: {"id": f"s{i}"}, "offset"),
    ("job", lambda c: c.job.list(), lambda c: c.job.list(5), "/jobs/", None,
     lambda i: job_record(job_id=f"j{i}", id=f"j{i}"), "offset"),
    ("project", lambda c: c.project.list(), lambda c: c.project.list(5), "/projects", "items",
     lambda i: {"id": f"p{i}", "name": "P"}, "offset"),
    ("model", lambda c: c.model.list(), lambda c: c.model.list(5), "/models", "items",
     lambda i: {"id": f"m{i}", "name": "M", "config": {"type": "SPM"}}, "offset"),
    ("parameterized_model", lambda c: c.parameterized_model.list(),
     lambda c: c.parameterized_model.list(None, 5), "/parameterized_models", "items",
     lambda i: {"id": f"pm{i}", "name": "PM"}, "offset"),
    ("parameterized_model.list_by_project", lambda c: c.parameterized_model.list_by_project(),
     lambda c: c.parameterized_model.list_by_project(None, 5), "/parameterized_models",
     "items", lambda i: {"id": f"pm{i}", "name": "PM"}, "offset"),
    ("study", lambda c: c.study.list(), lambda c: c.study.list(limit=5), "/projects/p1/studies",
     "items", lambda i: {"id": f"st{i}", "name": "S"}, "offset"),
    ("study.list_measurements", lambda c: c.study.list_measurements("st"),
     lambda c: c.study.list_measurements("st", limit=5), "/projects/p1/studies/st/measurements",
     "items", lambda i: {"id": f"m{i}"}, "offset"),
    ("cell_measurement", lambda c: c.cell_measurement.list("ci"),
     lambda c: c.cell_measurement.list("ci", 5), "/cell_instances/ci/cell_measurements",
     "items", lambda i: measurement_record(id=f"m{i}"), "offset"),
    ("cell_measurement.list_by_project", lambda c: c.cell_measurement.list_by_project("p1"),
     lambda c: c.cell_measurement.list_by_project("p1", limit=5), "/cell_measurements", "items",
     lambda i: measurement_record(id=f"m{i}"), "offset"),
    ("pipeline", lambda c: c.pipeline.list(), lambda c: c.pipeline.list(limit=5), "/pipelines",
     "pipelines", lambda i: pipeline_record(id=f"pl{i}"), "skip"),
    ("simple_pipeline", lambda c: c.simple_pipeline.list(limit=None),
     lambda c: c.simple_pipeline.list(limit=5), "/simple_pipelines", "items",
     lambda i: simple_pipeline_record(id=f"sp{i}"), "offset"),
]  # fmt: skip
LIST_IDS = [entry[0] for entry in LISTS]


@pytest.fixture
def page_size(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pages of 4 here (aioresponses cannot serve 1,000-record bodies); the server tests
    (tests/faults/test_bounds_lists.py) read pages of the real 1,000."""
    monkeypatch.setattr(_base, "PAGE_SIZE", 4, raising=False)  # (raising: a new constant)
    return 4


def test_pages_are_the_server_maximum() -> None:
    from ionworks.server.limits import Limits

    assert Limits().max_page_size == _base.PAGE_SIZE == 1000


def _body(key: str | None, records: list[dict[str, Any]], total: int | None) -> Any:
    if key is None:
        return records
    return {key: records, **({} if total is None else {"total": total})}


@pytest.mark.parametrize(("name", "call", "limited", "path", "key", "rec", "skip"), LISTS,
                         ids=LIST_IDS)  # fmt: skip
async def test_list_without_a_limit_reads_every_page(
    client: AsyncIonworks, mock_api: aioresponses, name: str, call: Call, limited: Call,
    path: str, key: str | None, rec: Callable[[int], dict[str, Any]], skip: str, page_size: int,
) -> None:  # fmt: skip
    total = 2 * page_size + page_size // 2  # two full pages and a short one
    records = [rec(i) for i in range(total)]
    for start in range(0, total, page_size):
        page = records[start : start + page_size]
        mock_api.get(url_re(path), payload=_body(key, page, None if key is None else total))
    result = await call(client)
    assert _ids(result) == [_ids([r])[0] for r in records]
    sent = requests_to(mock_api, "GET", path)
    assert [(s.query["limit"], s.query.get(skip, "0")) for s in sent] == [
        (str(page_size), "0"),
        (str(page_size), str(page_size)),
        (str(page_size), str(2 * page_size)),
    ]
    if not isinstance(result, list):
        assert (result["total"] if isinstance(result, dict) else result.total) == total


@pytest.mark.parametrize(("name", "call", "limited", "path", "key", "rec", "skip"), LISTS,
                         ids=LIST_IDS)  # fmt: skip
async def test_list_with_a_limit_is_one_request(
    client: AsyncIonworks, mock_api: aioresponses, name: str, call: Call, limited: Call,
    path: str, key: str | None, rec: Callable[[int], dict[str, Any]], skip: str,
) -> None:  # fmt: skip
    mock_api.get(url_re(path), payload=_body(key, [rec(i) for i in range(5)], 40), repeat=True)
    assert len(_ids(await limited(client))) == 5
    (sent,) = requests_to(mock_api, "GET", path)
    assert sent.query["limit"] == "5"


async def test_paging_stops_at_the_reported_total(
    client: AsyncIonworks, mock_api: aioresponses, page_size: int
) -> None:
    records = [{"id": f"p{i}", "name": "P"} for i in range(page_size)]
    mock_api.get(url_re("/projects"), payload={"items": records, "total": page_size}, repeat=True)
    assert len(await client.project.list()) == page_size
    assert len(requests_to(mock_api, "GET", "/projects")) == 1


async def test_paging_stops_when_the_server_ignores_the_offset(
    client: AsyncIonworks, mock_api: aioresponses, page_size: int
) -> None:
    same = [job_record(job_id=f"j{i}") for i in range(page_size)]
    mock_api.get(url_re("/jobs/"), payload=same, repeat=True)
    assert [j.job_id for j in await client.job.list()] == [j["job_id"] for j in same]
    assert len(requests_to(mock_api, "GET", "/jobs/")) == 2


async def test_simulation_list_from_an_offset_is_a_page_of_the_rest(
    client: AsyncIonworks, mock_api: aioresponses, page_size: int
) -> None:
    mock_api.get(url_re("/simulations"), payload={"simulations": [{"id": "s9"}], "total": 10})
    page = await client.simulation.list(offset=9)
    assert page.total == 10 and page.items == [{"id": "s9"}]  # type: ignore[union-attr]
    (sent,) = requests_to(mock_api, "GET", "/simulations")
    assert sent.query == {"project_id": "p1", "limit": str(page_size), "offset": "9"}


# --- ids: one str is one id ------------------------------------------------------------------


def _status(sid: str) -> dict[str, Any]:
    record = {"id": sid, "status": "completed", "storage_folder": f"simulations/{sid}"}
    return {"simulation_id": sid, "status": "completed", "simulation": record}


async def test_one_id_as_a_str_is_one_id(client: AsyncIonworks, mock_api: aioresponses) -> None:
    sid = "sim-0123"
    mock_api.post(f"{API}/simulations/statuses", payload=[_status(sid)], repeat=True)
    assert [s["simulation_id"] for s in await client.simulation.get_statuses(sid)] == [sid]
    records = [r async for r in client.simulation.as_completed(sid, timeout=10, poll_interval=0)]
    assert [r["id"] for r in records] == [sid]
    wait = {"timeout": 10, "poll_interval": 0, "verbose": False}
    record = await client.simulation.wait_for_completion(sid, **wait)
    assert record["id"] == sid
    tuple_records = await client.simulation.wait_for_completion((sid,), **wait)
    assert [r["id"] for r in tuple_records] == [sid]
    bodies = [s.json for s in requests_to(mock_api, "POST", "/simulations/statuses")]
    assert bodies and all(b == {"simulation_ids": [sid], "limit": 1} for b in bodies)


BAD_IDS: list[tuple[Any, str]] = [
    (None, "NoneType"),
    (123, "int"),
    ({"sim-1"}, "set"),
    ({"sim-1": 1}, "dict"),
    (b"sim-1", "bytes"),
    (iter(["sim-1"]), "list_iterator"),
]


@pytest.mark.parametrize(("value", "type_name"), BAD_IDS, ids=[t for _, t in BAD_IDS])
async def test_ids_of_another_type_are_a_type_error(
    client: AsyncIonworks, mock_api: aioresponses, value: Any, type_name: str
) -> None:
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("simulation_ids", lambda: client.simulation.get_statuses(value)),
        ("simulation_id", lambda: client.simulation.wait_for_completion(value, verbose=False)),
        ("simulation_ids", lambda: client.simulation.as_completed(value).__anext__()),
        ("pipeline_id", lambda: client.pipeline.wait_for_completion(value, verbose=False)),
        (
            "simple_pipeline_id",
            lambda: client.simple_pipeline.wait_for_completion(value, verbose=False),
        ),
    ]
    for argument, call in calls:
        with pytest.raises(TypeError, match=rf"^{argument} must be an id \(str\) or a list") as e:
            await call()
        assert type_name in str(e.value)
    assert_no_requests(mock_api)


async def test_a_list_of_ids_names_the_bad_item(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    with pytest.raises(TypeError, match=r"simulation_id\[1\] must be an id \(str\), got int: 7"):
        await client.simulation.wait_for_completion(["sim-1", 7], verbose=False)
    with pytest.raises(ValueError, match=r"simulation_ids\[0\] is an empty string"):
        await client.simulation.get_statuses([""])
    with pytest.raises(ValueError, match=r"pipeline_id is an empty string"):
        await client.pipeline.wait_for_completion("", verbose=False)
    assert_no_requests(mock_api)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": math.nan}, "timeout must be"),
        ({"timeout": -1.0}, "timeout must be"),
        ({"poll_interval": math.nan}, "poll_interval must be"),
        ({"poll_interval": math.inf}, "poll_interval must be"),
        ({"poll_interval": -0.5}, "poll_interval must be"),
    ],
)
async def test_wait_times_are_checked_before_any_request(
    client: AsyncIonworks, mock_api: aioresponses, kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await client.simulation.wait_for_completion("sim-1", verbose=False, **kwargs)
    with pytest.raises(ValueError, match=match):
        await client.pipeline.wait_for_completion("pl-1", verbose=False, **kwargs)
    assert_no_requests(mock_api)


# --- the client's timeout --------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, -1.0, 0])
async def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(
    mock_api: aioresponses, timeout: float
) -> None:
    with pytest.raises(ValueError, match=rf"timeout must be a finite number .* got {timeout!r}"):
        AsyncIonworks(api_key="k", api_url=API, timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        Ionworks(api_key="k", api_url=API, timeout=timeout)
    assert_no_requests(mock_api)


@pytest.mark.parametrize("timeout", ["10", True])
def test_a_timeout_that_is_not_a_number_is_a_type_error(timeout: Any) -> None:
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        AsyncIonworks(api_key="k", api_url=API, timeout=timeout)


async def test_finite_timeouts_are_accepted_and_none_is_the_default(
    mock_api: aioresponses,
) -> None:
    """``timeout=None`` and ``max_retries=None`` mean the defaults (10 s, 5), as in the
    official client."""
    for timeout, expected in ((None, 10.0), (0.5, 0.5), (30, 30.0)):
        async with AsyncIonworks(api_key="k", api_url=API, timeout=timeout) as c:
            assert c.timeout == c.request_timeout == expected
    with Ionworks(api_key="k", api_url=API, timeout=None, max_retries=None) as sync_client:
        assert sync_client.timeout == 10.0 and sync_client.max_retries == 5


# --- NaN and infinity cannot be sent as JSON -------------------------------------------------

PROTOCOL = "steps:\n  - Rest: {duration: 1}\n"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
async def test_non_finite_numbers_in_a_body_are_refused_before_any_request(
    client: AsyncIonworks, mock_api: aioresponses, bad: Any
) -> None:
    config = {
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {"protocol": PROTOCOL, "name": "p"},
        "experiment_parameters": {"Ambient temperature [K]": bad},
    }
    if isinstance(bad, float):  # numpy float32 is not a float: the transport names it
        with pytest.raises(ValueError, match=r"\['Ambient temperature \[K\]'\] must be a finite"):
            await client.simulation.protocol(config)
    with pytest.raises(ValueError, match=r"at body\['tags'\]\[1\]\['x'\]"):
        await client.project.create({"name": "n", "tags": [1, {"x": bad}]})
    with pytest.raises(ValueError, match=r"cannot send (nan|inf|-inf) in the request body"):
        await client.study.update("st", {"weights": np.array([1.0, bad])})
    assert_no_requests(mock_api)


async def test_pipeline_configs_still_send_nan_as_null(
    client: AsyncIonworks, mock_api: aioresponses
) -> None:
    """The official client's pipeline outbound validators turn NaN into null (wire.md §6.2)."""
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    elements = {"e": {"element_type": "entry", "values": {"a": math.nan, "b": 1.0}}}
    await client.pipeline.create({"elements": elements})
    (sent,) = requests_to(mock_api, "POST", "/pipelines")
    assert sent.json["elements"]["e"]["values"] == {"a": None, "b": 1.0}
