"""The blocking facade ``ionworks.Ionworks``: every resource through the portal thread, plus
the facade's own behaviour (running loops, threads, closing, error propagation, iterators)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
import pytest
from aioresponses import CallbackResult

from ionworks import Ionworks, SimulationResponse
from ionworks.errors import MeasurementValidationError, NotFoundError
from tests.conftest import FAST_RETRIES
from tests.helpers import (
    API,
    assert_no_requests,
    job_record,
    last_request,
    measurement_record,
    parquet_bytes,
    pipeline_record,
    simple_pipeline_record,
    url_re,
)


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


# =========================================================================== one per resource


def test_simulation(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/protocols/parse-to-template", payload={"template_id": "T1"})
    mock_api.post(
        f"{API}/simulations/with-template/batch", payload=[{"simulation_id": "s1", "job_id": "j1"}]
    )
    mock_api.get(
        f"{API}/simulations/s1/time_series/download",
        body=parquet_bytes(
            {"Time [s]": [0.0], "Step count": [0], "Discharge capacity [A.h]": [0.0]}
        ),
    )
    mock_api.get(f"{API}/simulations/s1/steps/download", body=parquet_bytes({"Step count": [0]}))
    mock_api.get(f"{API}/simulations/s1", payload={"id": "s1", "metrics": {"m": 1}})
    out = sync_client.simulation.protocol(
        {
            "parameterized_model": {"capacity": 5, "chemistry": "LFP"},
            "protocol_experiment": {"protocol": "steps: []", "name": "p"},
        }
    )
    assert out == SimulationResponse("s1", "j1", "T1")
    body = last_request(mock_api, "POST", "/simulations/with-template/batch").json
    assert body["parameterized_model"] == {"quick_model": {"capacity": 5, "chemistry": "LFP"}}
    result = sync_client.simulation.get_result("s1")
    assert (
        isinstance(result.time_series, pl.DataFrame)
        and "Capacity [A.h]" in result.time_series.columns
    )
    assert result.metrics == {"m": 1}


def test_pipeline(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/pipelines", payload=pipeline_record())
    mock_api.get(url_re("/pipelines"), payload={"pipelines": [pipeline_record()], "total": 3})
    elements = {"e": {"element_type": "entry", "values": {"a": 1}}}
    assert sync_client.pipeline.create({"elements": elements}, name="nm").id == "pl-1"
    assert last_request(mock_api, "POST", "/pipelines").json == {
        "elements": elements,
        "name": "nm",
        "project_id": "p1",
        "options": {},
    }
    assert sync_client.pipeline.list(offset=3).total == 3
    assert last_request(mock_api, "GET", "/pipelines").query == {
        "project_id": "p1",
        "limit": "1000",
        "skip": "3",
    }


def test_simple_pipeline(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/simple_pipelines", payload=simple_pipeline_record())
    mock_api.get(f"{API}/simple_pipelines/sp-1", payload=simple_pipeline_record(status="running"))
    mock_api.get(
        f"{API}/simple_pipelines/sp-1",
        payload=simple_pipeline_record(
            status="completed", is_terminal=True, result={"parameter_values": {"D": 1.0}}
        ),
    )
    sp = sync_client.simple_pipeline.create(
        {"elements": {"f": {"element_type": "data_fit"}}, "options": {"x": 1}}
    )
    assert last_request(mock_api, "POST", "/simple_pipelines").json["options"] == {"x": 1}
    done = sync_client.simple_pipeline.wait_for_completion(sp.id, poll_interval=0, verbose=False)
    assert done.result == {"parameter_values": {"D": 1.0}}


def test_study(sync_client, mock_api) -> None:
    mock_api.get(
        url_re("/projects/p1/studies"),
        payload={"items": [{"id": "st", "name": "Sweep"}], "total": 1},
    )
    mock_api.post(f"{API}/projects/p2/studies/st/simulations/s1", payload={"ok": True})
    assert [s.name for s in sync_client.study.list(name="Swe")] == ["Sweep"]
    assert last_request(mock_api, "GET", "/projects/p1/studies").query == {
        "limit": "1000",
        "name": "ilike.%Swe%",
    }
    assert sync_client.study.assign_simulation("st", "s1", project_id="p2") == {"ok": True}


def test_protocol(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/protocols/validate", payload={"valid": False, "error": "bad step"})
    mock_api.post(
        f"{API}/protocols/convert",
        payload={"target": "novonix", "primary": {"filename": "p.txt", "content_base64": "aGk="}},
    )
    assert sync_client.protocol.validate("steps: 1") == {"valid": False, "error": "bad step"}
    converted = sync_client.protocol.convert("steps: []", "novonix", verify=True)
    assert converted.primary_bytes == b"hi" and converted.assets == []
    assert last_request(mock_api, "POST", "/protocols/convert").json["verify"] is True


def test_job(sync_client, mock_api) -> None:
    mock_api.get(f"{API}/jobs/j1", payload=job_record())
    mock_api.post(
        f"{API}/jobs/j1/cancel",
        payload=job_record(status="canceled", is_terminal=True, is_failed=True),
    )
    mock_api.get(url_re("/jobs/"), payload=[job_record()])
    assert sync_client.job.get("j1").status == "pending"
    assert sync_client.job.cancel("j1").is_failed
    assert len(sync_client.job.list()) == 1


def test_measurement(sync_client, mock_api) -> None:
    signed = "https://storage.test/up/ts"
    mock_api.post(
        f"{API}/cell_instances/ci-1/cell_measurements/initiate-upload",
        payload={
            "measurement_id": "m1",
            "uploads": [{"filename": "time_series.parquet", "signed_url": signed}],
        },
    )
    mock_api.put(signed, status=200)
    mock_api.post(
        f"{API}/cell_measurements/m1/confirm-upload",
        payload=measurement_record(processing_status="ready"),
    )
    mock_api.get(f"{API}/cell_measurements/m1", payload=measurement_record(), repeat=True)
    frame = pl.DataFrame(
        {"Time [s]": [0.0, 1.0], "Current [A]": [1.0, 1.0], "Voltage [V]": [4.0, 3.9]}
    )
    record = sync_client.measurement.create(
        "ci-1", {"measurement": {"name": "run 1"}, "time_series": frame}
    )
    assert record.id == "m1"
    assert "X-API-Key" not in last_request(mock_api, "PUT", signed).headers
    assert sync_client.measurement.get("m1") == sync_client.cell_measurement.get("m1")


def test_measurement_alias_identity(sync_client) -> None:
    assert sync_client.measurement is sync_client.cell_measurement


def test_parameterized_model(sync_client, mock_api) -> None:
    mock_api.get(
        url_re("/parameterized_models"),
        payload={"items": [{"id": "pm", "name": "Chen"}], "total": 1},
    )
    mock_api.get(f"{API}/parameterized_models/pm/variable-names", payload=["Voltage [V]"])
    assert sync_client.parameterized_model.list(summary=True)[0].name == "Chen"
    assert last_request(mock_api, "GET", "/parameterized_models").query == {
        "project_id": "p1",
        "limit": "1000",
        "summary": "true",
    }
    assert sync_client.parameterized_model.get_variable_names("pm") == ["Voltage [V]"]


def test_model(sync_client, mock_api) -> None:
    mock_api.post(f"{API}/models", payload={"id": "mod", "name": "SPM", "config": {"type": "SPM"}})
    mock_api.delete(f"{API}/models/mod", status=204)
    assert sync_client.model.create({"name": "SPM", "config": {"type": "SPM"}}).config == {
        "type": "SPM"
    }
    assert last_request(mock_api, "POST", "/models").json["project_id"] == "p1"
    assert sync_client.model.delete("mod") is None


def test_project(sync_client, mock_api) -> None:
    mock_api.get(
        f"{API}/projects/p1",
        payload={"id": "p1", "name": "Cells", "organization_id": "o", "plan": "pro"},
    )
    mock_api.get(url_re("/projects"), payload=[{"id": "p1", "name": "Cells"}])
    project = sync_client.project.get("p1")
    assert project.organization_id == "o" and project.plan == "pro"
    assert sync_client.project.list(name_exact="Cells").total == 1
    assert last_request(mock_api, "GET", "/projects").query == {"limit": "1000", "name": "eq.Cells"}


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
