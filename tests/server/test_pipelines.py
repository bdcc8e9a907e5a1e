"""Integration: pipelines and simple pipelines with real fits against the local server."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import IonworksError, NotFoundError, ValidationError
from tests.server.conftest import KEY_B
from tests.server.test_fitting import D_N, TRUE_D_N, fit_config, synthetic_data

WAIT = {"timeout": 120, "poll_interval": 0.2, "verbose": False}


@pytest.fixture
async def api_b(server_url: str) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as client:
        yield client


def close(value: float) -> bool:
    return abs(value / TRUE_D_N - 1) < 0.1


def validation(data: Any) -> dict[str, Any]:
    return {
        "element_type": "validation",
        "objectives": {
            "voltage": {
                "type": "CurrentDriven",
                "data": data,
                "options": {"model": {"type": "SPM"}},
            }
        },
    }


async def test_pipeline_fit_calculation_validation(api: AsyncIonworks) -> None:
    config = fit_config(synthetic_data())  # from 3x off, least squares, inline data
    config["elements"]["double"] = {
        "element_type": "Calculation",
        "expressions": {"Double D [m2.s-1]": f"2 * {{{D_N}}}"},
    }
    config["elements"]["check"] = validation("entry.data")
    created = await api.pipeline.create(config)
    assert created.name and created.status in ("pending", "running")
    done = await api.pipeline.wait_for_completion(created.id, **WAIT)
    assert done.status == "completed" and done.is_terminal and not done.is_failed
    result = await api.pipeline.result(created.id)
    fitted = result.element_results["fit"]["parameter_values"][D_N]
    assert close(fitted) and close(result.result["parameter_values"][D_N])
    assert result.element_results["double"]["parameter_values"]["Double D [m2.s-1]"] == (
        pytest.approx(2 * fitted)
    )
    assert result.result["summary_stats"]["voltage"]["RMSE [V]"] < 2e-3
    elements = await api.pipeline.elements(created.id)
    assert [(e.name, e.element_type) for e in elements] == [
        ("entry", "Direct Entry"),
        ("fit", "Data Fit"),
        ("double", "Calculation"),
        ("check", "Validation"),
    ]
    fit = elements[1]
    assert fit.job_id and fit.progress and fit.progress["best_cost"] < 2e-3
    metadata = await api.job.get_metadata(fit.job_id)
    assert metadata["intermediate_results"] and "element_results" in metadata
    renamed = await api.pipeline.update(created.id, name="renamed", description="d")
    assert (renamed.name, renamed.description) == ("renamed", "d")
    page = await api.pipeline.list(limit=5, offset=0, name="eq.renamed")
    assert [p.id for p in page] == [created.id] and page.total == 1
    await api.pipeline.delete(created.id)
    with pytest.raises(NotFoundError):
        await api.pipeline.get(created.id)


async def test_simple_pipeline_de_fit_from_file(api: AsyncIonworks, tmp_path: Path) -> None:
    data = synthetic_data()
    path = tmp_path / "discharge.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(data))
        writer.writerows(zip(*data.values(), strict=True))
    config = {
        "elements": {
            "initial_params": {"element_type": "Direct Entry", "values": {D_N: 3 * TRUE_D_N}},
            "fit": {
                "element_type": "datafit",
                "objectives": {"voltage": {"data": f"file:{path}"}},
                "parameters": {D_N: {"bounds": [1e-14, 1e-13], "initial_value": 3 * TRUE_D_N}},
                "cost": {"type": "RMSE"},
                "optimizer": {
                    "type": "DifferentialEvolution",
                    "max_iterations": 8,
                    "population_size": 8,
                },
            },
        }
    }
    sp = await api.simple_pipeline.create(config, name="diffevo fit", options={"x": 1})
    assert sp.status == "pending" and sp.project_id and sp.organization_id
    done = await api.simple_pipeline.wait_for_completion(sp.id, **WAIT)
    assert done.result is not None and close(done.result["parameter_values"][D_N])
    assert "summary_stats" not in done.result


async def test_simple_validation_from_db_measurement(
    api: AsyncIonworks, api_b: AsyncIonworks
) -> None:
    pl = pytest.importorskip("polars")
    m = await api.cell_measurement.upload(pl.DataFrame(synthetic_data()), name="synthetic")
    config = {
        "elements": {
            "entry": {"element_type": "entry", "values": {D_N: TRUE_D_N}},
            "check": validation(f"db:{m.id}"),
        }
    }
    sp = await api.simple_pipeline.create(config)
    done = await api.simple_pipeline.wait_for_completion(sp.id, **WAIT)
    assert done.result is not None
    assert done.result["summary_stats"]["voltage"]["RMSE [V]"] < 2e-3
    assert done.result["parameter_values"] == {D_N: TRUE_D_N}
    # another owner cannot reference it
    other = await api_b.simple_pipeline.create(config)
    with pytest.raises(IonworksError, match=f"measurement '{m.id}' not found"):
        await api_b.simple_pipeline.wait_for_completion(other.id, **WAIT)
    await api.cell_measurement.delete(m.id)


async def test_failures_end_failed_with_clear_messages(api: AsyncIonworks) -> None:
    data = synthetic_data(50)
    bad_type = {"elements": {"x": {"element_type": "Fitting", "values": {}}}}
    bad_ref = fit_config(data)
    bad_ref["elements"]["fit"]["objectives"]["voltage"]["data"] = "nope.data"
    bad_opt = fit_config(data, {"type": "Magic"})
    ids = [(await api.pipeline.create(c)).id for c in (bad_type, bad_ref, bad_opt)]
    expected = [
        r"ValueError: unknown element_type 'Fitting'.*accepted values: entry, data_fit",
        r"element 'fit' \(data_fit\): reference 'nope.data' names an unknown element 'nope'",
        r"unknown optimizer 'Magic'; accepted: .*DifferentialEvolution",
    ]
    for pid, pattern in zip(ids, expected, strict=True):
        with pytest.raises(IonworksError, match=pattern):
            await api.pipeline.wait_for_completion(pid, **WAIT)
        record = await api.pipeline.get(pid)
        assert record.status == "failed" and record.is_failed
    with pytest.raises(IonworksError, match="no result: it is failed"):
        await api.pipeline.result(ids[0])


async def test_simple_pipeline_rejects_two_fits(api: AsyncIonworks) -> None:
    config = fit_config(synthetic_data(50))
    config["elements"]["check"] = validation("entry.data")
    with pytest.raises(ValidationError, match="at most one data_fit or validation element"):
        await api.simple_pipeline.create(config)


async def test_cancel_stops_a_running_fit_with_live_progress(api: AsyncIonworks) -> None:
    long_fit = fit_config(
        synthetic_data(),
        {"type": "DifferentialEvolution", "max_iterations": 5000, "population_size": 40,
         "relative_tolerance": 1e-12},
    )  # fmt: skip
    sp = await api.simple_pipeline.create(long_fit, options={"live_progress_updates": True})
    assert sp.job_id is not None
    checkpoint: dict[str, Any] = {}
    with anyio.fail_after(60):
        while "checkpoint" not in checkpoint:
            await anyio.sleep(0.2)
            checkpoint = await api.job.get_metadata(sp.job_id)
    assert checkpoint["element"] == "fit" and checkpoint["checkpoint"]["iteration"] >= 1
    assert (await api.simple_pipeline.get(sp.id)).status == "running"
    canceled = await api.simple_pipeline.cancel(sp.id)
    assert canceled.status == "canceled" and canceled.is_terminal and canceled.is_failed
    assert (await api.job.get(sp.job_id)).status == "canceled"
    await api.simple_pipeline.delete(sp.id)
    with pytest.raises(NotFoundError):
        await api.job.get(sp.job_id)


async def test_list_filters_ordering_and_isolation(
    api: AsyncIonworks, api_b: AsyncIonworks
) -> None:
    failing = {"elements": {"x": {"element_type": "nope"}}}
    ids = []
    for name in ("alpha diffevo", "beta", "gamma DiffEvo"):
        ids.append((await api.simple_pipeline.create(failing, name=name)).id)
    await api.simple_pipeline.wait_for_completion(ids, raise_on_failure=False, **WAIT)
    matches = await api.simple_pipeline.list(name="ilike.%diffevo%", limit=100)
    assert {p.id for p in matches} >= {ids[0], ids[2]} and ids[1] not in {p.id for p in matches}
    first = (await api.simple_pipeline.get(ids[0])).created_at
    last = (await api.simple_pipeline.get(ids[2])).created_at
    window = await api.simple_pipeline.list(
        created_at_gt=first, created_at_lt="9999", order_by="created_at", order="asc", limit=100
    )
    assert [p.id for p in window][:2] == ids[1:]
    newest = await api.simple_pipeline.list(limit=2, status="in.(failed,canceled)")
    assert [p.id for p in newest] == [ids[2], ids[1]] and newest.total >= 3
    second = await api.simple_pipeline.list(limit=1, offset=1, created_at_gt=first[:10])
    assert len(second.items) == 1 and second.total >= 3
    assert not await api.simple_pipeline.list(status="in.(pending,running)", created_at=last)
    updated = await api.simple_pipeline.update(ids[1], description="notes")
    assert updated.description == "notes" and updated.name == "beta"
    # another owner sees none of it
    assert ids[0] not in {p.id for p in await api_b.simple_pipeline.list(limit=100)}
    for call in (api_b.simple_pipeline.get, api_b.simple_pipeline.cancel):
        with pytest.raises(NotFoundError):
            await call(ids[0])
    with pytest.raises(NotFoundError):
        await api_b.simple_pipeline.delete(ids[0])
    for pid in ids:
        await api.simple_pipeline.delete(pid)


async def test_de_population_fans_out_over_the_workers(api: AsyncIonworks) -> None:
    """Each generation is split into one chunk per worker (the server has two), each chunk a
    sub-job: the chunks run in two worker processes and the fit is unchanged."""
    config = fit_config(
        synthetic_data(),
        {"type": "DifferentialEvolution", "max_iterations": 8, "population_size": 8},
    )
    config["elements"]["check"] = validation("entry.data")
    created = await api.pipeline.create(config)
    await api.pipeline.wait_for_completion(created.id, **WAIT)
    result = await api.pipeline.result(created.id)
    fit = result.element_results["fit"]
    assert close(fit["parameter_values"][D_N]) and close(result.result["parameter_values"][D_N])
    assert fit["fan_out"]["worker_processes"] >= 2
    assert fit["fan_out"]["sub_jobs"] >= 2 * (fit["iterations"] + 1)  # + the initial population
    assert fit["fit_summary_stats"]["voltage"]["RMSE [V]"] < 2e-3
    assert result.result["summary_stats"]["voltage"]["RMSE [V]"] < 2e-3
    # a failing chunk fails the pipeline with the element named
    bad = fit_config(synthetic_data(50), {"type": "DifferentialEvolution", "max_iterations": 2})
    bad["elements"]["fit"]["objectives"]["voltage"]["data"] = "nope.data"
    failed = await api.pipeline.create(bad)
    with pytest.raises(IonworksError, match=r"element 'fit' \(data_fit\): reference 'nope.data'"):
        await api.pipeline.wait_for_completion(failed.id, **WAIT)
