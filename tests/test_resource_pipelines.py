"""``client.pipeline`` and ``client.simple_pipeline`` against a mocked API (wire.md §6, §7)."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest

from ionworks import Pipeline, PipelineResult, SimplePipeline
from ionworks.errors import (
    APIResponseValidationError,
    IonworksError,
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
    sent_requests,
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


async def test_create_minimal_body(any_client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    config = {"name": "nm", "elements": ELEMENTS}
    original = copy.deepcopy(config)
    result = await any_client.pipeline.create(config)
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
    any_client, mock_api, kwargs, expected
) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    config = {
        "elements": {"known": ENTRY},
        "project_id": "p-cfg",
        "name": "cfg",
        "description": "cfg-d",
        "options": {"a": 1},
    }
    await any_client.pipeline.create(config, **kwargs)
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
async def test_create_rejects_bad_configs(any_client, mock_api, config, match) -> None:
    with pytest.raises(ValueError, match=match):
        await any_client.pipeline.create(config)
    assert_no_requests(mock_api)


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_create_without_project_id(new_client, mock_api, resource) -> None:
    async with new_client(api_key="key-1", api_url=API) as bare:
        with pytest.raises(ValueError, match="project_id is required") as info:
            await getattr(bare, resource).create({"elements": ELEMENTS})
    for way in ("this call", "Ionworks(", "IONWORKS_PROJECT_ID"):
        assert way in str(info.value)
    assert_no_requests(mock_api)


async def test_create_inlines_file_reference_and_keeps_db(any_client, mock_api, tmp_path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("Time [s],Voltage [V]\n0,4.2\n1,4.1\n2,4.0\n")
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    fit = {
        "element_type": "data_fit",
        "objectives": {"v": {"data": f"file:{csv}"}, "w": {"data": "db:M2"}},
    }
    await any_client.pipeline.create({"elements": {"fit": fit}})
    objectives = last_request(mock_api, "POST", "/pipelines").json["elements"]["fit"]["objectives"]
    assert objectives["v"]["data"] == {"Time [s]": [0, 1, 2], "Voltage [V]": [4.2, 4.1, 4.0]}
    assert objectives["w"]["data"] == "db:M2"


async def test_create_inlines_small_dataframe_with_nan_as_null(any_client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    df = pl.DataFrame({"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, float("nan")]})
    await any_client.pipeline.create(
        {"elements": {"v": {"element_type": "validation", "data": df}}}
    )
    sent = last_request(mock_api, "POST", "/pipelines").json["elements"]["v"]["data"]
    assert sent == {"Time [s]": [0.0, 1.0], "Voltage [V]": [4.0, None]}


async def test_create_large_body_is_gzipped(any_client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    values = {f"p{i}": float(i) for i in range(40_000)}  # > 512 KiB of JSON
    await any_client.pipeline.create(
        {"elements": {"e": {"element_type": "entry", "values": values}}}
    )
    sent = last_request(mock_api, "POST", "/pipelines")
    assert sent.headers["Content-Encoding"] == "gzip"
    assert sent.kwargs["data"][:2] == b"\x1f\x8b"
    assert sent.json["elements"]["e"]["values"] == values


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_create_rejects_dataframe_over_1000_rows(any_client, mock_api, resource) -> None:
    config = {"elements": {"v": {"element_type": "validation", "data": frame(1001)}}}
    with pytest.raises(ValueError, match="1001 rows") as info:
        await getattr(any_client, resource).create(config)
    assert isinstance(info.value, MeasurementValidationError)
    assert_no_requests(mock_api)


async def test_create_403_is_access_denied(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/pipelines", status=403, payload={"error_code": "FORBIDDEN", "message": "nope"}
    )
    with pytest.raises(ValueError, match="Access denied") as info:
        await any_client.pipeline.create({"elements": ELEMENTS}, project_id="p-other")
    assert "p-other" in str(info.value)
    assert isinstance(info.value.__cause__, PermissionDeniedError)
    assert len(requests_to(mock_api, "POST", "/pipelines")) == 1  # not retried


async def test_create_bad_uuid_is_value_error(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/pipelines",
        status=400,
        payload={"detail": 'invalid input syntax for type uuid: "nope"'},
    )
    with pytest.raises(ValueError, match="Invalid project_id format"):
        await any_client.pipeline.create({"elements": ELEMENTS}, project_id="nope")


# =========================================================================== pipeline: other methods


async def test_get_keeps_unknown_keys(any_client, mock_api) -> None:
    mock_api.get(f"{API}/pipelines/pl-1", payload=pipeline_record(progress=0.5, error="e"))
    record = await any_client.pipeline.get("pl-1")
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
    any_client, mock_api, path, record, call, missing
) -> None:
    body = record()
    del body[missing]
    mock_api.get(f"{API}{path}", payload=body)
    with pytest.raises(APIResponseValidationError, match=missing):
        await call(any_client)


@pytest.mark.parametrize("bad", [{"name": None}, {"is_terminal": "false"}])
async def test_wrong_typed_required_key_is_a_validation_error(any_client, mock_api, bad) -> None:
    mock_api.get(f"{API}/pipelines/pl-1", payload=pipeline_record(**bad))
    with pytest.raises(APIResponseValidationError):
        await any_client.pipeline.get("pl-1")


@pytest.mark.parametrize(
    ("payload", "total"),
    [({"pipelines": [pipeline_record()], "total": 7}, 7), ([pipeline_record()], 1)],
)
async def test_list_uses_skip_for_offset(any_client, mock_api, payload, total) -> None:
    mock_api.get(url_re("/pipelines"), payload=payload)
    page = await any_client.pipeline.list(limit=1, offset=2, status="in.(completed,failed)")
    assert last_request(mock_api, "GET", "/pipelines").params == [
        ("project_id", "p1"),
        ("limit", "1"),
        ("skip", "2"),
        ("status", "in.(completed,failed)"),
    ]
    assert isinstance(page, Page) and page.total == total and page[0].id == "pl-1"


async def test_list_rejects_unknown_shape(any_client, mock_api) -> None:
    mock_api.get(url_re("/pipelines"), payload={"items": []})
    with pytest.raises(APIResponseValidationError, match="pipelines"):
        await any_client.pipeline.list(project_id="p2")
    assert last_request(mock_api, "GET", "/pipelines").query == {
        "project_id": "p2",
        "limit": "1000",
    }


@pytest.mark.parametrize("resource", ["pipeline", "simple_pipeline"])
async def test_update_needs_a_field(any_client, mock_api, resource) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await getattr(any_client, resource).update("x")
    assert_no_requests(mock_api)


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"name": "n2"}, {"name": "n2"}),
        ({"description": "d"}, {"description": "d"}),
        ({"name": "a", "description": "b"}, {"name": "a", "description": "b"}),
    ],
)
async def test_update_sends_given_fields(any_client, mock_api, kwargs, body) -> None:
    mock_api.patch(f"{API}/pipelines/pl-1", payload=pipeline_record(name="n2"))
    result = await any_client.pipeline.update("pl-1", **kwargs)
    assert last_request(mock_api, "PATCH", "/pipelines/pl-1").json == body
    assert result.name == "n2"


async def test_result_elements_cancel_delete(any_client, mock_api) -> None:
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

    result = await any_client.pipeline.result("pl-1")
    assert isinstance(result, PipelineResult) and result.element_results == element_results
    elements = await any_client.pipeline.elements("pl-1")
    assert elements == [PipelineElement("fit", "j9", "Data Fit", {"best_cost": 0.1})]
    cancelled = await any_client.pipeline.cancel("pl-1")
    assert cancelled.status == "canceled"
    assert last_request(mock_api, "POST", "/pipelines/pl-1/cancel").json == {}
    assert await any_client.pipeline.delete("pl-1") is None
    assert len(requests_to(mock_api, "DELETE", "/pipelines/pl-1")) == 1


@pytest.mark.parametrize(
    ("path", "payload", "call"),
    [
        ("/pipelines/pl-1/result", {"result": {}}, lambda c: c.pipeline.result("pl-1")),
        ("/pipelines/pl-1/elements", {"elements": []}, lambda c: c.pipeline.elements("pl-1")),
    ],
)
async def test_result_and_elements_shape_errors(any_client, mock_api, path, payload, call) -> None:
    mock_api.get(f"{API}{path}", payload=payload)
    with pytest.raises(APIResponseValidationError):
        await call(any_client)


# =========================================================================== simple pipelines

SIMPLE_CONFIG = {
    "elements": {"fit": {"element_type": "data_fit", "objectives": {"v": {"data": "db:M1"}}}}
}


async def test_simple_create_body(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/simple_pipelines", payload=simple_pipeline_record(job_id="j1", extra_field=[1])
    )
    result = await any_client.simple_pipeline.create(SIMPLE_CONFIG)
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
async def test_simple_create_lifting(any_client, mock_api, kwargs, expected) -> None:
    mock_api.post(f"{API}/simple_pipelines", payload=simple_pipeline_record())
    config = {
        **SIMPLE_CONFIG,
        "project_id": "p-cfg",
        "name": "cfg",
        "options": {"live_progress_updates": True},
    }
    await any_client.simple_pipeline.create(config, **kwargs)
    assert last_request(mock_api, "POST", "/simple_pipelines").json == {
        "config": SIMPLE_CONFIG,
        **expected,
    }


async def test_simple_create_inlines_dataframe(any_client, mock_api) -> None:
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
    await any_client.simple_pipeline.create(config, name="x", options={"a": 1})
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


async def test_simple_list_always_sends_paging_and_order(any_client, mock_api) -> None:
    mock_api.get(
        url_re("/simple_pipelines"),
        payload={"items": [simple_pipeline_record()], "count": 1, "total": 12},
    )
    page = await any_client.simple_pipeline.list()
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
async def test_simple_list_filters_verbatim(any_client, mock_api, filters) -> None:
    mock_api.get(url_re("/simple_pipelines"), payload={"items": [], "count": 0, "total": 0})
    await any_client.simple_pipeline.list(limit=25, **filters)
    query = last_request(mock_api, "GET", "/simple_pipelines").query
    assert query == {
        "project_id": "p1",
        "limit": "25",
        "offset": "0",
        "order_by": "created_at",
        "order": "desc",
        **filters,
    }


async def test_simple_list_rejects_bad_order(any_client, mock_api) -> None:
    with pytest.raises(ValueError, match="order"):
        await any_client.simple_pipeline.list(order="sideways")
    assert_no_requests(mock_api)


async def test_simple_update_cancel_delete(any_client, mock_api) -> None:
    mock_api.patch(f"{API}/simple_pipelines/sp-1", payload=simple_pipeline_record(name="Renamed"))
    mock_api.post(
        f"{API}/simple_pipelines/sp-1/cancel", payload=simple_pipeline_record(status="canceled")
    )
    mock_api.delete(f"{API}/simple_pipelines/sp-1", status=204)
    assert (
        await any_client.simple_pipeline.update("sp-1", name="Renamed", description="notes")
    ).name == "Renamed"
    assert last_request(mock_api, "PATCH", "/simple_pipelines/sp-1").json == {
        "name": "Renamed",
        "description": "notes",
    }
    assert (await any_client.simple_pipeline.cancel("sp-1")).status == "canceled"
    assert last_request(mock_api, "POST", "/simple_pipelines/sp-1/cancel").json == {}
    assert await any_client.simple_pipeline.delete("sp-1") is None
    assert len(requests_to(mock_api, "DELETE", "/simple_pipelines/sp-1")) == 1


async def test_simple_get_result_payload(any_client, mock_api) -> None:
    result: dict[str, Any] = {"parameter_values": {"D": 5.3e-14}}
    mock_api.get(
        f"{API}/simple_pipelines/sp-1",
        payload=simple_pipeline_record(status="completed", is_terminal=True, result=result),
    )
    record = await any_client.simple_pipeline.get("sp-1")
    assert record.result == result and record.is_terminal and not record.is_failed


# =========================================================================== both: the shared base

BOTH = [
    pytest.param("pipeline", "/pipelines", pipeline_record, Pipeline, "Pipeline", id="pipeline"),
    pytest.param(
        "simple_pipeline",
        "/simple_pipelines",
        simple_pipeline_record,
        SimplePipeline,
        "SimplePipeline",
        id="simple_pipeline",
    ),
]


@pytest.mark.parametrize(("resource", "path", "record", "cls", "label"), BOTH)
async def test_wait_for_one_id_and_for_many(
    any_client, mock_api, resource, path, record, cls, label
) -> None:
    done = {"status": "completed", "is_terminal": True}
    mock_api.get(f"{API}{path}/a", payload=record(id="a", status="running"))
    mock_api.get(f"{API}{path}/a", payload=record(id="a", result={"D": 1.0}, **done))
    one = await getattr(any_client, resource).wait_for_completion(
        "a", poll_interval=0, verbose=False
    )
    assert isinstance(one, cls) and (one.id, one.status, one.result) == (
        "a",
        "completed",
        {"D": 1.0},
    )
    assert len(requests_to(mock_api, "GET", f"{path}/a")) == 2
    for rid in ("b", "c"):
        mock_api.get(f"{API}{path}/{rid}", payload=record(id=rid, **done), repeat=True)
    many = await getattr(any_client, resource).wait_for_completion(
        ["c", "b"], poll_interval=0, verbose=False
    )
    assert [r.id for r in many] == ["c", "b"] and all(isinstance(r, cls) for r in many)


@pytest.mark.parametrize(("resource", "path", "record", "cls", "label"), BOTH)
async def test_wait_failure_raises_unless_told_not_to(
    any_client, mock_api, resource, path, record, cls, label
) -> None:
    failed = record(id="f", status="failed", is_terminal=True, is_failed=True, error="bad fit")
    mock_api.get(f"{API}{path}/f", payload=failed, repeat=True)
    with pytest.raises(IonworksError, match=f"{label} f failed: bad fit"):
        await getattr(any_client, resource).wait_for_completion("f", verbose=False)
    record_back = await getattr(any_client, resource).wait_for_completion(
        "f", verbose=False, raise_on_failure=False
    )
    assert isinstance(record_back, cls) and record_back.is_failed


@pytest.mark.parametrize(("resource", "path", "record", "cls", "label"), BOTH)
async def test_wait_names_the_id_argument_in_errors(
    any_client, mock_api, resource, path, record, cls, label
) -> None:
    with pytest.raises(TypeError, match=rf"^{resource}_id must be an id"):
        await getattr(any_client, resource).wait_for_completion(42, verbose=False)
    with pytest.raises(ValueError, match=rf"^{resource}_id\[1\] is an empty string"):
        await getattr(any_client, resource).wait_for_completion(["x", ""], verbose=False)
    assert_no_requests(mock_api)


@pytest.mark.parametrize(("resource", "path", "record", "cls", "label"), BOTH)
async def test_get_update_cancel_delete(
    any_client, mock_api, resource, path, record, cls, label
) -> None:
    rid = record()["id"]
    mock_api.get(f"{API}{path}/{rid}", payload=record(name="n"))
    mock_api.patch(f"{API}{path}/{rid}", payload=record(name="n2"))
    mock_api.post(f"{API}{path}/{rid}/cancel", payload=record(status="canceled"))
    mock_api.delete(f"{API}{path}/{rid}", status=204)
    api = getattr(any_client, resource)
    got = await api.get(rid)
    assert isinstance(got, cls) and got.id == rid
    assert (await api.update(rid, description="d")).name == "n2"
    assert last_request(mock_api, "PATCH", f"{path}/{rid}").json == {"description": "d"}
    cancelled = await api.cancel(rid)
    assert isinstance(cancelled, cls) and cancelled.status == "canceled"
    assert await api.delete(rid) is None
    assert [s.method for s in sent_requests(mock_api)] == ["GET", "PATCH", "POST", "DELETE"]


async def test_list_pages_from_the_offset(any_client, mock_api) -> None:
    mock_api.get(url_re("/pipelines"), payload={"pipelines": [pipeline_record()], "total": 3})
    assert (await any_client.pipeline.list(offset=3)).total == 3
    assert last_request(mock_api, "GET", "/pipelines").query == {
        "project_id": "p1",
        "limit": "1000",
        "skip": "3",
    }
