"""``ionworks run`` and ``demo`` end to end on the shared local daemon: the output folder,
``--drive-cycle``, ``--project``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ionworks import ucp
from ionworks.cli._drive import with_drive_cycles
from tests.cli.helpers import SEED_INPUT_PARAMS, assert_error, client, ionworks
from tests.ucp.export_protocols import DRIVE_SAMPLES
from tests.ucp.protocols import SEED_INPUTS

pytestmark = pytest.mark.pybamm

#: A drive cycle used by a keyed step, and by a flat step (``file:`` alias) in a block.
DRIVE = """
global: {initial_soc: 0.8}
steps:
  - Rest: {duration: 10}
  - Drive:
      drive_cycle: us06
      name: first
      ends: ["Voltage < 2.5"]
  - Cycle:
      repeat: 2
      steps:
        - direction: drive
          file: us06
          ends: ["Voltage < 2.5"]
"""
CSV = "time,current\n0,1.0\n10,1.0\n20,-0.5\n30,0\n40,2\n50,2\n"


def _outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_run_writes_a_new_folder_named_after_the_simulation(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(SEED_INPUTS)
    done = ionworks(data_dir, "run", "p.yaml", *SEED_INPUT_PARAMS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sid = done.stdout.split()[1].rstrip(":")
    out = tmp_path / f"p-{sid[:8]}"
    assert (
        done.stdout
        == f"simulation {sid}: {len(pl.read_parquet(out / 'time_series.parquet'))} rows -> p-{sid[:8]}\n"
    )
    assert _outputs(out) == ["metrics.json", "steps.parquet", "time_series.parquet"]
    assert json.loads((out / "metrics.json").read_text())
    assert done.stderr == ""
    # --out: an empty folder is fine; a second run into it (no longer empty) is refused
    (tmp_path / "mine").mkdir()
    assert (
        ionworks(
            data_dir, "run", "p.yaml", *SEED_INPUT_PARAMS, "--out", "mine", cwd=tmp_path
        ).returncode
        == 0
    )
    assert _outputs(tmp_path / "mine") == _outputs(out)
    again = ionworks(data_dir, "run", "p.yaml", *SEED_INPUT_PARAMS, "--out", "mine", cwd=tmp_path)
    assert_error(again, 2, "--out 'mine' exists and is not an empty folder")


def test_run_with_a_drive_cycle(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "drive.yaml").write_text(DRIVE)
    (tmp_path / "us06.csv").write_text(CSV)
    args = ("run", "drive.yaml", "--drive-cycle", "us06=us06.csv", "--out", "out")
    done = ionworks(data_dir, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    steps = pl.read_parquet(tmp_path / "out" / "steps.parquet")
    assert steps["Step type"].to_list() == ["Rest", "Waveform", "Waveform", "Waveform"]
    assert steps["Duration [s]"].to_list() == pytest.approx([10, 50, 50, 50])
    series = pl.read_parquet(tmp_path / "out" / "time_series.parquet")
    currents = {round(c, 6) for c in series["Current [A]"].to_list()}
    assert {1.0, -0.5, 2.0} <= currents  # the CSV's currents (0 A at rest)
    missing = ionworks(data_dir, "run", "drive.yaml", cwd=tmp_path)
    assert_error(
        missing,
        2,
        "drive.yaml needs samples for its drive cycle(s) 'us06'",
        "--drive-cycle us06=CSV",
    )
    typo = ionworks(data_dir, "run", "drive.yaml", "--drive-cycle", "us6=us06.csv", cwd=tmp_path)
    assert_error(
        typo, 2, "--drive-cycle 'us6': drive.yaml has no drive cycle 'us6'; did you mean 'us06'?"
    )
    (tmp_path / "bad.csv").write_text("time,current\n0,1\n")
    bad = ionworks(data_dir, "run", "drive.yaml", "--drive-cycle", "us06=bad.csv", cwd=tmp_path)
    assert_error(
        bad, 2, "--drive-cycle us06: invalid drive-cycle samples: needs at least 2 samples"
    )


def test_drive_cycles_are_written_into_the_protocol_as_waveforms(tmp_path: Path) -> None:
    source = DRIVE.replace("us06", "us")
    (tmp_path / "us.csv").write_text(DRIVE_SAMPLES["us06"])
    inlined = with_drive_cycles(source, ucp.parse(source), [f"us={tmp_path / 'us.csv'}"], "p")
    steps = list(ucp.parse(inlined).steps())
    assert [s.kind for s in steps] == ["Rest", "Waveform", "Waveform"]
    assert steps[1].label == "first"
    # the same fields, but the samples inline
    assert [s.ends for s in steps] == [s.ends for s in ucp.parse(source).steps()]
    rows = [(0, 1.0), (1, 1.0), (2, -0.5), (3, 0), (4, 2), (5, 2)]
    for step in steps[1:]:
        assert step.waveform is not None and step.drive_cycle is None
        assert list(zip(step.waveform.time, step.waveform.values, strict=True)) == rows
    assert with_drive_cycles(SEED_INPUTS, ucp.parse(SEED_INPUTS), [], "p") == SEED_INPUTS


def test_run_and_demo_in_a_project(data_dir: Path, tmp_path: Path) -> None:
    with client(data_dir) as api:
        project = api.project.create({"name": "cli-test"}).id
    (tmp_path / "p.yaml").write_text(SEED_INPUTS)
    done = ionworks(
        data_dir, "run", "p.yaml", *SEED_INPUT_PARAMS, "--project", project, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    sid = done.stdout.split()[1].rstrip(":")
    png = tmp_path / "demo.png"
    demo = ionworks(
        data_dir, "demo", "--model", "chen2020-spm", "--png", str(png), "--project", project
    )
    assert demo.returncode == 0, demo.stderr
    demo_sid = demo.stdout.splitlines()[0].rsplit(" ", 1)[1]
    assert "1C discharge of chen2020-spm" in demo.stdout and png.stat().st_size > 1000
    with client(data_dir) as api:
        assert api.simulation.get(sid)["project_id"] == project
        assert api.simulation.get(demo_sid)["project_id"] == project
