"""Jobs survive a server restart: interrupted work is re-queued, nothing duplicated or lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ionworks import Ionworks
from ionworks.server.embedded import EmbeddedServer

PROTOCOL = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 2.5"]}
"""


def test_restart_requeues_interrupted_jobs(tmp_path: Path) -> None:
    key = "restart-key"
    first = EmbeddedServer(tmp_path, api_keys=[key], workers=1)
    url = first.start()
    with Ionworks(api_key=key, api_url=url) as client:
        responses = client.simulation.protocol_batch(
            {
                "parameterized_model": "chen2020-dfn",
                "protocol_experiment": {"protocol": PROTOCOL, "name": "restart"},
                "design_parameters_doe": {
                    "sampling": "grid",
                    "rows": [
                        {
                            "type": "range",
                            "name": "Ambient temperature [K]",
                            "min": 290,
                            "max": 310,
                            "count": 6,
                        }
                    ],
                },
            }
        )
        ids = [r.simulation_id for r in responses]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = {s["status"] for s in client.simulation.get_statuses(ids)}
            if "running" in statuses:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no job started running")
    first.stop()  # mid-batch: one job is running, others pending

    second = EmbeddedServer(tmp_path, api_keys=[key], workers=2)
    url = second.start()
    try:
        with Ionworks(api_key=key, api_url=url) as client:
            records = client.simulation.wait_for_completion(ids, timeout=300, verbose=False)
            assert [r["id"] for r in records] == ids
            everything = client.simulation.list()
            assert sorted(s["id"] for s in everything) == sorted(ids)  # no duplicates
            for sid in ids:
                assert len(client.simulation.get_result(sid).time_series) > 10
    finally:
        second.stop()
