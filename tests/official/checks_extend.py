"""Official-client checks of ``cell_measurement.extend`` (wire.md §10.3) and the official
client's local cache (``use_cache``, ``ionworks.set_cache_*``, ``clear_cache``) against our
server. Loaded by ``drive_official.py`` in the official client's venv; uses the cell instance
stored in ``driver.state``. The official cache is pointed at a temporary directory (never the
home directory) and switched off again afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any


def _columns(start: int, n: int) -> dict[str, list[float]]:
    """``n`` rows of :func:`checks_measurements._frame` from ``start`` seconds on."""
    from checks_measurements import _frame

    rows = _frame(n)
    rows["Time [s]"] = [t + start for t in rows["Time [s]"]]
    rows["Voltage [V]"] = [4.2 - 0.002 * t for t in rows["Time [s]"]]
    return rows


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state
    client = driver.require_client

    def extend() -> str:
        c = client()
        (inst,) = driver.need("instance")
        detail = {
            "measurement": {"name": f"official extend {time.time_ns()}"},
            "time_series": _columns(0, 50),
        }
        made = c.cell_measurement.create(inst.id, detail)
        state["extended_measurement"] = made
        out = c.cell_measurement.extend(made.id, _columns(50, 10))
        assert out.id == made.id and out.steps_created == 0, out
        assert getattr(out, "processing_status", "ready") in (None, "ready"), out
        series = c.cell_measurement.time_series(made.id, use_cache=False)
        assert len(series) == 60, len(series)
        assert float(series["Time [s]"][59]) == 59.0
        queued = c.cell_measurement.extend(made.id, _columns(60, 5), wait_for_processing=False)
        assert queued.id == made.id, queued
        settled = c.cell_measurement.wait_for_processing(made.id)[made.id]
        assert settled.get("processing_status") == "ready" and not settled.get("processing_error")
        assert len(c.cell_measurement.time_series(made.id, use_cache=False)) == 65
        return "60 then 65 rows; wait_for_processing=False then wait_for_processing"

    def extend_refusals() -> str:
        c = client()
        (made,) = driver.need("extended_measurement")
        from ionworks import IonworksError, MeasurementValidationError

        backwards = _columns(100, 5)
        backwards["Time [s]"].reverse()
        try:
            c.cell_measurement.extend(made.id, backwards)
        except MeasurementValidationError:
            pass
        else:
            raise AssertionError("a delta going back in time was sent")
        try:
            c.cell_measurement.extend(made.id, _columns(0, 5))  # before the stored end
        except IonworksError as exc:
            assert exc.status_code == 422, exc
        else:
            raise AssertionError("the server stitched a delta that goes back in time")
        try:
            c.cell_measurement.extend(made.id, {"Time [s]": [70.0], "Step count": [0.0]})
        except IonworksError as exc:
            assert exc.status_code == 422, exc
        else:
            raise AssertionError("the server stitched a delta without the stored columns")
        after = c.cell_measurement.get(made.id)
        assert after.processing_status == "ready", after
        assert len(c.cell_measurement.time_series(made.id, use_cache=False)) == 65
        return "client check, 422 for time going back and for missing columns; data kept"

    def cache() -> str:
        import ionworks

        c = client()
        (made,) = driver.need("extended_measurement")
        before = (ionworks.get_cache_directory(), ionworks.get_cache_enabled())
        with tempfile.TemporaryDirectory(prefix="official-cache-") as tmp:
            ionworks.set_cache_directory(tmp)
            ionworks.set_cache_enabled(True)
            try:
                first = c.cell_measurement.time_series(made.id)
                again = c.cell_measurement.time_series(made.id)
                assert len(first) == len(again) == 65
                c.cell_measurement.steps_and_cycles(made.id)
                assert ionworks.clear_cache() >= 1
                assert ionworks.clear_cache() == 0
            finally:
                ionworks.set_cache_directory(before[0])
                ionworks.set_cache_enabled(before[1])
        c.cell_measurement.delete(made.id)
        return "time_series/steps_and_cycles cached in a temporary directory, clear_cache"

    return [
        ("cell_measurement.extend (+ wait_for_processing)", extend),
        ("cell_measurement.extend refusals", extend_refusals),
        ("use_cache, set_cache_directory/enabled, clear_cache", cache),
    ]
