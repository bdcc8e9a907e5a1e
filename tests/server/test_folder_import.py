"""End to end: real cycler exports (tests/data/cycler/raw) copied into a folder are imported
by :mod:`ionworks.folder_watch` through the client (raw-data upload, then a measurement made
from it) into the live local server, each once, with its steps derived; a file the server
cannot read is reported once; a name already taken is skipped."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks.folder_watch import Event, FolderWatcher, ImportLog, client_importer

RAW = Path(__file__).resolve().parents[1] / "data" / "cycler" / "raw"
FILES = ("biologic_gcpl.mpt", "neware.ndax", "arbin_charge.csv", "maccor_duration.041")


async def new_instance(api: AsyncIonworks, tag: str) -> Any:
    spec = await api.post("/cell_specifications", {"name": f"folder spec {tag}"})
    return await api.post(f"/cell_specifications/{spec['id']}/cell_instances", {"name": "c"})


def watcher(api: AsyncIonworks, folder: Path, instance: Any, events: list[Event]) -> FolderWatcher:
    importer = client_importer(api, instance["id"], instance["project_id"])
    log = ImportLog.load(folder.parent / "import-log.json", folder)
    return FolderWatcher(folder, importer, log, interval=0.1, report=events.append)


async def test_a_folder_of_exports_becomes_measurements(api: AsyncIonworks, tmp_path: Path) -> None:
    pytest.importorskip("NewareNDA")
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in FILES:
        shutil.copy(RAW / name, folder / name)
    (folder / "broken.mpt").write_text("EC-Lab ASCII FILE\nnot really\n")
    (folder / "readme.md").write_text("not an export")
    instance, events = await new_instance(api, "e2e"), []
    summary = await watcher(api, folder, instance, events).run(once=True)
    lines = sorted(e.line() for e in events)
    assert (summary.imported, summary.failed) == (4, 1), lines
    assert [e.name for e in events if e.kind == "failed"] == ["broken.mpt"]
    made = await api.cell_measurement.list(instance["id"])
    assert sorted(m.name for m in made) == sorted(FILES)
    for m in made:
        derived = await api.cell_measurement.steps_and_cycles(m.id)
        assert derived.steps is not None and derived.steps.height >= 1, m.name
    # a restart: nothing imported twice, the broken file not retried
    events.clear()
    again = await watcher(api, folder, instance, events).run(once=True)
    assert events == [] and again.imported == 0
    assert len(await api.cell_measurement.list(instance["id"])) == len(FILES)
    # the same file under a taken name (a new log: as if the state were lost)
    (tmp_path / "import-log.json").unlink()
    events.clear()
    lost = await watcher(api, folder, instance, events).run(once=True)
    assert lost.taken == len(FILES) and lost.imported == 0
    assert all("already exists" in e.detail for e in events if e.kind == "taken")
    raw = await api.raw_data.list(instance["project_id"])
    assert len(raw) == len(FILES), "a refused or skipped file left its raw upload behind"
