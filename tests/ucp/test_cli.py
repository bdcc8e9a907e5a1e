"""python -m ionworks.ucp validate / inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionworks.ucp.__main__ import main

from .protocols import E13, SEED_INPUTS


def test_validate_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SEED_INPUTS, encoding="utf-8")
    bad.write_text(E13, encoding="utf-8")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: valid" in out
    assert (
        f"{bad}: invalid\n  steps[0] 'Charge' (line 3, column 20): mode: unknown mode 'Magic'"
        in out
    )
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2


def test_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SEED_INPUTS, encoding="utf-8")
    assert main(["inputs", str(path)]) == 0
    assert capsys.readouterr().out == f'{path}: ["Initial SOC", "C-rate"]\n'
