"""``ionworks convert FILE --target T --out DIR`` (runs the exporter locally)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionworks.cli import main
from tests.ucp.export_protocols import CCCV, DRIVE, DRIVE_SAMPLES


def test_convert_writes_primary_and_assets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "drive.yaml"
    source.write_text(DRIVE)
    csv = tmp_path / "us06.csv"
    csv.write_text(DRIVE_SAMPLES["us06"])
    out = tmp_path / "out"
    code = main(["convert", str(source), "--target", "maccor", "--out", str(out),
                 "--drive-cycle", f"us06={csv}", "--verify"])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["drive.000", "us06.MWF"]
    assert capsys.readouterr().out.splitlines() == [str(out / "drive.000"), str(out / "us06.MWF")]


def test_convert_capacity_and_stem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cccv.yaml"
    source.write_text(CCCV)
    args = ["convert", str(source), "--target", "neware", "--out", str(tmp_path), "--stem", "cell"]
    assert main(args) == 1  # C-rate without capacity
    err = capsys.readouterr().err
    assert "C-rate needs --nominal-capacity" in err and "nominal_capacity_ah" not in err
    assert main([*args, "--nominal-capacity", "5"]) == 0
    assert (tmp_path / "cell.xml").read_bytes().startswith(b"<?xml")


def test_convert_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cccv.yaml"
    source.write_text(CCCV)
    assert main(["convert", str(source), "--target", "arbin_sdx", "--out", str(tmp_path)]) == 1
    assert "not supported yet" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.yaml"), "--target", "maccor"]) == 1
    assert "cannot read FILE" in capsys.readouterr().err
    bad = ["convert", str(source), "--target", "maccor", "--drive-cycle", "oops"]
    assert main(bad) == 2
    assert capsys.readouterr().err == (
        "ionworks convert: error: --drive-cycle expects NAME=CSV, got 'oops'\n"
    )
