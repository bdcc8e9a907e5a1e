"""Every Python block of the product doc's simulation, pipeline, simple pipeline, study and
protocol sections, run verbatim (ids filled in) with the sync client against the local server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import KEY_A
from tests.ucp.protocols import SEED_SINGLE as SEED_PROTOCOL

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"
SECTIONS = (
    "## Running simulations",
    "## Running pipelines",
    "## Running simple pipelines",
    "## Managing studies",
    "## Managing protocols",
)
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
    # pipeline blocks: an uploaded measurement of synthetic data (see seed_pipelines); the
    # "elements": { ... } placeholder is the previous block's elements; "Handling errors"
    # waits on a simple pipeline that fails
    code = code.replace('"db:your-measurement-id"', '"db:" + doc_fit_measurement.id')
    code = code.replace('"elements": { ... },', '"elements": config["elements"],')
    code = code.replace("wait_for_completion(sp.id)\n", "wait_for_completion(doc_failing_sp.id)\n")
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


def seed_pipelines(client: Any) -> dict[str, Any]:
    """The measurement the pipeline blocks fit and a simple pipeline that fails."""
    import polars as pl

    from tests.server.test_fitting import synthetic_data

    failing = {
        "elements": {
            "check": {
                "element_type": "validation",
                "objectives": {"voltage": {"data": "db:missing-measurement"}},
            }
        }
    }
    return {
        "doc_fit_measurement": client.measurement.upload(
            pl.DataFrame(synthetic_data()), name="doc synthetic discharge"
        ),
        "doc_failing_sp": client.simple_pipeline.create(failing, name="doc failing"),
    }


def test_the_doc_has_the_expected_blocks() -> None:
    assert len(BLOCKS) >= 8
    names = [name for name, _ in BLOCKS]
    assert any(n.startswith("Running pipelines") for n in names)
    assert any(n.startswith("Running simple pipelines") for n in names)


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
    printed: list[str] = []

    def record(*args: Any, **kwargs: Any) -> None:
        printed.append(" ".join(map(str, args)))

    namespace: dict[str, Any] = {
        "client": client,
        "print": record,
        **seed_study(client),
        **seed_pipelines(client),
    }
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
        # pipelines: the fit ran, the PyBaMM-model entry pipeline completes, the fitted
        # D_n of the simple pipeline is close, "Handling errors" printed the server's error
        assert "data_fit" in namespace["pipeline_result"].element_results
        entry_only = client.pipeline.wait_for_completion(
            namespace["pipeline"].id, timeout=120, poll_interval=0.2, verbose=False
        )
        assert entry_only.status == "completed"
        fitted = namespace["completed"].result["parameter_values"][
            "Negative particle diffusivity [m2.s-1]"
        ]
        assert abs(fitted / 3.3e-14 - 1) < 0.1
        assert any("measurement 'missing-measurement' not found" in p for p in printed)
    finally:
        client.close()
        for value in namespace.values():
            if value is not client and type(value).__name__ == "Ionworks":
                value.close()
    assert namespace["result"] is not None
    assert namespace["study"].name == "1C Discharge Sweep v2"
