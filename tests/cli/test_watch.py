"""``ionworks watch`` as a user runs it (a fresh process, the module's local daemon): real
cycler exports become measurements with ``--once``, a second pass imports nothing, a file
that cannot be read fails the pass (exit 1) and is reported once, usage errors are one line
(exit 2), and Ctrl-C stops a running watch cleanly (exit 130)."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import assert_error, client, ionworks, popen

RAW = Path(__file__).resolve().parents[1] / "data" / "cycler" / "raw"
FILES = ("biologic_gcpl.mpr", "neware.csv", "maccor_minutes.txt")


@pytest.fixture
def instance(data_dir: Path) -> dict[str, Any]:
    with client(data_dir) as api:
        spec = api.post("/cell_specifications", {"name": f"watch spec {time.time_ns()}"})
        made: dict[str, Any] = api.post(
            f"/cell_specifications/{spec['id']}/cell_instances", {"name": "cell"}
        )
        return made


def watch(data_dir: Path, state: Path, *args: str) -> Any:
    return ionworks(data_dir, "watch", *args, "--interval", "0.2", IONWORKS_STATE_DIR=str(state))


def test_once_imports_a_folder_of_exports(
    data_dir: Path, instance: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in FILES:
        shutil.copy(RAW / name, folder / name)
    done = watch(
        data_dir, tmp_path / "state", str(folder), "--cell-instance", instance["id"], "--once"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert sorted(line.split(" -> ")[0] for line in lines[:-1]) == [
        f"imported {n}" for n in sorted(FILES)
    ]
    assert lines[-1] == "3 imported, 0 skipped (name taken), 0 failed, 0 still changing"
    with client(data_dir) as api:
        made = api.cell_measurement.list(instance["id"])
        assert sorted(m.name for m in made) == sorted(FILES)
        for m in made:
            assert api.cell_measurement.steps_and_cycles(m.id).steps.height >= 1
    again = watch(
        data_dir, tmp_path / "state", str(folder), "--cell-instance", instance["id"], "--once"
    )
    assert again.returncode == 0 and again.stdout.startswith("0 imported"), again.stdout
    (folder / "garbage.csv").write_text("this,is\nnot,a cycler export\n")
    failed = watch(
        data_dir, tmp_path / "state", str(folder), "--cell-instance", instance["id"], "--once"
    )
    assert_error(failed, 1, "1 file(s) could not be imported")
    (line,) = [x for x in failed.stdout.splitlines() if x.startswith("failed")]
    assert line.startswith("failed garbage.csv: ") and "Traceback" not in failed.stdout
    settled = watch(
        data_dir, tmp_path / "state", str(folder), "--cell-instance", instance["id"], "--once"
    )
    assert settled.returncode == 0 and "garbage" not in settled.stdout


def test_usage_errors_are_one_line(
    data_dir: Path, instance: dict[str, Any], tmp_path: Path
) -> None:
    ci = ("--cell-instance", instance["id"])
    assert_error(watch(data_dir, tmp_path, str(tmp_path / "nope"), *ci), 2, "is not a folder")
    assert_error(watch(data_dir, tmp_path, str(tmp_path), "--once"), 2, "--cell-instance")
    bad = ionworks(data_dir, "watch", str(tmp_path), *ci, "--interval", "0")
    assert_error(bad, 2, "--interval")
    unknown = watch(data_dir, tmp_path, str(tmp_path), "--cell-instance", "no-such", "--once")
    assert_error(unknown, 1, "HTTP 404")
    other = watch(data_dir, tmp_path, str(tmp_path), *ci, "--project", "elsewhere", "--once")
    assert_error(other, 2, "--project elsewhere is not the project")


def test_ctrl_c_stops_a_running_watch(
    data_dir: Path, instance: dict[str, Any], tmp_path: Path
) -> None:
    proc = popen(
        data_dir, "watch", str(tmp_path), "--cell-instance", instance["id"], "--interval", "0.1"
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"watching {tmp_path}"), first
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "ionworks watch: interrupted", err
