"""``client.job``'s fit diagnostics against a mocked API (wire.md §5): the official paths
and query parameters, and the answers the official client gives for jobs without data
(404 → no samples; no trace → ``[]``), on the async client and the sync facade."""

from __future__ import annotations

from typing import Any

import pytest

from ionworks.errors import IonworksError, NotFoundError
from tests.helpers import API, job_record, last_request, url_re


async def test_plot_data_path_and_params(any_client: Any, mock_api: Any) -> None:
    mock_api.get(url_re("/pipelines/datafits/j%2F1/plot_data"), payload={"traces": []})
    got = await any_client.job.get_plot_data("j/1", "cycle", 1, x_min=0.5)
    assert got == {"traces": []}
    sent = last_request(mock_api, "GET", "/pipelines/datafits/j%2F1/plot_data")
    assert sorted(sent.params) == [
        ("max_points", "2000"),
        ("objective_name", "cycle"),
        ("plot_index", "1"),
        ("x_min", "0.5"),
    ]


async def test_trace_and_posterior_read_the_metadata(any_client: Any, mock_api: Any) -> None:
    rows = [{"best_cost": 1.0, "inputs_unscaled": {"x": 2.0}}, "junk"]
    samples = {"x": [[1.0, 2.0]]}
    metadata = {"intermediate_results": rows, "samples": samples, "sample_burnin": 1}
    mock_api.get(f"{API}/jobs/j1/metadata", payload=metadata, repeat=True)
    assert await any_client.job.get_parameter_trace("j1") == rows[:1]
    assert await any_client.job.get_posterior_samples("j1") == {
        "samples": samples,
        "sample_costs": None,
        "sample_param_names": None,
        "sample_burnin": 1,
    }


async def test_jobs_without_data_answer_empty(any_client: Any, mock_api: Any) -> None:
    mock_api.get(f"{API}/jobs/opt/metadata", payload={"intermediate_results": None}, repeat=True)
    mock_api.get(f"{API}/jobs/gone/metadata", status=404, payload={"detail": "no"}, repeat=True)
    assert await any_client.job.get_parameter_trace("opt") == []
    assert await any_client.job.get_posterior_samples("opt") == {}
    assert await any_client.job.get_posterior_samples("gone") == {}
    with pytest.raises(NotFoundError):
        await any_client.job.get_parameter_trace("gone")  # as the official client: not caught


async def test_create_is_deprecated_and_checks_its_payload(any_client: Any, mock_api: Any) -> None:
    mock_api.post(url_re("/jobs/"), status=410, payload={"detail": "POST /jobs/ is deprecated"})
    with pytest.warns(DeprecationWarning), pytest.raises(IonworksError) as caught:
        await any_client.job.create({"job_type": "pipeline", "params": {}})
    assert caught.value.status_code == 410
    assert last_request(mock_api, "POST", "/jobs/").json == {
        "priority": 5,
        "job_type": "pipeline",
        "params": {},
    }
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="job_type"):
        await any_client.job.create(["not", "a", "payload"])
    mock_api.post(url_re("/jobs/"), payload=job_record())
    with pytest.warns(DeprecationWarning):
        assert (await any_client.job.create({"job_type": "x", "priority": 1})).job_id == "j1"
