"""``client.pipeline`` with the official argument names and filters, its element helpers and
``client.job``'s series, against a mocked API (both clients)."""

from __future__ import annotations

import inspect

import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import NotFoundError
from tests.helpers import API, last_request, pipeline_record, sent_requests, url_re

ELEMENTS = [
    {"name": "entry", "job_id": "j1", "element_type": "Direct Entry"},
    {"name": "check", "job_id": "j1", "element_type": "Validation"},
    {"name": "pending", "job_id": None, "element_type": "Validation"},
]
FILTERS = (
    "id", "name", "description", "status", "created_by_email", "created_at", "updated_at",
    "created_at_gt", "created_at_lt", "updated_at_gt", "updated_at_lt", "order_by", "order",
)  # fmt: skip


async def test_get_and_result_take_job_id(any_client, mock_api) -> None:
    mock_api.get(f"{API}/pipelines/pl-1", payload=pipeline_record())
    mock_api.get(f"{API}/pipelines/pl-1/result", payload={"result": {}, "element_results": {}})
    assert (await any_client.pipeline.get(job_id="pl-1")).id == "pl-1"
    assert (await any_client.pipeline.result(job_id="pl-1")).element_results == {}


def test_list_signature_is_the_official_one() -> None:
    with Ionworks(api_key="k", api_url="http://127.0.0.1:9") as sync_client:
        lists = [AsyncIonworks(api_key="k", api_url="http://127.0.0.1:9").pipeline.list]
        lists.append(sync_client.pipeline.list)
        for method in lists:
            params = list(inspect.signature(method).parameters.values())
            assert [p.name for p in params] == ["project_id", "limit", "offset", *FILTERS]
            assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is None for p in params)


async def test_list_filters_positionally_and_by_name(any_client, mock_api) -> None:
    mock_api.get(
        url_re("/pipelines"), payload={"pipelines": [pipeline_record()], "total": 1}, repeat=True
    )
    await any_client.pipeline.list("p2", 5, 10, "pl-1", "ilike.%fit%")
    assert last_request(mock_api, "GET", "/pipelines").params == [
        ("project_id", "p2"), ("limit", "5"), ("skip", "10"), ("id", "pl-1"),
        ("name", "ilike.%fit%"),
    ]  # fmt: skip
    values = {name: f"v-{name}" for name in FILTERS}
    await any_client.pipeline.list(limit=1, **values)
    sent = last_request(mock_api, "GET", "/pipelines").params
    assert sent == [("project_id", "p1"), ("limit", "1"), *values.items()]
    with pytest.raises(TypeError):
        await any_client.pipeline.list(state="completed")


async def test_element_helpers_find_the_job(any_client, mock_api) -> None:
    mock_api.get(f"{API}/pipelines/pl-1/elements", payload=ELEMENTS, repeat=True)
    mock_api.get(f"{API}/jobs/j1/metadata", payload={"job_id": "j1", "x": 1})
    mock_api.get(f"{API}/jobs/j1/series/channels", payload={"v": {"optimal": ["Time [s]"]}})
    mock_api.get(url_re("/jobs/j1/series"), payload={"Time [s]": [0.0, 1.0]})
    assert await any_client.pipeline.get_element_metadata("pl-1", "check") == {
        "job_id": "j1",
        "x": 1,
    }
    assert await any_client.pipeline.get_element_series_channels("pl-1", "entry") == {
        "v": {"optimal": ["Time [s]"]}
    }
    series = await any_client.pipeline.get_element_series(
        "pl-1", "check", "v", source="baseline", columns=["a", "b"], max_points=5, x_min=0.5
    )
    assert series == {"Time [s]": [0.0, 1.0]}
    assert last_request(mock_api, "GET", "/jobs/j1/series").params == [
        ("objective", "v"), ("source", "baseline"), ("columns", "a,b"), ("max_points", "5"),
        ("x_min", "0.5"),
    ]  # fmt: skip


async def test_element_helpers_use_given_elements(any_client, mock_api) -> None:
    mock_api.get(f"{API}/jobs/j9/series/channels", payload={})
    given = [{"name": "fit", "job_id": "j9"}]
    assert await any_client.pipeline.get_element_series_channels("pl-1", "fit", given) == {}
    with pytest.raises(ValueError, match="No element named 'nope' found in pipeline pl-1"):
        await any_client.pipeline.get_element_metadata("pl-1", "nope", given)
    with pytest.raises(ValueError, match="has no associated job"):
        await any_client.pipeline.get_element_series("pl-1", "x", "v", [{"name": "x"}])
    assert len(sent_requests(mock_api)) == 1


async def test_element_helpers_refuse_before_series(any_client, mock_api) -> None:
    mock_api.get(f"{API}/pipelines/pl-1/elements", payload=ELEMENTS)
    with pytest.raises(ValueError, match="'pending' in pipeline pl-1 has no associated job"):
        await any_client.pipeline.get_element_series("pl-1", "pending", "v")


async def test_job_series_defaults_and_errors(any_client, mock_api) -> None:
    mock_api.get(url_re("/jobs/j1/series"), status=404, payload={"detail": "no series"})
    with pytest.raises(NotFoundError, match="no series"):
        await any_client.job.get_series("j1", "v")
    assert last_request(mock_api, "GET", "/jobs/j1/series").params == [
        ("objective", "v"),
        ("source", "optimal"),
    ]
    with pytest.raises(ValueError):
        await any_client.job.get_series_channels("")
    assert len(sent_requests(mock_api)) == 1
