"""Studies, protocols, jobs, models, parameterized models, projects and cell measurements
against a mocked API (wire.md §5, §8–§12)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import polars as pl
import pytest

from ionworks import ConvertResult, Job, Measurement, Study
from ionworks.errors import APIResponseValidationError, IonworksError, MeasurementValidationError
from ionworks.models import Model, ParameterizedModel, Project
from tests.helpers import (
    API,
    assert_no_requests,
    job_record,
    last_request,
    measurement_record,
    parquet_bytes,
    requests_to,
    sent_requests,
    url_re,
)

Call = Callable[[Any], Awaitable[Any]]  # an AsyncIonworks, or an Ionworks in SyncAsAsync
STUDY = {"id": "st-1", "name": "Sweep", "simulation_count": 3}
YAML = 'global:\n  initial_soc: input["Initial SOC"]\nsteps: []\n'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# =========================================================================== studies


@pytest.mark.parametrize(
    ("kwargs", "path", "params"),
    [
        ({}, "/projects/p1/studies", [("limit", "1000")]),
        ({"name": "Dis"}, "/projects/p1/studies", [("limit", "1000"), ("name", "ilike.%Dis%")]),
        (
            {"name": "Dis", "name_exact": "Discharge"},
            "/projects/p1/studies",
            [("limit", "1000"), ("name", "eq.Discharge")],
        ),
        ({"limit": 10, "offset": 0}, "/projects/p1/studies", [("limit", "10"), ("offset", "0")]),
        (
            {"order_by": "name", "order": "asc"},
            "/projects/p1/studies",
            [("limit", "1000"), ("order_by", "name"), ("order", "asc")],
        ),
        ({"project_id": "other"}, "/projects/other/studies", [("limit", "1000")]),
    ],
)
async def test_study_list_query(any_client, mock_api, kwargs, path, params) -> None:
    mock_api.get(url_re(path), payload={"items": [STUDY], "total": 9})
    page = await any_client.study.list(**kwargs)
    assert last_request(mock_api, "GET", path).params == params
    assert page.total == 9 and isinstance(page[0], Study)
    assert page[0].simulation_count == 3  # unknown keys are kept


async def test_study_list_accepts_bare_array(any_client, mock_api) -> None:
    mock_api.get(url_re("/projects/p1/studies"), payload=[STUDY, {**STUDY, "id": "st-2"}])
    page = await any_client.study.list()
    assert [s.id for s in page] == ["st-1", "st-2"] and page.total == 2


BASE = "/projects/p1/studies"


async def test_study_list_measurements_is_raw(any_client, mock_api) -> None:
    raw = {"items": [{"id": "m1", "anything": True}], "count": 1, "total": 5}
    mock_api.get(url_re(f"{BASE}/st-1/measurements"), payload=raw)
    assert await any_client.study.list_measurements("st-1", limit=1, offset=4) == raw
    assert last_request(mock_api, "GET", f"{BASE}/st-1/measurements").params == [
        ("limit", "1"),
        ("offset", "4"),
    ]


@pytest.mark.parametrize("data", ["Sweep", {"description": "no name"}, {"name": ""}, None])
async def test_study_create_needs_a_dict_with_name(any_client, mock_api, data) -> None:
    with pytest.raises(ValueError, match="name"):
        await any_client.study.create(data)
    assert_no_requests(mock_api)


async def test_study_needs_a_project(new_client, mock_api) -> None:
    async with new_client(api_key="key-1", api_url=API) as bare:
        with pytest.raises(ValueError, match="IONWORKS_PROJECT_ID"):
            await bare.study.list()
    assert_no_requests(mock_api)


# =========================================================================== protocols


async def test_protocol_validate_and_input_references(any_client, mock_api) -> None:
    mock_api.post(f"{API}/protocols/validate", payload={"valid": True})
    mock_api.post(f"{API}/protocols/input_references", payload=["Initial SOC", "C-rate"])
    assert await any_client.protocol.validate(YAML) == {"valid": True, "error": None}
    assert last_request(mock_api, "POST", "/protocols/validate").json == {"protocol": YAML}
    assert await any_client.protocol.find_input_references(YAML) == ["Initial SOC", "C-rate"]
    assert last_request(mock_api, "POST", "/protocols/input_references").json == {"protocol": YAML}


@pytest.mark.parametrize(
    ("path", "payload", "call"),
    [
        ("/protocols/validate", {"ok": True}, lambda c: c.protocol.validate(YAML)),
        (
            "/protocols/input_references",
            {"refs": []},
            lambda c: c.protocol.find_input_references(YAML),
        ),
        ("/protocols/convert", {"target": "maccor"}, lambda c: c.protocol.convert(YAML, "maccor")),
        (
            "/protocols/convert",
            {"primary": {"filename": "p.000", "content_base64": "%%%"}},
            lambda c: c.protocol.convert(YAML, "maccor"),
        ),
    ],
)
async def test_protocol_response_shape_errors(any_client, mock_api, path, payload, call) -> None:
    mock_api.post(f"{API}{path}", payload=payload)
    with pytest.raises(APIResponseValidationError):
        await call(any_client)


CONVERT_RESPONSE = {
    "target": "maccor",
    "primary": {
        "filename": "protocol.000",
        "content_base64": b64(b"MACCOR\n"),
        "media_type": "text/plain",
    },
    "assets": [{"filename": "cycle.MWF", "content_base64": b64(b"\x00\x01wave")}],
}


@pytest.mark.parametrize(
    ("kwargs", "extra_body"),
    [
        ({}, {}),
        ({"verify": False, "filename_stem": "cell"}, {"filename_stem": "cell"}),
        ({"nominal_capacity_ah": 5, "verify": True}, {"nominal_capacity_ah": 5.0, "verify": True}),
        (
            {"drive_cycles": {"dc": "Time [s],Current [A]\n0,1\n"}},
            {"drive_cycles": {"dc": "Time [s],Current [A]\n0,1\n"}},
        ),
        (
            {
                "drive_cycles": {
                    "dc": pl.DataFrame({"Time [s]": [0.0, 1.0], "Current [A]": [1.0, -1.0]})
                }
            },
            {"drive_cycles": {"dc": {"Time [s]": [0.0, 1.0], "Current [A]": [1.0, -1.0]}}},
        ),
    ],
    ids=["defaults", "stem-no-verify", "capacity-verify", "csv-cycle", "frame-cycle"],
)
async def test_protocol_convert_body(any_client, mock_api, kwargs, extra_body) -> None:
    mock_api.post(f"{API}/protocols/convert", payload=CONVERT_RESPONSE)
    await any_client.protocol.convert(YAML, "maccor", **kwargs)
    expected = {"protocol": YAML, "target": "maccor", "filename_stem": "protocol", **extra_body}
    assert last_request(mock_api, "POST", "/protocols/convert").json == expected


async def test_protocol_convert_result(any_client, mock_api, tmp_path) -> None:
    mock_api.post(f"{API}/protocols/convert", payload=CONVERT_RESPONSE)
    result = await any_client.protocol.convert({"steps": []}, "maccor")
    assert last_request(mock_api, "POST", "/protocols/convert").json["protocol"] == {"steps": []}
    assert result == ConvertResult(
        "maccor", "protocol.000", b"MACCOR\n", "text/plain", [("cycle.MWF", b"\x00\x01wave")]
    )
    assert result.text() == "MACCOR\n"
    paths = result.save(tmp_path / "out")
    assert [p.name for p in paths] == ["protocol.000", "cycle.MWF"]
    assert paths[1].read_bytes() == b"\x00\x01wave"


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((YAML, "excel"), {}, "unknown target 'excel'"),
        ((YAML, "neware"), {"nominal_capacity_ah": 0}, "nominal_capacity_ah"),
        ((42, "maccor"), {}, "protocol must be"),
    ],
)
async def test_protocol_convert_client_side_errors(
    any_client, mock_api, args, kwargs, match
) -> None:
    with pytest.raises(ValueError, match=match):
        await any_client.protocol.convert(*args, **kwargs)
    assert_no_requests(mock_api)


# =========================================================================== jobs


async def test_jobs(any_client, mock_api) -> None:
    mock_api.get(f"{API}/jobs/j1", payload=job_record(queue_position=4))
    mock_api.post(
        f"{API}/jobs/j1/cancel",
        payload=job_record(status="canceled", is_terminal=True, is_failed=True),
    )
    mock_api.get(url_re("/jobs/"), payload=[job_record(), job_record(job_id="j2")])
    job = await any_client.job.get("j1")
    assert isinstance(job, Job) and job.priority == 5 and job.queue_position == 4
    cancelled = await any_client.job.cancel("j1")
    assert (cancelled.status, cancelled.is_terminal, cancelled.is_failed) == (
        "canceled",
        True,
        True,
    )
    assert last_request(mock_api, "POST", "/jobs/j1/cancel").json == {}
    assert [j.job_id for j in await any_client.job.list()] == ["j1", "j2"]
    assert last_request(mock_api, "GET", "/jobs/").params == [("limit", "1000")]


async def test_job_list_must_be_an_array(any_client, mock_api) -> None:
    mock_api.get(url_re("/jobs/"), payload={"items": []})
    with pytest.raises(APIResponseValidationError, match="array"):
        await any_client.job.list()


# =========================================================================== models, projects

PM = {"id": "pm-1", "name": "Chen2020 SPMe"}


@pytest.mark.parametrize(
    ("call", "params"),
    [
        (lambda c: c.parameterized_model.list(), [("project_id", "p1"), ("limit", "1000")]),
        (
            lambda c: c.parameterized_model.list("p2", 5, 0, cell_spec_id="cs", summary=True),
            [
                ("project_id", "p2"),
                ("cell_spec_id", "cs"),
                ("limit", "5"),
                ("offset", "0"),
                ("summary", "true"),
            ],
        ),
        (
            lambda c: c.parameterized_model.list_by_project("p3", summary=False),
            [("project_id", "p3"), ("limit", "1000")],
        ),
    ],
)
async def test_parameterized_model_list(any_client, mock_api, call, params) -> None:
    mock_api.get(url_re("/parameterized_models"), payload={"items": [PM], "total": 1})
    page = await call(any_client)
    assert isinstance(page[0], ParameterizedModel) and page.total == 1
    assert last_request(mock_api, "GET", "/parameterized_models").params == params


@pytest.mark.parametrize(
    ("spec", "data", "path", "body"),
    [
        (
            "cs-1",
            {"name": "pm", "model_id": "m1"},
            "/cells/cs-1/parameterized_models",
            {"name": "pm", "model_id": "m1"},
        ),
        (
            None,
            {"name": "pm", "model_id": "m1", "parameters": {"a": 1}},
            "/parameterized_models",
            {"name": "pm", "model_id": "m1", "parameters": {"a": 1}, "project_id": "p1"},
        ),
        (
            None,
            {"name": "pm", "project_id": "p5"},
            "/parameterized_models",
            {"name": "pm", "project_id": "p5"},
        ),
    ],
)
async def test_parameterized_model_create(any_client, mock_api, spec, data, path, body) -> None:
    mock_api.post(f"{API}{path}", payload=PM)
    assert (await any_client.parameterized_model.create(spec, data)).id == "pm-1"
    assert last_request(mock_api, "POST", path).json == body


async def test_parameterized_model_item_methods(any_client, mock_api) -> None:
    mock_api.get(
        f"{API}/parameterized_models/pm-1", payload={**PM, "simulation_settings": {"x": 1}}
    )
    mock_api.patch(f"{API}/cells/cs-1/parameterized_models/pm-1", payload=PM)
    mock_api.patch(f"{API}/parameterized_models/pm-1", payload=PM)
    mock_api.delete(f"{API}/cells/cs-1/parameterized_models/pm-1", status=204)
    mock_api.delete(f"{API}/parameterized_models/pm-1", status=204)
    mock_api.get(
        f"{API}/parameterized_models/pm-1/parameter-values",
        payload={"Nominal cell capacity [A.h]": 5.0},
    )
    mock_api.get(
        f"{API}/parameterized_models/pm-1/variable-names", payload=["Voltage [V]", "Time [s]"]
    )
    pm = any_client.parameterized_model
    assert (await pm.get("pm-1")).simulation_settings == {"x": 1}
    await pm.update("cs-1", "pm-1", {"name": "n"})
    await pm.update(None, "pm-1", {"description": "d"})
    assert last_request(mock_api, "PATCH", "/cells/cs-1/parameterized_models/pm-1").json == {
        "name": "n"
    }
    assert last_request(mock_api, "PATCH", "/parameterized_models/pm-1").json == {
        "description": "d"
    }
    assert await pm.delete("cs-1", "pm-1") is None
    assert await pm.delete(None, "pm-1") is None
    assert await pm.get_parameter_values("pm-1") == {"Nominal cell capacity [A.h]": 5.0}
    assert await pm.get_variable_names("pm-1") == ["Voltage [V]", "Time [s]"]
    assert len(requests_to(mock_api, "DELETE", "/parameterized_models/pm-1")) == 1


MODEL = {"id": "mod-1", "name": "SPMe", "config": {"type": "SPMe"}}
PROJECT = {"id": "p1", "name": "Cells", "organization_id": "org-1"}
NONE = type(None)
# fmt: off
ITEM_CALLS: list[tuple[str, Call, str, str, Any, Any, type]] = [
    ("study.get", lambda c: c.study.get("st-1"), "GET", f"{BASE}/st-1", None, STUDY, Study),
    ("study.get-override", lambda c: c.study.get("st-1", project_id="p2"), "GET", "/projects/p2/studies/st-1", None, STUDY, Study),
    ("study.create", lambda c: c.study.create({"name": "Sweep", "description": "d"}), "POST", BASE, {"name": "Sweep", "description": "d"}, STUDY, Study),
    ("study.update", lambda c: c.study.update("st-1", {"name": "v2"}), "PATCH", f"{BASE}/st-1", {"name": "v2"}, STUDY, Study),
    ("study.delete", lambda c: c.study.delete("st-1"), "DELETE", f"{BASE}/st-1", None, None, NONE),
    ("study.assign_simulation", lambda c: c.study.assign_simulation("st-1", "sim-1"), "POST", f"{BASE}/st-1/simulations/sim-1", {}, {"study_id": "st-1"}, dict),
    ("study.remove_simulation", lambda c: c.study.remove_simulation("st-1", "sim-1"), "DELETE", f"{BASE}/st-1/simulations/sim-1", None, None, NONE),
    ("study.assign_measurement", lambda c: c.study.assign_measurement("st-1", "m-1"), "POST", f"{BASE}/st-1/measurements/m-1", {}, {"study_id": "st-1"}, dict),
    ("study.remove_measurement", lambda c: c.study.remove_measurement("st-1", "m-1", project_id="p2"), "DELETE", "/projects/p2/studies/st-1/measurements/m-1", None, None, NONE),
    ("model.get", lambda c: c.model.get("mod-1"), "GET", "/models/mod-1", None, MODEL, Model),
    ("model.create", lambda c: c.model.create({"name": "SPMe", "config": {"type": "SPMe"}}), "POST", "/models", {"name": "SPMe", "config": {"type": "SPMe"}, "project_id": "p1"}, MODEL, Model),
    ("model.update", lambda c: c.model.update("mod-1", {"name": "x"}), "PATCH", "/models/mod-1", {"name": "x"}, MODEL, Model),
    ("model.delete", lambda c: c.model.delete("mod-1"), "DELETE", "/models/mod-1", None, None, NONE),
    ("project.get", lambda c: c.project.get("p1"), "GET", "/projects/p1", None, PROJECT, Project),
    ("project.create", lambda c: c.project.create({"name": "Cells"}), "POST", "/projects", {"name": "Cells"}, PROJECT, Project),
    ("project.update", lambda c: c.project.update("p1", {"description": "d"}), "PATCH", "/projects/p1", {"description": "d"}, PROJECT, Project),
    ("project.delete", lambda c: c.project.delete("p1"), "DELETE", "/projects/p1", None, None, NONE),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "body", "response", "cls"),
    ITEM_CALLS,
    ids=[c[0] for c in ITEM_CALLS],
)
async def test_item_methods(
    any_client, mock_api, name, call, method, path, body, response, cls
) -> None:
    mock_api.add(f"{API}{path}", method, payload=response, status=204 if response is None else 200)
    result = await call(any_client)
    assert isinstance(result, cls)
    if body is not None:
        assert last_request(mock_api, method, path).json == body
    if isinstance(result, dict):
        assert result == response
    elif result is not None:
        assert (result.id, result.name) == (response["id"], response["name"])


@pytest.mark.parametrize(
    ("call", "path", "params"),
    [
        (lambda c: c.model.list(), "/models", [("project_id", "p1"), ("limit", "1000")]),
        (
            lambda c: c.model.list(5, project_id="p2", name_exact="SPM"),
            "/models",
            [("project_id", "p2"), ("limit", "5"), ("name", "eq.SPM")],
        ),
        (lambda c: c.project.list(), "/projects", [("limit", "1000")]),
        (
            lambda c: c.project.list(2, 4, name="cell", order="desc"),
            "/projects",
            [("limit", "2"), ("offset", "4"), ("name", "ilike.%cell%"), ("order", "desc")],
        ),
    ],
)
async def test_model_and_project_list(any_client, mock_api, call, path, params) -> None:
    mock_api.get(
        url_re(path), payload={"items": [MODEL if path == "/models" else PROJECT], "total": 3}
    )
    page = await call(any_client)
    assert page.total == 3 and page.count == 1
    assert last_request(mock_api, "GET", path).params == params


# =========================================================================== cell measurements

TS = {"Time [s]": [0.0, 1.0, 2.0], "Current [A]": [1.0, 1.0, 0.0], "Voltage [V]": [4.1, 4.0, 4.05]}
STEPS_TABLE = {"Step count": [0], "Duration [s]": [2.0]}
SIGNED = "https://storage.test/put/{}?token=abc"
POLL = f"{API}/cell_measurements/m1?include_steps=false&include_time_series=false"


def mock_upload(
    mock_api, *, status: str = "pending", polls: tuple[dict[str, Any], ...] = ()
) -> None:
    uploads = [
        {"filename": name, "signed_url": SIGNED.format(name), "token": "t", "path": f"m1/{name}"}
        for name in ("time_series.parquet", "steps.parquet")
    ]
    mock_api.post(
        f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload",
        payload={"measurement_id": "m1", "uploads": uploads},
    )
    for name in ("time_series.parquet", "steps.parquet"):
        mock_api.put(SIGNED.format(name), status=200)
    mock_api.post(
        f"{API}/cell_measurements/m1/confirm-upload",
        payload=measurement_record(processing_status=status, steps_created=1),
    )
    for poll in polls:
        mock_api.get(POLL, payload=measurement_record(**poll))


DETAIL = {
    "measurement": {"name": "run 1", "notes": "x", "tags": ["a"], "data_type": "ocp"},
    "time_series": TS,
}


async def test_measurement_create_upload_flow(any_client, mock_api) -> None:
    mock_upload(mock_api, polls=({"processing_status": "running"}, {"processing_status": "ready"}))
    record = await any_client.measurement.create(
        "ci-1", {**DETAIL, "steps": pl.DataFrame(STEPS_TABLE)}, poll_interval=0
    )
    order = [(s.method, str(s.url)) for s in sent_requests(mock_api)]
    assert order[0] == ("POST", f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload")
    assert {o for o in order[1:3]} == {
        ("PUT", SIGNED.format(n)) for n in ("time_series.parquet", "steps.parquet")
    }
    assert order[3:] == [
        ("POST", f"{API}/cell_measurements/m1/confirm-upload"),
        ("GET", POLL),
        ("GET", POLL),
    ]
    assert last_request(
        mock_api, "POST", "/cell_instances/ci-1/cell_measurements/initiate-upload"
    ).json == {"measurement": {"name": "run 1", "notes": "x"}}
    for name, table in (("time_series.parquet", TS), ("steps.parquet", STEPS_TABLE)):
        put = last_request(mock_api, "PUT", SIGNED.format(name).split("?")[0])
        assert (
            "X-API-Key" not in put.headers
            and put.headers["Content-Type"] == "application/octet-stream"
        )
        assert put.raw_body is not None and put.raw_body[:4] == b"PAR1"
        assert pl.read_parquet(io.BytesIO(put.raw_body)).to_dict(as_series=False) == table
    assert last_request(mock_api, "POST", "/cell_measurements/m1/confirm-upload").json == {
        "cell_instance_id": "ci-1",
        "measurement": {"name": "run 1", "notes": "x", "tags": ["a"]},
        "measurement_type": "time_series",
    }
    assert (
        isinstance(record, Measurement)
        and record.processing_status == "pending"
        and record.steps_created == 1
    )


async def test_measurement_create_without_waiting(any_client, mock_api) -> None:
    mock_upload(mock_api)
    await any_client.measurement.create("ci-1", DETAIL, wait_for_processing=False)
    assert requests_to(mock_api, "GET", "/cell_measurements/m1") == []


async def test_measurement_processing_failure(any_client, mock_api) -> None:
    mock_upload(
        mock_api, polls=({"processing_status": "failed", "processing_error": "bad voltage"},)
    )
    with pytest.raises(IonworksError, match="bad voltage"):
        await any_client.measurement.create("ci-1", DETAIL, poll_interval=0)


async def test_measurement_upload_uses_long_read_timeout(any_client, mock_api) -> None:
    mock_upload(mock_api, status="ready")
    await any_client.measurement.create("ci-1", DETAIL)
    put = last_request(mock_api, "PUT", SIGNED.format("time_series.parquet").split("?")[0])
    assert put.kwargs["timeout"].sock_read >= 300


async def test_measurement_upload_failure_is_an_ionworks_error(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload",
        payload={
            "measurement_id": "m1",
            "uploads": [{"filename": "time_series.parquet", "signed_url": SIGNED.format("ts")}],
        },
    )
    mock_api.put(SIGNED.format("ts"), status=403, body="expired")
    with pytest.raises(IonworksError, match="expired"):
        await any_client.measurement.create("ci-1", DETAIL)


@pytest.mark.parametrize(
    ("detail", "match"),
    [
        (
            {**DETAIL, "time_series": {k: v for k, v in TS.items() if k != "Current [A]"}},
            r"missing required column\(s\) 'Current \[A\]'",
        ),
        (
            {**DETAIL, "time_series": {**TS, "Voltage [V]": [4.1, 4.0, float("nan")]}},
            r"'Voltage \[V\]' row 2",
        ),
        (
            {**DETAIL, "time_series": {**TS, "Current [A]": [1.0, None, 0.0]}},
            r"'Current \[A\]' row 1",
        ),
        (
            {**DETAIL, "time_series": {**TS, "Time [s]": [0.0, 2.0, 1.0]}},
            r"row 2: time goes backwards",
        ),
        ({**DETAIL, "time_series": {k: [] for k in TS}}, "no rows"),
        ({"measurement": {"notes": "no name"}, "time_series": TS}, "name"),
        ({"measurement": {"name": "n"}}, "time_series"),
    ],
    ids=["missing-column", "nan", "null", "backwards", "empty", "no-name", "no-data"],
)
async def test_measurement_client_side_validation(any_client, mock_api, detail, match) -> None:
    with pytest.raises(MeasurementValidationError, match=match):
        await any_client.measurement.create("ci-1", detail)
    assert_no_requests(mock_api)


async def test_measurement_relative_upload_url_is_authenticated(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload",
        payload={
            "measurement_id": "m1",
            "uploads": [{"filename": "time_series.parquet", "signed_url": "/uploads/m1/ts"}],
        },
    )
    mock_api.put(f"{API}/uploads/m1/ts", status=200)
    mock_api.post(f"{API}/cell_measurements/m1/confirm-upload", payload=measurement_record())
    await any_client.measurement.create("ci-1", DETAIL)
    assert last_request(mock_api, "PUT", "/uploads/m1/ts").headers["X-API-Key"] == "key-1"


async def test_measurement_reads(any_client, mock_api) -> None:
    mock_api.get(
        f"{API}/cell_measurements/m1", payload=measurement_record(tags=["a"], channel_id="ch")
    )
    mock_api.get(
        url_re("/cell_instances/ci-1/cell_measurements"),
        payload={"items": [measurement_record()], "total": 4},
    )
    mock_api.get(
        url_re("/cell_measurements"), payload={"items": [measurement_record()], "total": 1}
    )
    mock_api.get(
        f"{API}/cell_measurements/m1/time_series/download",
        status=307,
        headers={"Location": "http://storage.test/ts"},
    )
    mock_api.get("http://storage.test/ts", body=parquet_bytes(TS))
    mock_api.get(f"{API}/cell_measurements/m1/steps/download", body=parquet_bytes(STEPS_TABLE))
    m = any_client.cell_measurement
    record = await m.get("m1")
    assert (
        record.tags == ["a"]
        and record.channel_id == "ch"
        and record.measurement_type == "time_series"
    )
    assert (await m.list("ci-1", 5, measurement_type="time_series", name="run")).total == 4
    assert last_request(mock_api, "GET", "/cell_instances/ci-1/cell_measurements").params == [
        ("limit", "5"),
        ("measurement_type", "time_series"),
        ("name", "ilike.%run%"),
    ]
    await m.list_by_project("p1")
    assert last_request(mock_api, "GET", "/cell_measurements").params == [
        ("project_id", "p1"),
        ("limit", "1000"),
    ]
    ts = await m.time_series("m1")
    assert isinstance(ts, pl.DataFrame) and ts.to_dict(as_series=False) == TS
    assert (await m.steps("m1")).to_dict(as_series=False) == STEPS_TABLE


async def test_measurement_update_delete_and_alias(any_client, mock_api) -> None:
    assert any_client.measurement is any_client.cell_measurement
    mock_api.patch(f"{API}/cell_measurements/m1", payload=measurement_record(name="renamed"))
    mock_api.delete(f"{API}/cell_measurements/m1", status=204)
    assert (await any_client.measurement.update("m1", {"name": "renamed"})).name == "renamed"
    assert last_request(mock_api, "PATCH", "/cell_measurements/m1").json == {"name": "renamed"}
    assert await any_client.measurement.delete("m1") is None
    assert len(requests_to(mock_api, "DELETE", "/cell_measurements/m1")) == 1


# =========================================================================== path encoding

ENCODED: list[tuple[str, Call, str]] = [
    ("simulation", lambda c: c.simulation.get("a/b"), "/simulations/a%2Fb"),
    ("job", lambda c: c.job.get("a/b"), "/jobs/a%2Fb"),
    ("pipeline", lambda c: c.pipeline.get("../x"), "/pipelines/..%2Fx"),
    ("simple_pipeline", lambda c: c.simple_pipeline.get("x y?z"), "/simple_pipelines/x%20y%3Fz"),
    ("study", lambda c: c.study.get("s/1", project_id="p/2"), "/projects/p%2F2/studies/s%2F1"),
    ("measurement", lambda c: c.measurement.get("a#b"), "/cell_measurements/a%23b"),
    (
        "parameterized_model",
        lambda c: c.parameterized_model.get("a..b"),
        "/parameterized_models/a..b",
    ),
    ("model", lambda c: c.model.get("%2F"), "/models/%252F"),
    ("project", lambda c: c.project.get("a/../b"), "/projects/a%2F..%2Fb"),
]


@pytest.mark.parametrize(("name", "call", "path"), ENCODED, ids=[e[0] for e in ENCODED])
async def test_ids_are_percent_encoded(any_client, mock_api, name, call, path) -> None:
    mock_api.get(re.compile(r"^http://api\.test/.*$"), payload={}, repeat=True)
    try:
        await call(any_client)
    except APIResponseValidationError:
        pass  # the empty record does not matter here, only the path
    assert [s.path for s in sent_requests(mock_api)] == [path]


@pytest.mark.parametrize("dots", ["..", "."])
async def test_dot_segment_ids_cannot_escape_their_path(any_client, mock_api, dots) -> None:
    mock_api.delete(re.compile(r"^http://api\.test/.*$"), status=204, repeat=True)
    try:
        await any_client.study.delete(dots)
    except ValueError:
        assert_no_requests(mock_api)
    else:
        paths = [s.path for s in sent_requests(mock_api)]
        assert all(
            p.startswith("/projects/p1/studies/") and p != "/projects/p1/studies/" for p in paths
        ), paths
