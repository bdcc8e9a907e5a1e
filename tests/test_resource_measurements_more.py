"""``client.cell_measurement``: create's official options (strict checks, ``skip_checks``,
``rated_capacity``, ``voltage_window``), ``create_or_get``, ``wait_for_processing``, tags and
the list filters against a mocked API, on both clients (issue 18)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from ionworks import Measurement
from ionworks.errors import IonworksError, MeasurementValidationError
from ionworks.models.measurements import MeasurementTagUsage, StepsAndCycles
from ionworks.resources.cell_measurement import MeasurementProcessingError
from tests.helpers import (
    API,
    assert_no_requests,
    last_request,
    measurement_record,
    parquet_bytes,
    requests_to,
    sent_requests,
    url_re,
)
from tests.test_resource_misc import DETAIL, TS, mock_upload

INITIATE = f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload"


def poll(mid: str) -> str:
    return f"{API}/cell_measurements/{mid}?include_steps=false&include_time_series=false"


def conflict(mock_api: Any, detail: Any) -> None:
    body = {"error_code": "CONFLICT", "message": "a measurement named 'run 1' exists"}
    mock_api.post(INITIATE, status=409, payload={**body, "detail": detail})


async def test_create_takes_the_official_positional_options(any_client, mock_api) -> None:
    mock_upload(mock_api, status="ready")
    record = await any_client.measurement.create(
        "ci-1", DETAIL, False, 5.0, (2.5, 4.2), ["time_gaps"], False
    )
    assert isinstance(record, Measurement) and record.id == "m1"
    assert requests_to(mock_api, "GET", "/cell_measurements/m1") == []


STEPPED = {
    "Time [s]": [0.0, 1.0, 2.0, 3.0, 4.0],
    "Current [A]": [1.0, 1.0, 1.0, 0.0, 0.0],
    "Voltage [V]": [4.1, 4.0, 3.9, 3.95, 3.96],
    "Step count": [0, 0, 0, 1, 2],
    "Cycle count": [0, 0, 1, 1, 1],
}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, r"2 error\(s\)"),
        ({"skip_checks": ["minimum_points_per_step"]}, "'Cycle count' changes within a step"),
        ({"skip_checks": ["cycle_constant_within_step"]}, "fewer than 2 data points"),
    ],
)
async def test_strict_checks_fail_before_any_request(
    any_client, mock_api, options: dict[str, Any], match: str
) -> None:
    detail = {**DETAIL, "time_series": STEPPED}
    with pytest.raises(MeasurementValidationError, match=match):
        await any_client.measurement.create("ci-1", detail, validate_strict=True, **options)
    assert_no_requests(mock_api)


async def test_strict_checks_all_skipped_upload(any_client, mock_api) -> None:
    mock_upload(mock_api, status="ready")
    skip = ["minimum_points_per_step", "cycle_constant_within_step"]
    detail = {**DETAIL, "time_series": STEPPED}
    await any_client.measurement.create("ci-1", detail, True, skip_checks=skip)
    assert requests_to(mock_api, "POST", "/cell_measurements/m1/confirm-upload")


async def test_strict_time_gap_voltage_jumps_and_full_steps(any_client, mock_api) -> None:
    gap = {**TS, "Time [s]": [0.0, 1.0, 20_000.0]}
    with pytest.raises(MeasurementValidationError, match=r"time gap of 5\.56 h"):
        await any_client.measurement.create("ci-1", {**DETAIL, "time_series": gap}, True)
    jumpy = {**TS, "Voltage [V]": [4.2, 2.6, 4.2]}
    with pytest.raises(MeasurementValidationError, match="out of order"):
        await any_client.measurement.create(
            "ci-1", {**DETAIL, "time_series": jumpy}, True, voltage_window=(2.5, 4.2)
        )
    steps = pl.DataFrame(
        {"Discharge capacity [A.h]": [11.0, 12.0], "Charge capacity [A.h]": [0.0, 0.0]}
    )
    with pytest.raises(MeasurementValidationError, match="consecutive full discharges"):
        await any_client.measurement.create(
            "ci-1", {**DETAIL, "steps": steps}, True, rated_capacity=5.0
        )
    assert_no_requests(mock_api)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"skip_checks": ["nope"]}, ValueError, "Unknown check name"),
        ({"rated_capacity": -1.0}, MeasurementValidationError, "rated_capacity"),
        ({"rated_capacity": float("nan")}, MeasurementValidationError, "rated_capacity"),
        ({"voltage_window": (4.2, 2.5)}, MeasurementValidationError, "voltage_window"),
        ({"voltage_window": (2.5,)}, MeasurementValidationError, "voltage_window"),
    ],
)
async def test_bad_options_are_refused_locally(
    any_client, mock_api, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await any_client.measurement.create("ci-1", DETAIL, **options)
    assert_no_requests(mock_api)


async def test_create_or_get_returns_the_existing_record(any_client, mock_api) -> None:
    conflict(mock_api, {"message": "exists", "existing_id": "m-old"})
    mock_api.get(f"{API}/cell_measurements/m-old", payload=measurement_record(id="m-old"))
    got = await any_client.measurement.create_or_get("ci-1", DETAIL)
    assert isinstance(got, Measurement) and got.id == "m-old"


async def test_create_or_get_falls_back_to_the_name(any_client, mock_api) -> None:
    conflict(mock_api, "exists")
    listing = {"items": [measurement_record(id="m-2")], "total": 1}
    mock_api.get(
        f"{API}/cell_instances/ci-1/cell_measurements?limit=1000&name=eq.run+1", payload=listing
    )
    assert (await any_client.measurement.create_or_get("ci-1", DETAIL)).id == "m-2"


async def test_create_or_get_new_and_other_errors(any_client, mock_api) -> None:
    mock_upload(mock_api, status="ready")
    assert (await any_client.measurement.create_or_get("ci-1", DETAIL)).id == "m1"
    mock_api.post(INITIATE, status=422, payload={"detail": "bad name"})
    with pytest.raises(IonworksError, match="bad name"):
        await any_client.measurement.create_or_get("ci-1", DETAIL)


async def test_wait_for_processing_batch_reports_every_failure(any_client, mock_api) -> None:
    mock_api.get(poll("a"), payload=measurement_record(id="a", processing_status="ready"))
    mock_api.get(
        poll("b"),
        payload=measurement_record(id="b", processing_status="failed", processing_error="no V"),
    )
    mock_api.get(
        poll("c"),
        payload=measurement_record(id="c", processing_status="failed", processing_error="no I"),
    )
    with pytest.raises(MeasurementProcessingError) as caught:
        await any_client.measurement.wait_for_processing(["a", "b", "c"])
    assert caught.value.failures == {"b": "no V", "c": "no I"}
    assert "2 of 3 uploads could not be processed" in str(caught.value)


async def test_wait_for_processing_returns_the_settled_records(any_client, mock_api) -> None:
    mock_api.get(poll("a"), payload=measurement_record(id="a", processing_status="ready"))
    settled = await any_client.measurement.wait_for_processing("a")
    assert settled == {"a": measurement_record(id="a", processing_status="ready")}


async def test_wait_for_processing_timeout_names_the_measurement(any_client, mock_api) -> None:
    mock_api.get(poll("a"), payload=measurement_record(id="a", processing_status="running"))
    with pytest.raises(MeasurementProcessingError, match="measurement a: Still processing"):
        await any_client.measurement.wait_for_processing("a", timeout=0)


# ------------------------------------------------------------------ tags and list filters


async def test_list_sends_every_official_filter(any_client, mock_api) -> None:
    path = "/cell_instances/ci-1/cell_measurements"
    mock_api.get(url_re(path), payload={"items": [measurement_record()], "total": 1})
    page = await any_client.measurement.list(
        "ci-1",
        5,
        0,
        "time_series",
        name="run",
        created_by_email="me@x",
        started_after="2024",
        started_before="2025",
        created_after="2023",
        created_before="2026",
        updated_after="2022",
        updated_before="2027",
        tags_all=["a", "b"],
        tags_any="c",
        order_by="start_time",
        order="asc",
    )
    assert [m.id for m in page] == ["m1"]
    assert sorted(last_request(mock_api, "GET", path).params) == sorted(
        [
            ("limit", "5"),
            ("offset", "0"),
            ("measurement_type", "time_series"),
            ("name", "ilike.%run%"),
            ("created_by_email", "ilike.%me@x%"),
            ("start_time_gt", "2024"),
            ("start_time_lt", "2025"),
            ("created_at_gt", "2023"),
            ("created_at_lt", "2026"),
            ("updated_at_gt", "2022"),
            ("updated_at_lt", "2027"),
            ("tags_all", "a"),
            ("tags_all", "b"),
            ("tags_any", "c"),
            ("order_by", "start_time"),
            ("order", "asc"),
        ]
    )


async def test_list_by_project_sends_q_and_tags(any_client, mock_api) -> None:
    mock_api.get(url_re("/cell_measurements"), payload={"items": [], "total": 0})
    await any_client.measurement.list_by_project("p2", 10, q="hppc", tags_any=["x", "y"])
    assert sorted(last_request(mock_api, "GET", "/cell_measurements").params) == sorted(
        [("project_id", "p2"), ("limit", "10"), ("q", "hppc"), ("tags_any", "x"), ("tags_any", "y")]
    )


async def test_tags_add_remove_and_list(any_client, mock_api) -> None:
    bulk = f"{API}/cell_measurements/tags/bulk"
    mock_api.post(bulk, payload={"updated_count": 2})
    mock_api.post(bulk, payload={"updated_count": 1})
    assert await any_client.measurement.add_tags(["m1", "m2"], ("hppc", "25degC")) == 2
    assert await any_client.measurement.remove_tags("m1", "hppc") == 1
    sent = [s.json for s in requests_to(mock_api, "POST", "/cell_measurements/tags/bulk")]
    assert sent == [
        {"measurement_ids": ["m1", "m2"], "add": ["hppc", "25degC"], "remove": []},
        {"measurement_ids": ["m1"], "add": [], "remove": ["hppc"]},
    ]
    items = [{"tag": "hppc", "usage_count": 3}, {"tag": "25degC", "usage_count": 1}]
    mock_api.get(url_re("/cell_measurements/tags"), payload={"items": items, "total": 5})
    page = await any_client.measurement.list_tags("p1", q="c", limit=2)
    assert [(t.tag, t.usage_count) for t in page] == [("hppc", 3), ("25degC", 1)]
    assert isinstance(page[0], MeasurementTagUsage) and page.total == 5
    assert sorted(last_request(mock_api, "GET", "/cell_measurements/tags").params) == [
        ("limit", "2"),
        ("project_id", "p1"),
        ("q", "c"),
    ]


async def test_tag_update_with_a_bad_answer_is_typed(any_client, mock_api) -> None:
    mock_api.post(f"{API}/cell_measurements/tags/bulk", payload={"updated": 2})
    with pytest.raises(IonworksError, match="updated_count"):
        await any_client.measurement.add_tags("m1", ["a"])


# ------------------------------------------------------------------ detail and properties


async def test_create_properties_sends_the_official_body(any_client, mock_api) -> None:
    path = "/cell_instances/ci-1/cell_measurements/create"
    made = measurement_record(measurement_type="properties", properties={"m": 1})
    mock_api.post(f"{API}{path}", payload=made, status=201)
    got = await any_client.measurement.create_properties(
        "ci-1", "mass", {"mass": {"value": 45.1, "unit": "g"}}, notes="n", tags="lab"
    )
    assert isinstance(got, Measurement) and got.measurement_type == "properties"
    assert last_request(mock_api, "POST", path).json == {
        "name": "mass",
        "measurement_type": "properties",
        "properties": {"mass": {"value": 45.1, "unit": "g"}},
        "notes": "n",
        "tags": ["lab"],
    }


async def test_detail_of_a_time_series(any_client, mock_api) -> None:
    base = f"{API}/cell_measurements/m1"
    mock_api.get(base, payload=measurement_record(measurement_type="time_series", notes="x"))
    mock_api.get(f"{base}/steps/download", body=parquet_bytes({"Step count": [0, 1]}))
    mock_api.get(f"{base}/time_series/download", body=parquet_bytes(TS))
    mock_api.get(f"{base}/steps_and_cycles", payload={"steps": {}, "cycles": {"Cycle": 0}})
    got = await any_client.measurement.detail("m1")
    assert got.id == "m1" and got.instance_id == "ci-1" and got.notes == "x"
    assert got.steps["Step count"].to_list() == [0, 1]
    assert got.time_series.columns == list(TS) and got.cycles["Cycle"].to_list() == [0]


async def test_detail_without_steps_cycles_or_asked_for_less(any_client, mock_api) -> None:
    base = f"{API}/cell_measurements/m1"
    mock_api.get(base, payload=measurement_record(), repeat=True)
    mock_api.get(f"{base}/steps/download", status=404, payload={"detail": "no steps"})
    mock_api.get(f"{base}/steps_and_cycles", status=404, payload={"detail": "none"})
    mock_api.get(f"{base}/time_series/download", body=parquet_bytes(TS))
    got = await any_client.measurement.detail("m1")
    assert got.steps is None and got.cycles is None and got.time_series is not None
    only = await any_client.measurement.detail("m1", False, False, False, False)
    assert only.steps is None and only.time_series is None and only.cycles is None
    assert len(requests_to(mock_api, "GET", "/cell_measurements/m1/time_series/download")) == 1


async def test_detail_of_properties_fetches_no_data(any_client, mock_api) -> None:
    record = measurement_record(measurement_type="properties", properties={"m": {"value": 1}})
    mock_api.get(f"{API}/cell_measurements/m1", payload=record)
    got = await any_client.measurement.detail("m1")
    assert got.measurement_type == "properties" and got.properties == {"m": {"value": 1}}
    assert len(sent_requests(mock_api)) == 1


async def test_detail_of_a_bad_record_is_typed(any_client, mock_api) -> None:
    mock_api.get(f"{API}/cell_measurements/m1", payload={"id": "m1"})
    with pytest.raises(IonworksError, match="name"):
        await any_client.measurement.detail("m1")


# ------------------------------------------------------------------ file measurements

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


async def test_create_file_upload_flow(any_client, mock_api, tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.7")
    uploads = [
        {"filename": n, "signed_url": f"https://storage.test/{n}", "token": "t", "path": n}
        for n in ("a.png", "b.pdf")
    ]
    mock_api.post(INITIATE, payload={"measurement_id": "m9", "uploads": uploads})
    for n in ("a.png", "b.pdf"):
        mock_api.put(f"https://storage.test/{n}", status=200)
    confirm = f"{API}/cell_measurements/m9/confirm-upload"
    mock_api.post(confirm, payload=measurement_record(id="m9", measurement_type="file"))
    got = await any_client.measurement.create_file(
        "ci-1", "pics", [str(tmp_path / "a.png"), str(tmp_path / "b.pdf")], notes="n", tags=["x"]
    )
    assert got.id == "m9" and got.measurement_type == "file"
    assert last_request(mock_api, "POST", INITIATE).json == {
        "measurement": {"name": "pics", "notes": "n"},
        "measurement_type": "file",
        "filenames": ["a.png", "b.pdf"],
    }
    assert last_request(mock_api, "PUT", "https://storage.test/a.png").raw_body == PNG
    assert last_request(mock_api, "POST", "/cell_measurements/m9/confirm-upload").json == {
        "cell_instance_id": "ci-1",
        "measurement": {"name": "pics", "notes": "n", "tags": ["x"]},
        "measurement_type": "file",
        "filenames": ["a.png", "b.pdf"],
    }


async def test_create_file_checks_locally(any_client, mock_api, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        await any_client.measurement.create_file("ci-1", "x", [str(tmp_path / "missing.png")])
    (tmp_path / "fake.png").write_bytes(b"<html>")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.7")
    with pytest.raises(IonworksError, match="not appear to be a valid PNG"):
        await any_client.measurement.create_file(
            "ci-1", "x", [str(tmp_path / "fake.png")], validate_images=True
        )
    with pytest.raises(IonworksError, match="unsupported extension"):
        await any_client.measurement.create_file(
            "ci-1", "x", [str(tmp_path / "doc.pdf")], validate_images=True
        )
    assert_no_requests(mock_api)


async def test_list_get_and_download_files(any_client, mock_api) -> None:
    base = f"{API}/cell_measurements/m1/files"
    mock_api.get(base, payload={"filenames": ["a.png", "b c.pdf"]}, repeat=True)
    mock_api.get(f"{base}/a.png", body=PNG, repeat=True)
    mock_api.get(f"{base}/b%20c.pdf", body=b"%PDF", repeat=True)
    assert await any_client.measurement.list_files("m1") == ["a.png", "b c.pdf"]
    assert await any_client.measurement.get_file("m1", "a.png") == PNG
    assert await any_client.measurement.download_files("m1") == {"a.png": PNG, "b c.pdf": b"%PDF"}
    only = await any_client.measurement.download_files("m1", False, ["a.png"])
    assert only == {"a.png": PNG}
    assert len(requests_to(mock_api, "GET", "/cell_measurements/m1/files")) == 2  # not for `only`


async def test_detail_of_a_file_measurement_downloads_its_files(any_client, mock_api) -> None:
    base = f"{API}/cell_measurements/m1"
    mock_api.get(base, payload=measurement_record(measurement_type="file"))
    mock_api.get(f"{base}/files", payload={"filenames": ["a.png"]})
    mock_api.get(f"{base}/files/a.png", body=PNG)
    got = await any_client.measurement.detail("m1")
    assert got.files == {"a.png": PNG} and got.time_series is None


# ------------------------------------------------------------------ steps and cycles


async def test_steps_and_cycles_and_cycles(any_client, mock_api) -> None:
    base = f"{API}/cell_measurements/m1"
    cycles = {"Cycle count": [0, 1], "Discharge capacity [A.h]": [1.0, 0.98]}
    mock_api.get(
        f"{base}/steps_and_cycles", payload={"steps": {"Step count": [0]}, "cycles": cycles}
    )
    mock_api.get(f"{base}/cycles", payload={"cycles": {}})
    got = await any_client.measurement.steps_and_cycles("m1", use_cache=False)
    assert isinstance(got, StepsAndCycles)
    assert got.steps["Step count"].to_list() == [0]
    assert got.cycles["Discharge capacity [A.h]"].to_list() == [1.0, 0.98]
    empty = await any_client.measurement.cycles("m1")
    assert empty.shape == (0, 0)


async def test_cycles_bad_answer_is_typed(any_client, mock_api) -> None:
    mock_api.get(f"{API}/cell_measurements/m1/cycles", payload={"cycles": [1, 2]})
    with pytest.raises(IonworksError, match="cycles"):
        await any_client.measurement.cycles("m1")


async def test_project_lists_need_an_explicit_project_id(any_client, mock_api) -> None:
    # official: project_id is required (no client default) on list_by_project and list_tags
    m = any_client.measurement
    with pytest.raises(TypeError):
        await m.list_by_project()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await m.list_tags()  # type: ignore[call-arg]
    for bad in ("", "  ", None):
        with pytest.raises(ValueError, match="project_id"):
            await m.list_by_project(bad)
        with pytest.raises(ValueError, match="project_id"):
            await m.list_tags(bad, q="x")
    assert_no_requests(mock_api)
    mock_api.get(url_re("/cell_measurements/tags"), payload={"items": [], "total": 0})
    assert (await m.list_tags("p9")).total == 0
    assert last_request(mock_api, "GET", "/cell_measurements/tags").params == [("project_id", "p9")]


async def test_time_series_takes_the_official_row_range_and_use_cache(any_client, mock_api) -> None:
    url = f"{API}/cell_measurements/m1/time_series/download"
    for _ in range(4):
        mock_api.get(url, body=parquet_bytes(TS))
    m = any_client.measurement
    whole = await m.time_series("m1", use_cache=False)
    assert whole.to_dict(as_series=False) == TS
    middle = await m.time_series("m1", True, (1, 2))
    assert middle.to_dict(as_series=False) == {k: v[1:2] for k, v in TS.items()}
    past_end = await m.time_series("m1", row_range=(2, 99))
    assert past_end.to_dict(as_series=False) == {k: v[2:] for k, v in TS.items()}
    empty = await m.time_series("m1", row_range=(3, 3))
    assert empty.height == 0 and empty.columns == list(TS)
    # nothing is cached locally: every call downloads
    assert len(requests_to(mock_api, "GET", "/cell_measurements/m1/time_series/download")) == 4


@pytest.mark.parametrize(
    "bad", [(2, 1), (-1, 2), (0,), (0, 1, 2), ("0", "1"), (0.0, 1), (True, 2), "01", 5]
)
async def test_time_series_refuses_a_bad_row_range(any_client, mock_api, bad: Any) -> None:
    with pytest.raises(ValueError, match="row_range"):
        await any_client.measurement.time_series("m1", row_range=bad)
    assert_no_requests(mock_api)
