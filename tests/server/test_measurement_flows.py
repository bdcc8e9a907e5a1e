"""Measurements made every way the client offers feed studies and pipelines end to end (issue 18):
a spec → instance → measurement uploaded with the official ``create`` and then ``extend``-ed, and
one created from a raw Arbin export, are assigned to a study and fitted by a pipeline through
``db:<id>`` references; the fit recovers the diffusivity the synthetic data were made with.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytest

from ionworks import AsyncIonworks
from tests.server.test_fitting import D_N, TRUE_D_N, synthetic_data

pl = pytest.importorskip("polars")

WAIT = {"timeout": 180, "poll_interval": 0.2, "verbose": False}


def _fit(measurement_id: str) -> dict[str, Any]:
    return {
        "elements": {
            "entry": {"element_type": "entry", "values": {"model": {"type": "SPM"}}},
            "fit": {
                "element_type": "data_fit",
                "objectives": {"voltage": {"data": f"db:{measurement_id}"}},
                "parameters": {D_N: {"bounds": [1e-15, 1e-12], "initial_value": 3 * TRUE_D_N}},
            },
        }
    }


def _arbin_csv(path: Path, data: dict[str, list[float]]) -> None:
    """The synthetic discharge as an Arbin CSV export (Arbin's current is positive on charge)."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Test_Time(s)", "Current(A)", "Voltage(V)", "Step_Index", "Cycle_Index"])
        for t, i, v in zip(data["Time [s]"], data["Current [A]"], data["Voltage [V]"], strict=True):
            writer.writerow([t, -i, v, 1 if i else 2, 1])


async def _fitted(api: AsyncIonworks, measurement_id: str) -> float:
    pipeline = await api.pipeline.create(_fit(measurement_id))
    done = await api.pipeline.wait_for_completion(pipeline.id, **WAIT)
    assert done.status == "completed", done
    result = await api.pipeline.result(pipeline.id)
    return float(result.result["parameter_values"][D_N])


async def test_uploaded_extended_and_raw_measurements_fit_through_a_study(
    api: AsyncIonworks, tmp_path: Path
) -> None:
    data = synthetic_data()
    frame = pl.DataFrame(data).with_columns(pl.lit(0.0).alias("Step count"))
    half = frame.height // 2
    stamp = time.time_ns()
    spec = await api.cell_spec.create({"name": f"flow spec {stamp}"})
    instance = await api.cell_instance.create(spec.id, {"name": f"flow cell {stamp}"})
    # official create (positional options), then the rest of the series appended by extend
    uploaded = await api.cell_measurement.create(
        instance.id,
        {"measurement": {"name": "first half"}, "time_series": frame[:half]},
        False,
        None,
        None,
        None,
        True,
    )
    await api.cell_measurement.extend(uploaded.id, frame[half:])
    stored = await api.cell_measurement.time_series(uploaded.id, use_cache=False)
    assert stored.height == frame.height
    # a raw vendor export of the same data
    raw_path = tmp_path / "discharge.csv"
    _arbin_csv(raw_path, data)
    record = await api.raw_data.upload(spec.project_id, str(raw_path))
    from_raw = await api.cell_measurement.create_from_raw_data(instance.id, record.id)
    assert from_raw.name == "discharge"
    raw_series = await api.cell_measurement.time_series(from_raw.id, use_cache=False)
    assert raw_series["Current [A]"].to_list() == pytest.approx(data["Current [A]"])
    # both in one study, each fitted through its db: reference
    study = await api.study.create({"name": f"flow study {stamp}"})
    for m in (uploaded, from_raw):
        await api.study.assign_measurement(study.id, m.id)
    listed = str(await api.study.list_measurements(study.id))
    assert uploaded.id in listed and from_raw.id in listed
    for m in (uploaded, from_raw):
        assert await _fitted(api, m.id) == pytest.approx(TRUE_D_N, rel=0.1)
    await api.study.delete(study.id)
    for m in (uploaded, from_raw):
        await api.cell_measurement.delete(m.id)
    await api.raw_data.delete(record.id)
    await api.cell_instance.delete(instance.id)
    await api.cell_spec.delete(spec.id)
