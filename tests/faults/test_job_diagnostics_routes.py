"""Hostile input to a job's fit diagnostics (``/jobs/{id}/series``, ``/plot_data``,
``/pipelines/datafits/{id}/plot_data``, ``/metadata``) and to sampler fit configs: odd,
oversized or unknown query parameters and out-of-bounds sampler options are a 4xx naming the
parameter, never a 500; another key's job is a 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from ionworks import Ionworks
from ionworks.server.hosting import EmbeddedServer
from tests.faults.conftest import KEY_A, KEY_B
from tests.server.test_fit_diagnostics import LIKELIHOOD, fit_pipeline

PLOT = "/pipelines/datafits/{}/plot_data"


async def _get(http: aiohttp.ClientSession, path: str, **params: Any) -> tuple[int, Any]:
    async with http.get(path, params=params) as resp:
        raw = await resp.read()
        assert resp.headers["Content-Type"] == "application/json", raw[:200]
        return resp.status, json.loads(raw)


@pytest.fixture(scope="module")
def fit_job(fault_server: EmbeddedServer) -> Iterator[str]:
    """The job id of a small completed least-squares fit (two iterations)."""
    with Ionworks(api_key=KEY_A, api_url=fault_server.url) as client:
        created = client.pipeline.create(
            fit_pipeline({"type": "ScipyLeastSquares", "max_iterations": 2})
        )
        client.pipeline.wait_for_completion(
            created.id, timeout=120, poll_interval=0.2, verbose=False
        )
        job_id = client.pipeline.elements(created.id)[0].job_id
        assert job_id
        yield job_id


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"objective": "voltage", "max_points": "-1"}, 422, "'max_points'"),
        ({"objective": "voltage", "max_points": "1e3"}, 422, "'max_points'"),
        ({"objective": "voltage", "x_min": "nan"}, 422, "'x_min'"),
        ({"objective": "voltage", "x_max": "1" * 3000}, 422, "'x_max'"),
        ({"objective": "voltage", "source": "s" * 3000}, 422, "'source'"),
        ({"objective": "voltage", "columns": "x," * 1500}, 422, "no channel"),
        ({"objective": "voltage", "evil": "1"}, 422, "unknown query parameter"),
        ({"objective": "v" * 6000}, 404, "no series for objective"),
        ({"objective": "voltage\x00"}, 404, "no series for objective"),
        ({}, 422, "'objective' is required"),
    ],
)
async def test_series_params_are_bounded(
    http: aiohttp.ClientSession, fit_job: str, params: dict[str, str], status: int, names: str
) -> None:
    code, body = await _get(http, f"/jobs/{fit_job}/series", **params)
    assert code == status, body
    assert names in body["detail"] and len(body["detail"]) < 1500


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"objective_name": "voltage", "max_points": "99"}, 422, "in 100..80000"),
        ({"objective_name": "voltage", "max_points": "80001"}, 422, "in 100..80000"),
        ({"objective_name": "voltage", "max_points": "9" * 400}, 422, "'max_points'"),
        ({"objective_name": "voltage", "plot_index": "-1"}, 422, "'plot_index'"),
        ({"objective_name": "voltage", "plot_index": "9" * 400}, 404, "plot_index 0..1"),
        ({"objective_name": "voltage", "plot_index": "2"}, 404, "plot_index 0..1"),
        ({"objective_name": "voltage", "x_min": "inf"}, 422, "'x_min'"),
        ({"objective_name": "voltage", "objective": "x"}, 422, "unknown query parameter"),
        ({"objective_name": "\u2603" * 500}, 404, "no series for objective"),
        ({"plot_index": "0"}, 422, "'objective_name' is required"),
    ],
)
async def test_plot_params_are_bounded(
    http: aiohttp.ClientSession, fit_job: str, params: dict[str, str], status: int, names: str
) -> None:
    for path in (PLOT.format(fit_job), f"/jobs/{fit_job}/plot_data"):
        code, body = await _get(http, path, **params)
        assert code == status, body
        assert names in body["detail"] and len(body["detail"]) < 1500


async def test_plot_window_and_budget(http: aiohttp.ClientSession, fit_job: str) -> None:
    code, body = await _get(
        http, f"/jobs/{fit_job}/series", objective="voltage", max_points="9" * 3000
    )
    assert code == 200 and len(body["Time [s]"]) == 200  # more than any series has: all rows
    code, body = await _get(
        http, PLOT.format(fit_job), objective_name="voltage", max_points="100", x_min="5000"
    )
    assert code == 200 and all(t["x"] == [] for t in body["traces"])
    code, body = await _get(http, PLOT.format(fit_job), objective_name="voltage", max_points="100")
    assert code == 200 and all(len(t["x"]) <= 100 for t in body["traces"])


async def test_other_keys_and_unknown_jobs_are_404(fault_url: str, fit_job: str) -> None:
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as other:
        for path in (
            f"/jobs/{fit_job}/metadata",
            f"/jobs/{fit_job}/series/channels",
            PLOT.format(fit_job),
            f"/jobs/{fit_job}/series",
            PLOT.format("no-such-job"),
            "/jobs/%2E%2E/metadata",
        ):
            code, body = await _get(other, path, objective_name="voltage", objective="voltage")
            assert code == 404, (path, body)


async def test_direct_job_submission_is_gone(http: aiohttp.ClientSession) -> None:
    async with http.post("/jobs/", json={"job_type": "pipeline", "params": {}}) as resp:
        assert resp.status == 410 and "deprecated" in (await resp.json())["detail"]


def _sampler(**options: Any) -> dict[str, Any]:
    return {"type": "PintsSampler", **options}


@pytest.mark.parametrize(
    ("optimizer", "cost", "names"),
    [
        (_sampler(max_iterations=10_000, walkers=100), LIKELIHOOD, "exceed the limit of 20000"),
        (_sampler(walkers=7), LIKELIHOOD, "walkers must be an even number"),
        (_sampler(walkers=2**40), LIKELIHOOD, "optimizer.walkers: 1099511627776 walkers"),
        (_sampler(walkers=20_000, max_iterations=1), LIKELIHOOD, "limit of 1000"),
        (_sampler(walkers=1002, max_iterations=1), LIKELIHOOD, "max_population_size"),
        (_sampler(walkers=100, max_iterations=200), LIKELIHOOD, "= 20100 model evaluations"),
        (_sampler(walkers=101.0, max_iterations=9), LIKELIHOOD, "walkers must be an even"),
        (_sampler(walkers=True), LIKELIHOOD, "walkers must be a positive integer"),
        (_sampler(walkers=[8]), LIKELIHOOD, "walkers must be a positive integer"),
        (_sampler(max_iterations=50, burnin_iterations=50), LIKELIHOOD, "burnin_iterations"),
        (_sampler(burnin_iterations=-1), LIKELIHOOD, "burnin_iterations must be a whole"),
        (_sampler(burnin_iterations="x"), LIKELIHOOD, "burnin_iterations must be a whole"),
        (_sampler(max_iterations=10**12), LIKELIHOOD, "max_iterations"),
        (_sampler(), {"type": "RMSE"}, "needs cost"),
        (_sampler(), None, "needs cost"),
        (_sampler(), {"type": "GaussianLogLikelihood", "sigma": "noise"}, "not supported"),
        (_sampler(), {"type": "GaussianLogLikelihood", "sigma": {"V": -1}}, "positive number"),
        (_sampler(), {"type": "GaussianLogLikelihood"}, "needs sigma"),
    ],
)
async def test_sampler_configs_are_checked_before_running(
    http: aiohttp.ClientSession, optimizer: dict[str, Any], cost: Any, names: str
) -> None:
    async with http.post("/pipelines", json=fit_pipeline(optimizer, cost)) as resp:
        detail = (await resp.json())["detail"]
        assert resp.status == 422, detail
    assert names in detail and "elements.fit" in detail, detail
