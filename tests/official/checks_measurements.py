"""Official-client checks of ``client.cell_measurement`` (issue 18): ``create`` with the
strict options, names unique within a cell instance (``create_or_get`` returns the existing
record), ``wait_for_processing``. Loaded by ``drive_official.py`` in the official client's
venv; uses the cell instance ``check_measurement_create`` stored in ``driver.state``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _frame(n: int) -> dict[str, list[float]]:
    times = [float(i) for i in range(n)]
    return {
        "Time [s]": times,
        "Current [A]": [1.0] * n,
        "Voltage [V]": [4.2 - 0.002 * t for t in times],
        "Step count": [0.0] * n,
    }


def _detail(name: str, n: int = 50) -> dict[str, Any]:
    try:
        import polars as pl

        frame: Any = pl.DataFrame(_frame(n))
    except ImportError:
        import pandas as pd

        frame = pd.DataFrame(_frame(n))
    return {"measurement": {"name": name}, "time_series": frame}


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state

    client = driver.require_client

    def create_options() -> str:
        c = client()
        (inst,) = driver.need("instance")
        name = f"official strict {time.time_ns()}"
        created = c.cell_measurement.create(
            inst.id, _detail(name), True, 5.0, (2.5, 4.3), ["time_gaps"], True
        )
        assert created.name == name and created.cell_instance_id == inst.id, created
        state["strict_measurement"] = created
        settled = c.cell_measurement.wait_for_processing([created.id])
        assert settled[created.id].get("processing_status") in (None, "ready"), settled
        return f"{created.id} processed"

    def create_or_get() -> str:
        c = client()
        inst, first = driver.need("instance", "strict_measurement")
        from ionworks import IonworksError

        try:
            c.cell_measurement.create(inst.id, _detail(first.name))
        except IonworksError as exc:
            assert exc.status_code == 409, exc
            detail = (exc.data or {}).get("detail")
            assert isinstance(detail, dict) and detail["existing_id"] == first.id, exc.data
        else:
            raise AssertionError("a duplicate name in one cell instance was accepted")
        again = c.cell_measurement.create_or_get(inst.id, _detail(first.name))
        assert again.id == first.id, again
        fresh = c.cell_measurement.create_or_get(inst.id, _detail(f"{first.name} b"))
        assert fresh.id != first.id
        c.cell_measurement.delete(fresh.id)
        c.cell_measurement.delete(first.id)
        return "409 with detail.existing_id; create_or_get returned the existing record"

    def tags_and_filters() -> str:
        c = client()
        inst, pid = driver.need("instance", "project_id")
        stamp = time.time_ns()
        detail = _detail(f"official tagged {stamp}")
        detail["measurement"].update(
            tags=[f" Tag{stamp} ", f"tag{stamp}"], start_time="2024-01-01T00:00:00Z"
        )
        m = c.cell_measurement.create(inst.id, detail)
        assert m.tags == [f"Tag{stamp}"], m.tags
        assert c.cell_measurement.add_tags(m.id, [f"TAG{stamp}", f"hppc{stamp}"]) == 1
        assert c.cell_measurement.add_tags([m.id], [f"hppc{stamp}"]) == 0
        assert c.cell_measurement.get(m.id).tags == [f"Tag{stamp}", f"hppc{stamp}"]
        usage = c.cell_measurement.list_tags(pid, q=f"hppc{stamp}")
        assert [(u.tag, u.usage_count) for u in usage] == [(f"hppc{stamp}", 1)], usage
        both = [f"tag{stamp}", f"HPPC{stamp}"]
        assert [x.id for x in c.cell_measurement.list(inst.id, tags_all=both)] == [m.id]
        assert [x.id for x in c.cell_measurement.list_by_project(pid, tags_any=both)] == [m.id]
        found = c.cell_measurement.list_by_project(pid, q=f"official tagged {stamp}")
        assert [x.id for x in found] == [m.id], found
        later = c.cell_measurement.list(inst.id, started_after="2024-06-01", name=str(stamp))
        assert list(later) == [], later
        earlier = c.cell_measurement.list(inst.id, started_before="2024-06-01", name=str(stamp))
        assert [x.id for x in earlier] == [m.id], earlier
        assert c.cell_measurement.remove_tags(m.id, [f"HPPC{stamp}"]) == 1
        assert c.cell_measurement.get(m.id).tags == [f"Tag{stamp}"]
        c.cell_measurement.delete(m.id)
        return "tags normalised, bulk add/remove, list_tags, tags_all/tags_any/q/started_*"

    def detail_and_properties() -> str:
        c = client()
        (inst,) = driver.need("instance")
        name = f"official properties {time.time_ns()}"
        values = {"thickness": {"value": 0.52, "unit": "mm"}}
        made = c.cell_measurement.create_properties(
            inst.id, name, values, notes="caliper", tags=["lab"]
        )
        assert made.measurement_type == "properties" and made.tags == ["lab"], made
        got = c.cell_measurement.detail(made.id, use_cache=False)
        assert got.id == made.id and got.instance_id == inst.id, got
        assert getattr(got, "properties", None) == values, got
        series = c.cell_measurement.create(inst.id, _detail(f"{name} ts", n=20))
        full = c.cell_measurement.detail(series.id, use_cache=False, include_cycles=False)
        assert full.steps is None and len(full.time_series) == 20, full
        c.cell_measurement.delete(series.id)
        c.cell_measurement.delete(made.id)
        return "properties record and a time series detail"

    def files() -> str:
        import tempfile
        from pathlib import Path

        c = client()
        (inst,) = driver.need("instance")
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
        pdf = b"%PDF-1.7\n%official check\n"
        with tempfile.TemporaryDirectory() as tmp:
            paths = [Path(tmp) / "photo.png", Path(tmp) / "report.pdf"]
            paths[0].write_bytes(png)
            paths[1].write_bytes(pdf)
            made = c.cell_measurement.create_file(
                inst.id, f"official files {time.time_ns()}", [str(p) for p in paths], tags=["f"]
            )
        assert made.measurement_type == "file", made
        assert c.cell_measurement.list_files(made.id) == ["photo.png", "report.pdf"]
        assert c.cell_measurement.get_file(made.id, "report.pdf") == pdf
        got = c.cell_measurement.download_files(made.id, use_cache=False)
        assert got == {"photo.png": png, "report.pdf": pdf}, list(got)
        detail = c.cell_measurement.detail(made.id, use_cache=False)
        assert detail.files == got, detail
        c.cell_measurement.delete(made.id)
        return "create_file, list_files, get_file, download_files, detail of a file measurement"

    def steps_and_cycles() -> str:
        c = client()
        (inst,) = driver.need("instance")
        t, i, v, s = [], [], [], []  # the official client requires a step index
        for _cycle in range(2):
            for current, volts in ((2.0, 4.1), (0.0, 3.7), (-2.0, 3.6), (0.0, 4.0)):
                step = float(len(t) // 20)
                for k in range(20):
                    t.append(float(len(t)) * 10.0)
                    s.append(step)
                    i.append(current)
                    v.append(volts + (-0.01 if current > 0 else 0.01) * k * (current != 0))
        detail = {
            "measurement": {"name": f"official cycling {time.time_ns()}"},
            "time_series": {"Time [s]": t, "Current [A]": i, "Voltage [V]": v, "Step count": s},
        }
        made = c.cell_measurement.create(inst.id, detail)
        both = c.cell_measurement.steps_and_cycles(made.id, use_cache=False)
        assert len(both.cycles) == 2 and len(both.steps) >= 8, (both.steps, both.cycles)
        assert len(c.cell_measurement.cycles(made.id, use_cache=False)) == 2
        full = c.cell_measurement.detail(made.id, use_cache=False)
        assert full.steps is None and len(full.cycles) == 2, full
        c.cell_measurement.delete(made.id)
        return f"{len(both.steps)} steps, {len(both.cycles)} cycles derived"

    return [
        ("cell_measurement.steps_and_cycles/cycles (derived)", steps_and_cycles),
        ("cell_measurement.create_file/list_files/get_file/download_files", files),
        ("cell_measurement.create_properties/detail", detail_and_properties),
        ("cell_measurement.create (strict options) + wait_for_processing", create_options),
        ("cell_measurement.create_or_get (unique names)", create_or_get),
        ("cell_measurement.add_tags/remove_tags/list_tags + list filters", tags_and_filters),
    ]
