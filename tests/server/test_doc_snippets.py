"""Every Python block of the product doc's simulation, study and protocol sections, run
verbatim (ids filled in) with the sync client against the local server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import KEY_A
from tests.ucp.protocols import SEED_SINGLE as SEED_PROTOCOL

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"
SECTIONS = ("## Running simulations", "## Managing studies", "## Managing protocols")
NOT_YET: tuple[str, ...] = ()


def blocks() -> list[tuple[str, str]]:
    text = DOC.read_text()
    out = []
    for section in re.split(r"(?m)^(?=## )", text):
        if not section.startswith(SECTIONS):
            continue
        heading = section.splitlines()[0]
        for index, code in enumerate(re.findall(r"```python[^\n]*\n(.*?)```", section, re.S)):
            out.append((f"{heading[3:]} #{index}", code))
    return out


BLOCKS = blocks()


def prepare(code: str) -> str:
    code = code.replace('"your-parameterized-model-id"', '"chen2020-spm"')
    code = code.replace('"your-simulation-id"', "response.simulation_id")
    code = code.replace('"protocol": "...",', f'"protocol": {SEED_PROTOCOL!r},')
    # study blocks: a study, simulation and measurement made by the test (see seed_study)
    code = code.replace('"your-study-id"', "doc_study.id")
    code = code.replace('"simulation-id"', "doc_simulation_id")
    code = code.replace('"measurement-id"', "doc_measurement.id")
    code = code.replace('"other-project-id"', "doc_study.project_id")
    return code


def seed_study(client: Any) -> dict[str, Any]:
    """The real records the study blocks refer to."""
    import polars as pl

    series = pl.DataFrame(
        {
            "Time [s]": [0.0, 1.0, 2.0],
            "Current [A]": [1.0, 1.0, 1.0],
            "Voltage [V]": [4.1, 4.0, 3.9],
        }
    )
    simulation = client.simulation.protocol(
        {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": SEED_PROTOCOL, "name": "doc study sim"},
        }
    )
    return {
        "doc_study": client.study.create({"name": "doc study"}),
        "doc_simulation_id": simulation.simulation_id,
        "doc_measurement": client.measurement.upload(series, name="doc measurement"),
    }


def test_the_doc_has_the_expected_blocks() -> None:
    assert len(BLOCKS) >= 8


def test_doc_snippets_run_verbatim(
    server_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("IONWORKS_API_URL", server_url)
    monkeypatch.setenv("IONWORKS_API_KEY", KEY_A)
    monkeypatch.chdir(tmp_path)
    from ionworks import Ionworks

    client = Ionworks()
    namespace: dict[str, Any] = {"client": client, **seed_study(client)}
    try:
        for name, code in BLOCKS:
            if any(marker in code for marker in NOT_YET):
                continue
            if "response" in namespace:  # the doc's later blocks use an id from earlier ones
                namespace.setdefault("simulation_id", namespace["response"].simulation_id)
            try:
                exec(compile(prepare(code), f"<doc: {name}>", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"doc block {name!r} failed: {exc!r}\n{code}") from exc
    finally:
        client.close()
        for value in namespace.values():
            if value is not client and type(value).__name__ == "Ionworks":
                value.close()
    assert namespace["result"] is not None
    assert namespace["study"].name == "1C Discharge Sweep v2"
