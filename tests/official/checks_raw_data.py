"""Official-client checks of ``client.raw_data`` (upload through initiate → PUT → confirm,
list, get, download_url, download, update, delete, list_measurements) and of
``cell_measurement.attach_raw_data`` / ``detach_raw_data`` / ``list_raw_data``. Loaded by
``drive_official.py`` in the official client's venv; uses the project and the cell instance
the driver stored in ``driver.state``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import status_of

RAW = Path(__file__).resolve().parent.parent / "data" / "cycler" / "raw"


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state
    client = driver.require_client

    def records() -> str:
        c = client()
        (pid,) = driver.need("project_id")
        path = RAW / "neware.csv"
        made = c.raw_data.upload(pid, str(path), source="official check", metadata={"ch": 1})
        assert (made.project_id, made.filename, made.name) == (pid, path.name, path.name), made
        assert made.source == "official check", made
        labelled = c.raw_data.upload(pid, io.BytesIO(b"a,b\n1,2\n"), name="in memory")
        assert (labelled.name, labelled.filename) == ("in memory", "upload.bin"), labelled
        assert c.raw_data.get(made.id).id == made.id
        page = c.raw_data.list(pid, limit=1)
        assert len(page) == 1 and page.total >= 2, (page.items, page.total)
        listed = [r.id for r in c.raw_data.list(pid, limit=100)]
        assert made.id in listed and labelled.id in listed, listed
        url = c.raw_data.download_url(made.id)
        assert made.id in url, url
        assert c.raw_data.download(made.id, use_cache=False) == path.read_bytes()
        renamed = c.raw_data.update(made.id, name="renamed", metadata={"ch": 2})
        assert renamed.name == "renamed" and renamed.source == "official check", renamed
        assert c.raw_data.update(made.id, source="").source is None
        assert c.raw_data.list_measurements(made.id).total == 0
        c.raw_data.delete(labelled.id)
        assert status_of(lambda: c.raw_data.get(labelled.id)) == 404
        state["raw_data"] = made
        return "upload (path, file object), list, get, download_url, download, update, delete"

    def links() -> str:
        c = client()
        inst, made = driver.need("instance", "raw_data")
        stamp = time.time_ns()
        series = {"Time [s]": [0.0, 1.0, 2.0], "Current [A]": [1.0] * 3}
        series.update({"Voltage [V]": [4.1, 4.0, 3.9], "Step count": [0.0] * 3})
        measurement = c.cell_measurement.create(
            inst.id, {"measurement": {"name": f"official raw {stamp}"}, "time_series": series}
        )
        assert c.cell_measurement.attach_raw_data(measurement.id, [made.id]) is None
        c.cell_measurement.attach_raw_data(measurement.id, [made.id])  # idempotent
        linked = c.cell_measurement.list_raw_data(measurement.id)
        assert [r.id for r in linked] == [made.id] and linked.total == 1, linked.items
        assert list(c.raw_data.list_measurements(made.id)) == [measurement.id]
        assert (
            status_of(
                lambda: c.cell_measurement.attach_raw_data(measurement.id, ["no-such-raw-data"])
            )
            == 404
        )
        assert c.cell_measurement.detach_raw_data(measurement.id, made.id) is None
        assert c.cell_measurement.list_raw_data(measurement.id, limit=10, offset=0).total == 0
        assert status_of(lambda: c.cell_measurement.detach_raw_data(measurement.id, made.id)) == 404
        c.cell_measurement.attach_raw_data(measurement.id, [made.id])
        c.raw_data.delete(made.id)  # the measurement stays; the link goes
        assert c.cell_measurement.get(measurement.id).id == measurement.id
        assert c.cell_measurement.list_raw_data(measurement.id).total == 0
        c.cell_measurement.delete(measurement.id)
        return "attach (idempotent, 404 unknown), list_raw_data, detach, delete keeps measurement"

    return [
        ("raw_data.upload/list/get/download_url/download/update/delete", records),
        ("cell_measurement.attach_raw_data/detach_raw_data/list_raw_data", links),
    ]
