"""Integration: a pipeline's recorded series (``/jobs/{id}/series/channels``, ``/jobs/{id}/series``)
and the element helpers of ``client.pipeline`` against the local server."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks.errors import NotFoundError, ValidationError
from tests.server.conftest import KEY_B
from tests.server.test_fitting import synthetic_data

WAIT = {"timeout": 120, "poll_interval": 0.2, "verbose": False}
CHANNELS = ["Time [s]", "Measured voltage [V]", "Model voltage [V]"]


def objective() -> dict[str, Any]:
    return {"data": "entry.data", "options": {"model": {"type": "SPM"}}}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """An entry and two validations that share the objective name ``voltage``."""
    return {
        "elements": {
            "entry": {
                "element_type": "entry",
                "values": {"model": {"type": "SPM"}, "data": synthetic_data(200)},
            },
            "check": {"element_type": "validation", "objectives": {"voltage": objective()}},
            "again": {
                "element_type": "validation",
                "objectives": {"voltage": objective(), "late": objective()},
            },
        }
    }


@pytest.fixture
async def api_b(server_url: str) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as client:
        yield client


@pytest.fixture
async def done(api: AsyncIonworks, config: dict[str, Any]) -> AsyncIterator[tuple[str, str]]:
    """A completed pipeline: (pipeline id, its job id)."""
    created = await api.pipeline.create(config, name="series")
    await api.pipeline.wait_for_completion(created.id, **WAIT)
    elements = await api.pipeline.elements(created.id)
    job_id = elements[1].job_id
    assert job_id
    yield created.id, job_id
    await api.pipeline.delete(created.id)


async def test_channels_list_each_validation_objective(
    api: AsyncIonworks, done: tuple[str, str]
) -> None:
    pipeline_id, job_id = done
    channels = await api.job.get_series_channels(job_id)
    assert channels == {
        "check/voltage": {"optimal": CHANNELS},
        "again/voltage": {"optimal": CHANNELS},
        "late": {"optimal": CHANNELS},
    }
    assert await api.pipeline.get_element_series_channels(pipeline_id, "check") == channels
    metadata = await api.pipeline.get_element_metadata(pipeline_id, "again")
    assert metadata["job_id"] == job_id and "element_results" in metadata


async def test_series_are_the_recorded_validation(
    api: AsyncIonworks, done: tuple[str, str]
) -> None:
    pipeline_id, job_id = done
    result = await api.pipeline.result(job_id=pipeline_id)
    stored = result.element_results["again"]["validation_results"]["late"]
    whole = await api.job.get_series(job_id, "late")
    assert list(whole) == CHANNELS and whole == stored
    assert len(whole["Time [s]"]) == 200
    # a window, thinned, two channels (the x channel first)
    part = await api.pipeline.get_element_series(
        pipeline_id,
        "again",
        "late",
        columns=["Model voltage [V]"],
        x_min=1000,
        x_max=2000.5,
        max_points=10,
    )
    assert list(part) == ["Time [s]", "Model voltage [V]"]
    times = part["Time [s]"]
    assert 5 <= len(times) <= 10 and all(1000 <= t <= 2000.5 for t in times)
    inside = [t for t in stored["Time [s]"] if 1000 <= t <= 2000.5]
    assert times[0] == inside[0] and set(times) <= set(inside)
    model_at = dict(zip(stored["Time [s]"], stored["Model voltage [V]"], strict=True))
    assert part["Model voltage [V]"] == [model_at[t] for t in times]
    by_voltage = await api.job.get_series(
        job_id, "check/voltage", x_column="Measured voltage [V]", columns=["Time [s]"]
    )
    assert list(by_voltage) == ["Measured voltage [V]", "Time [s]"]
    assert by_voltage["Time [s]"] == stored["Time [s]"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objective": "voltage"}, NotFoundError, "no series for objective 'voltage'"),
        ({"objective": "nope"}, NotFoundError, "data_fit and validation elements record"),
        ({"objective": "late", "source": "baseline"}, NotFoundError, "'optimal' solve only"),
        ({"objective": "late", "source": "best"}, ValidationError, "'source' must be one of"),
        ({"objective": "late", "columns": ["Current [A]"]}, ValidationError, "'Current \\[A\\]'"),
        ({"objective": "late", "x_column": "x"}, ValidationError, "no channel"),
        ({"objective": "late", "max_points": 0}, ValidationError, "'max_points'"),
        ({"objective": "late", "x_min": math.nan}, ValidationError, "'x_min' must be a finite"),
        ({"objective": "late", "x_max": math.inf}, ValidationError, "'x_max' must be a finite"),
    ],
)
async def test_series_errors_name_the_parameter(
    api: AsyncIonworks, done: tuple[str, str], kwargs: dict[str, Any], error: type, match: str
) -> None:
    _, job_id = done
    with pytest.raises(error, match=match):
        await api.job.get_series(job_id, **kwargs)


async def test_unknown_element_and_other_owner(
    api: AsyncIonworks, api_b: AsyncIonworks, done: tuple[str, str]
) -> None:
    pipeline_id, job_id = done
    with pytest.raises(ValueError, match="No element named 'ghost'"):
        await api.pipeline.get_element_series(pipeline_id, "ghost", "late")
    with pytest.raises(ValueError, match="has no associated job"):
        await api.pipeline.get_element_metadata(
            pipeline_id, "check", elements=[{"name": "check", "job_id": None}]
        )
    for call in (
        lambda: api_b.job.get_series_channels(job_id),
        lambda: api_b.job.get_series(job_id, "late"),
        lambda: api_b.pipeline.get_element_series_channels(pipeline_id, "check"),
    ):
        with pytest.raises(NotFoundError):
            await call()


async def test_jobs_without_series_list_none(api: AsyncIonworks, config: dict[str, Any]) -> None:
    failing = await api.pipeline.create({"elements": {"x": {"element_type": "nope"}}})
    await api.pipeline.wait_for_completion(failing.id, raise_on_failure=False, **WAIT)
    job_id = (await api.pipeline.elements(failing.id))[0].job_id
    assert job_id
    assert await api.job.get_series_channels(job_id) == {}
    with pytest.raises(NotFoundError, match="objectives with series: none"):
        await api.job.get_series(job_id, "voltage")
    await api.pipeline.delete(failing.id)
