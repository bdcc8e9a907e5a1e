"""``client.pipeline`` and ``client.simple_pipeline`` against a mocked API (wire.md §6, §7)."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest

from ionworks import AsyncIonworks, Pipeline, PipelineResult, SimplePipeline
from ionworks.errors import (
    APIResponseValidationError,
    MeasurementValidationError,
    PermissionDeniedError,
)
from ionworks.models import Page, PipelineElement
from tests.helpers import (
    API,
    assert_no_requests,
    last_request,
    pipeline_record,
    requests_to,
    simple_pipeline_record,
    url_re,
)

ENTRY = {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}}
VALIDATION = {
    "element_type": "validation",
    "objectives": {
        "cycle": {
            "type": "CurrentDriven",
            "data": "db:MEAS1",
            "options": {"model": {"type": "SPM"}},
        }
    },
}
ELEMENTS = {"known": ENTRY, "validate": VALIDATION}


def frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame({"Time [s]": [float(i) for i in range(rows)], "Voltage [V]": [4.0] * rows})


# =========================================================================== pipeline.create


async def test_create_minimal_body(client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    config = {"name": "nm", "elements": ELEMENTS}
    original = copy.deepcopy(config)
    result = await client.pipeline.create(config)
    assert last_request(mock_api, "POST", "/pipelines").json == {
        "elements": ELEMENTS,
        "name": "nm",
        "project_id": "p1",
        "options": {},
    }
    assert isinstance(result, Pipeline) and (result.id, result.status) == ("pl-1", "pending")
    assert config == original


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"project_id": "p-cfg", "name": "cfg", "description": "cfg-d", "options": {"a": 1}}),
        (
            {"project_id": "p-kw", "name": "kw", "description": "kw-d", "options": {"b": 2}},
            {"project_id": "p-kw", "name": "kw", "description": "kw-d", "options": {"b": 2}},
        ),
        (
            {"name": "kw"},
            {"project_id": "p-cfg", "name": "kw", "description": "cfg-d", "options": {"a": 1}},
        ),
    ],
    ids=["lifted", "explicit-win", "mixed"],
)
async def test_create_lifts_keys_and_explicit_kwargs_win(
    client, mock_api, kwargs, expected
) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    config = {
        "elements": {"known": ENTRY},
        "project_id": "p-cfg",
        "name": "cfg",
        "description": "cfg-d",
        "options": {"a": 1},
    }
    await client.pipeline.create(config, **kwargs)
    assert last_request(mock_api, "POST", "/pipelines").json == {
        "elements": {"known": ENTRY},
        **expected,
    }


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"elements": [ENTRY]}, "must be a dictionary"),
        ({"name": "no elements"}, "must be a dictionary"),
        ({"elements": {"bad": [1, 2]}}, "'bad' must be a dict"),
        ({"elements": ELEMENTS, "surprise": 1}, "unknown key"),
        ("elements: {}", "must be a dict"),
    ],
)
async def test_create_rejects_bad_configs(client, mock_api, config, match) -> None:
    with pytest.raises(ValueError, match=match):
        await client.pipeline.create(config)
    assert_no_requests(mock_api)


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_create_without_project_id(mock_api, resource) -> None:
    async with AsyncIonworks(api_key="key-1", api_url=API) as bare:
        with pytest.raises(ValueError, match="project_id is required") as info:
            await getattr(bare, resource).create({"elements": ELEMENTS})
    for way in ("this call", "Ionworks(", "IONWORKS_PROJECT_ID"):
        assert way in str(info.value)
    assert_no_requests(mock_api)


async def test_create_inlines_file_reference_and_keeps_db(client, mock_api, tmp_path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("Time [s],Voltage [V]\n0,4.2\n1,4.1\n2,4.0\n")
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    fit = {
        "element_type": "data_fit",
        "objectives": {"v": {"data": f"file:{csv}"}, "w": {"data": "db:M2"}},
    }
    await client.pipeline.create({"elements": {"fit": fit}})
    objectives = last_request(mock_api, "POST", "/pipelines").json["elements"]["fit"]["objectives"]
    assert objectives["v"]["data"] == {"Time [s]": [0, 1, 2], "Voltage [V]": [4.2, 4.1, 4.0]}
    assert objectives["w"]["data"] == "db:M2"


async def test_create_inlines_small_dataframe_with_nan_as_null(client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    df = pl.DataFrame({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, float("nan")]})
    await client.pipeline.create({"elements": {"v": {"element_type": "validation", "data": df}}})
    sent = last_request(mock_api, "POST", "/pipelines").json["elements"]["v"]["data"]
    assert sent == {"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, None]}


async def test_create_large_body_is_gzipped(client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    values = {f"p{i}": float(i) for i in range(40_000)}  # > 512 KiB of JSON
    await client.pipeline.create({"elements": {"e": {"element_type": "entry", "values": values}}})
    sent = last_request(mock_api, "POST", "/pipelines")
    assert sent.headers["Content-Encoding"] == "gzip"
    assert sent.kwargs["data"][:2] == b"\x1f\x8b"
    assert sent.json["elements"]["e"]["values"] == values


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_create_rejects_dataframe_over_1000_rows(client, mock_api, resource) -> None:
    config = {"elements": {"v": {"element_type": "validation", "data": frame(1001)}}}
    with pytest.raises(ValueError, match="1001 rows") as info:
        await getattr(client, resource).create(config)
    assert isinstance(info.value, MeasurementValidationError)
    assert_no_requests(mock_api)


async def test_create_403_is_access_denied(client, mock_api) -> None:
    mock_api.post(
        f"{API}/pipelines", status=403, payload={"error_code": "FORBIDDEN", "message": "nope"}
    )
    with pytest.raises(ValueError, match="Access denied") as info:
        await client.pipeline.create({"elements": ELEMENTS}, project_id="p-other")
    assert "p-other" in str(info.value)
    assert isinstance(info.value.__cause__, PermissionDeniedError)
    assert len(requests_to(mock_api, "POST", "/pipelines")) == 1  # not retried


async def test_create_bad_uuid_is_value_error(client, mock_api) -> None:
    mock_api.post(
        f"{API}/pipelines",
        status=400,
        payload={"detail": 'invalid input syntax for type uuid: "nope"'},
    )
    with pytest.raises(ValueError, match="Invalid project_id format"):
        await client.pipeline.create({"elements": ELEMENTS}, project_id="nope")


# =========================================================================== pipeline: other methods


async def test_get_keeps_unknown_keys(client, mock_api) -> None:
    mock_api.get(f"{API}/pipelines/pl-1", payload=pipeline_record(progress=0.5, error="e"))
    record = await client.pipeline.get("pl-1")
    assert record.error == "e" and record.extra == {"progress": 0.5}
    assert record.progress == 0.5 and record["progress"] == 0.5
    assert record.to_dict()["progress"] == 0.5
    with pytest.raises(AttributeError):
        _ = record.not_there


@pytest.mark.parametrize(
    ("path", "record", "call"),
    [
        ("/pipelines/pl-1", pipeline_record, lambda c: c.pipeline.get("pl-1")),
        ("/simple_pipelines/sp-1", simple_pipeline_record, lambda c: c.simple_pipeline.get("sp-1")),
    ],
)
@pytest.mark.parametrize("missing", ["id", "status", "is_terminal", "is_failed"])
async def test_missing_required_key_is_a_validation_error(
    client, mock_api, path, record, call, missing
) -> None:
    body = record()
    del body[missing]
    mock_api.get(f"{API}{path}", payload=body)
    with pytest.raises(APIResponseValidationError, match=missing):
        await call(client)


@pytest.mark.parametrize("bad", [{"name": None}, {"is_terminal": "false"}])
async def test_wrong_typed_required_key_is_a_validation_error(client, mock_api, bad) -> None:
    mock_api.get(f"{API}/pipelines/pl-1", payload=pipeline_record(**bad))
    with pytest.raises(APIResponseValidationError):
        await client.pipeline.get("pl-1")


@pytest.mark.parametrize(
    ("payload", "total"),
    [({"pipelines": [pipeline_record()], "total": 7}, 7), ([pipeline_record()], 1)],
)
async def test_list_uses_skip_for_offset(client, mock_api, payload, total) -> None:
    mock_api.get(url_re("/pipelines"), payload=payload)
    page = await client.pipeline.list(limit=1, offset=2, status="in.(completed,failed)")
    assert last_request(mock_api, "GET", "/pipelines").params == [
        ("project_id", "p1"),
        ("limit", "1"),
        ("skip", "2"),
        ("status", "in.(completed,failed)"),
    ]
    assert isinstance(page, Page) and page.total == total and page[0].id == "pl-1"


async def test_list_rejects_unknown_shape(client, mock_api) -> None:
    mock_api.get(url_re("/pipelines"), payload={"items": []})
    with pytest.raises(APIResponseValidationError, match="pipelines"):
        await client.pipeline.list(project_id="p2")
    assert last_request(mock_api, "GET", "/pipelines").query == {
        "project_id": "p2",
        "limit": "1000",
    }


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_update_needs_a_field(client, mock_api, resource) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await getattr(client, resource).update("x")
    assert_no_requests(mock_api)


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"name": "n2"}, {"name": "n2"}),
        ({"description": "d"}, {"description": "d"}),
        ({"name": "a", "description": "b"}, {"name": "a", "description": "b"}),
    ],
)
async def test_update_sends_given_fields(client, mock_api, kwargs, body) -> None:
    mock_api.patch(f"{API}/pipelines/pl-1", payload=pipeline_record(name="n2"))
    result = await client.pipeline.update("pl-1", **kwargs)
    assert last_request(mock_api, "PATCH", "/pipelines/pl-1").json == body
    assert result.name == "n2"


async def test_result_elements_cancel_delete(client, mock_api) -> None:
    element_results = {"fit": {"type": "DataFitResult", "parameter_values": {"D": 1e-14}}}
    mock_api.get(
        f"{API}/pipelines/pl-1/result",
        payload={"result": {"D": 1e-14}, "element_results": element_results},
    )
    mock_api.get(
        f"{API}/pipelines/pl-1/elements",
        payload=[
            {
                "name": "fit",
                "job_id": "j9",
                "element_type": "Data Fit",
                "progress": {"best_cost": 0.1},
            }
        ],
    )
    mock_api.post(
        f"{API}/pipelines/pl-1/cancel",
        payload=pipeline_record(status="canceled", is_terminal=True, is_failed=True),
    )
    mock_api.delete(f"{API}/pipelines/pl-1", status=204)

    result = await client.pipeline.result("pl-1")
    assert isinstance(result, PipelineResult) and result.element_results == element_results
    elements = await client.pipeline.elements("pl-1")
    assert elements == [PipelineElement("fit", "j9", "Data Fit", {"best_cost": 0.1})]
    cancelled = await client.pipeline.cancel("pl-1")
    assert cancelled.status == "canceled"
    assert last_request(mock_api, "POST", "/pipelines/pl-1/cancel").json == {}
    assert await client.pipeline.delete("pl-1") is None
    assert len(requests_to(mock_api, "DELETE", "/pipelines/pl-1")) == 1


@pytest.mark.parametrize(
    ("path", "payload", "call"),
    [
        ("/pipelines/pl-1/result", {"result": {}}, lambda c: c.pipeline.result("pl-1")),
        ("/pipelines/pl-1/elements", {"elements": []}, lambda c: c.pipeline.elements("pl-1")),
    ],
)
async def test_result_and_elements_shape_errors(client, mock_api, path, payload, call) -> None:
    mock_api.get(f"{API}{path}", payload=payload)
    with pytest.raises(APIResponseValidationError):
        await call(client)


# =========================================================================== simple pipelines

SIMPLE_CONFIG = {
    "elements": {"fit": {"element_type": "data_fit", "objectives": {"v": {"data": "db:M1"}}}}
}


async def test_simple_create_body(client, mock_api) -> None:
    mock_api.post(
        f"{API}/simple_pipelines", payload=simple_pipeline_record(job_id="j1", extra_field=[1])
    )
    result = await client.simple_pipeline.create(SIMPLE_CONFIG)
    assert last_request(mock_api, "POST", "/simple_pipelines").json == {
        "project_id": "p1",
        "config": SIMPLE_CONFIG,
    }
    assert isinstance(result, SimplePipeline) and result.job_id == "j1"
    assert result.extra_field == [1] and result.extra == {"extra_field": [1]}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"project_id": "p-cfg", "name": "cfg", "options": {"live_progress_updates": True}}),
        (
            {
                "project_id": "p-kw",
                "name": "kw",
                "description": "d",
                "options": {"live_progress_updates": False},
            },
            {
                "project_id": "p-kw",
                "name": "kw",
                "description": "d",
                "options": {"live_progress_updates": False},
            },
        ),
    ],
    ids=["lifted", "explicit-win"],
)
async def test_simple_create_lifting(client, mock_api, kwargs, expected) -> None:
    mock_api.post(f"{API}/simple_pipelines", payload=simple_pipeline_record())
    config = {
        **SIMPLE_CONFIG,
        "project_id": "p-cfg",
        "name": "cfg",
        "options": {"live_progress_updates": True},
    }
    await client.simple_pipeline.create(config, **kwargs)
    assert last_request(mock_api, "POST", "/simple_pipelines").json == {
        "config": SIMPLE_CONFIG,
        **expected,
    }


async def test_simple_create_inlines_dataframe(client, mock_api) -> None:
    mock_api.post(f"{API}/simple_pipelines", payload=simple_pipeline_record())
    df = pl.DataFrame({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, None]})
    config = {
        "elements": {
            "v": {
                "element_type": "validation",
                "objectives": {"c": {"type": "CurrentDriven", "data": df}},
            }
        }
    }
    await client.simple_pipeline.create(config, name="x", options={"a": 1})
    assert last_request(mock_api, "POST", "/simple_pipelines").json == {
        "project_id": "p1",
        "config": {
            "elements": {
                "v": {
                    "element_type": "validation",
                    "objectives": {
                        "c": {
                            "type": "CurrentDriven",
                            "data": {"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, None]},
                        }
                    },
                }
            }
        },
        "name": "x",
        "options": {"a": 1},
    }


async def test_simple_list_always_sends_paging_and_order(client, mock_api) -> None:
    mock_api.get(
        url_re("/simple_pipelines"),
        payload={"items": [simple_pipeline_record()], "count": 1, "total": 12},
    )
    page = await client.simple_pipeline.list()
    assert last_request(mock_api, "GET", "/simple_pipelines").params == [
        ("project_id", "p1"),
        ("limit", "10"),
        ("offset", "0"),
        ("order_by", "created_at"),
        ("order", "desc"),
    ]
    assert (page.count, page.total, page.items[0].id) == (1, 12, "sp-1")


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "in.(pending,running)"},
        {"name": "ilike.%diffevo%"},
        {"created_at_gt": "2026-05-08", "created_at_lt": "2026-05-15", "order": "asc"},
    ],
)
async def test_simple_list_filters_verbatim(client, mock_api, filters) -> None:
    mock_api.get(url_re("/simple_pipelines"), payload={"items": [], "count": 0, "total": 0})
    await client.simple_pipeline.list(limit=25, **filters)
    query = last_request(mock_api, "GET", "/simple_pipelines").query
    assert query == {
        "project_id": "p1",
        "limit": "25",
        "offset": "0",
        "order_by": "created_at",
        "order": "desc",
        **filters,
    }


async def test_simple_list_rejects_bad_order(client, mock_api) -> None:
    with pytest.raises(ValueError, match="order"):
        await client.simple_pipeline.list(order="sideways")
    assert_no_requests(mock_api)


async def test_simple_update_cancel_delete(client, mock_api) -> None:
    mock_api.patch(f"{API}/simple_pipelines/sp-1", payload=simple_pipeline_record(name="Renamed"))
    mock_api.post(
        f"{API}/simple_pipelines/sp-1/cancel", payload=simple_pipeline_record(status="canceled")
    )
    mock_api.delete(f"{API}/simple_pipelines/sp-1", status=204)
    assert (
        await client.simple_pipeline.update("sp-1", name="Renamed", description="notes")
    ).name == "Renamed"
    assert last_request(mock_api, "PATCH", "/simple_pipelines/sp-1").json == {
        "name": "Renamed",
        "description": "notes",
    }
    assert (await client.simple_pipeline.cancel("sp-1")).status == "canceled"
    assert last_request(mock_api, "POST", "/simple_pipelines/sp-1/cancel").json == {}
    assert await client.simple_pipeline.delete("sp-1") is None
    assert len(requests_to(mock_api, "DELETE", "/simple_pipelines/sp-1")) == 1


async def test_simple_get_result_payload(client, mock_api) -> None:
    result: dict[str, Any] = {"parameter_values": {"D": 5.3e-14}}
    mock_api.get(
        f"{API}/simple_pipelines/sp-1",
        payload=simple_pipeline_record(status="completed", is_terminal=True, result=result),
    )
    record = await client.simple_pipeline.get("sp-1")
    assert record.result == result and record.is_terminal and not record.is_failed
