"""Real records for the web page tests and screenshots: simulations, a DOE sweep, a measurement
and a small fit, created through the client against a local server."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import polars as pl

from ionworks import AsyncIonworks
from tests.server.test_engine import THREE_STEPS as PROTOCOL

WAIT: dict[str, Any] = {"timeout": 300, "poll_interval": 0.2, "verbose": False}
#: The sweep's protocol: its own (a longer rest), so the sweep has a protocol of its own name.
SWEEP_PROTOCOL = PROTOCOL.replace("duration: 600", "duration: 1800")
THICKNESS = "Positive electrode thickness [m]"
SWEEP_POINTS = 6


@attrs.frozen
class Demo:
    """The ids of what :func:`make_demo` created."""

    project_id: str
    simulations: list[str]
    sweep: list[str]
    measurement_id: str
    study_id: str
    pipeline_id: str | None


def measured(n: int = 400) -> pl.DataFrame:
    """A smooth synthetic discharge, rest and charge with steps numbered 0–2."""
    t = np.linspace(0.0, 3600.0, n)
    step = np.minimum(2, (t // 1200).astype(np.int64))
    current = np.select([step == 0, step == 1], [1.0, 0.0], -0.5)
    voltage = 4.1 - 0.6 * np.sin(np.pi * t / 7200) + 0.01 * np.cos(t / 50)
    return pl.DataFrame(
        {"Time [s]": t, "Current [A]": current, "Voltage [V]": voltage, "Step count": step}
    )


def queue(count: int) -> dict[str, Any]:
    """A batch of ``count`` simulations (to keep the workers busy for a while)."""
    conditions = [{"design_parameters": {THICKNESS: 60e-6 + i * 1e-6}} for i in range(count)]
    return _config("queued batch", conditions=conditions)


def _config(name: str, protocol: str = PROTOCOL, **extra: Any) -> dict[str, Any]:
    return {
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {"protocol": protocol, "name": name},
        **extra,
    }


async def make_demo(client: AsyncIonworks, *, fit: bool = False) -> Demo:
    """Three simulations, a grid sweep of the positive electrode thickness, a measurement and
    (``fit``) a small SPM data fit; waits for the simulations."""
    project_id = await client._default_project_id()
    singles = []
    for c_rate in ("0.5", "1", "2"):
        protocol = PROTOCOL.replace("value: 1,", f"value: {c_rate},")
        response = await client.simulation.protocol(
            {
                **_config(f"discharge {c_rate}C"),
                "protocol_experiment": {"protocol": protocol, "name": f"discharge {c_rate}C"},
            }
        )
        singles.append(response.simulation_id)
    doe = {
        "sampling": "grid",
        "rows": [
            {"type": "range", "name": THICKNESS, "min": 60e-6, "max": 90e-6, "count": SWEEP_POINTS}
        ],
    }
    batch = await client.simulation.protocol_batch(
        _config("thickness sweep", SWEEP_PROTOCOL, design_parameters_doe=doe)
    )
    sweep = [r.simulation_id for r in batch]
    measurement = await client.cell_measurement.upload(measured(), name="demo measurement")
    pipeline_id = None
    if fit:
        from tests.server.test_fitting import fit_config, synthetic_data

        created = await client.pipeline.create(fit_config(synthetic_data(120)), name="demo fit")
        pipeline_id = created.id
    study = await client.study.create({"name": "C-rate study", "description": "three rates"})
    for sid in singles:
        await client.study.assign_simulation(study.id, sid)
    await client.study.assign_measurement(study.id, measurement.id)
    await client.simulation.wait_for_completion(singles + sweep, **WAIT)
    if pipeline_id:
        await client.pipeline.wait_for_completion(pipeline_id, **WAIT)
    return Demo(project_id, singles, sweep, measurement.id, study.id, pipeline_id)
