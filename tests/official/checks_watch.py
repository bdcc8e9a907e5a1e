"""Official-client checks of ``cell_measurement.watch`` / ``unwatch`` and
``lab.list_watched``: idempotent both ways, a 404 for an unknown measurement, the watch ended
by an ``end_time``. Loaded by ``drive_official.py`` in the official client's venv; uses the
cell instance ``check_measurement_create`` stored in ``driver.state``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    def watch_unwatch() -> str:
        c = driver.require_client()
        inst, pid = driver.need("instance", "project_id")
        series = {"Time [s]": [0.0, 1.0, 2.0], "Current [A]": [1.0] * 3}
        series.update({"Voltage [V]": [4.1, 4.0, 3.9], "Step count": [0.0] * 3})
        detail = {"measurement": {"name": f"official watched {time.time_ns()}"}}
        made = c.cell_measurement.create(inst.id, {**detail, "time_series": series})
        assert c.cell_measurement.watch(made.id) is None
        c.cell_measurement.watch(made.id)
        assert c.lab.list_watched(pid) == [made.id], c.lab.list_watched(pid)
        assert c.cell_measurement.unwatch(made.id) is None
        c.cell_measurement.unwatch(made.id)
        assert c.lab.list_watched(pid) == []
        c.cell_measurement.watch(made.id)
        c.cell_measurement.update(made.id, {"end_time": "2026-01-01T00:00:00Z"})
        assert c.lab.list_watched(pid) == [], "a finished test is still watched"
        c.cell_measurement.delete(made.id)
        from ionworks import IonworksError

        for call in (c.cell_measurement.watch, c.cell_measurement.unwatch):
            try:
                call(made.id)
            except IonworksError as exc:
                assert exc.status_code == 404, exc
            else:
                raise AssertionError(f"{call.__name__} of a deleted measurement succeeded")
        return "idempotent watch/unwatch, lab.list_watched, ended by end_time, 404 when gone"

    return [("cell_measurement.watch/unwatch + lab.list_watched", watch_unwatch)]
