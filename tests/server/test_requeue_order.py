"""Jobs re-queued after a restart run after the work submitted since: within a priority, first
attempts go before re-attempts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ionworks import Ionworks
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store
from ionworks.server.hosting import EmbeddedServer
from tests.ucp.protocols import LONG_CYCLING

KEY = "requeue-order-key"

DISCHARGE = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 2.5"]}
"""


def config(protocol: str, name: str, model: str = "chen2020-spm") -> dict[str, Any]:
    return {
        "parameterized_model": model,
        "protocol_experiment": {"protocol": protocol, "name": name},
    }


def _wait_until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_dispatch_order_puts_re_attempts_behind_first_attempts(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        first, second = (jobs_db.enqueue(store, "o", "simulation", {}) for _ in range(2))
        urgent = jobs_db.enqueue(store, "o", "simulation", {}, priority=9)
        for job_id in (first, urgent):
            assert jobs_db.claim(store, job_id)
        assert jobs_db.requeue_running(store) == 2  # a restart: both were interrupted
        newer = jobs_db.enqueue(store, "o", "simulation", {})
        order = [row["id"] for row in jobs_db.pending(store, 10)]
        # priority first; then the new work; the interrupted job of its priority last
        assert order == [urgent, second, newer, first]
        assert [row["id"] for row in jobs_db.pending(store, 2)] == [urgent, second]
    finally:
        store.close()


def test_interrupted_jobs_run_after_work_submitted_after_the_restart(tmp_path: Path) -> None:
    # 1. A server whose one worker is busy with a long job gets two more; it stops (a crash,
    #    as far as the jobs are concerned) and they are left as if both had been running.
    with EmbeddedServer(tmp_path, api_keys=[KEY], workers=1) as first:
        with Ionworks(api_key=KEY, api_url=first.url) as client:
            blocker = client.simulation.protocol(config(LONG_CYCLING, "blocker", "chen2020-dfn"))
            _wait_until(
                lambda: client.job.get(blocker.job_id).status == "running", 60, "no job ran"
            )
            interrupted = [  # two runs (an identical resubmission would be the same one)
                client.simulation.protocol(
                    config(
                        DISCHARGE.replace("value: 1", f"value: {i}"), f"int. {i}", "chen2020-dfn"
                    )
                )
                for i in (1, 2)
            ]
    store = Store(tmp_path)
    try:
        assert jobs_db.cancel(store, blocker.job_id)  # not part of this story
        for response in interrupted:
            assert jobs_db.status(store, response.job_id) == "pending"
            assert jobs_db.claim(store, response.job_id)  # left running by the "crash"
    finally:
        store.close()

    # 2. The next server re-queues both and runs the first at once (one worker); work
    #    submitted meanwhile goes before the second.
    with EmbeddedServer(tmp_path, api_keys=[KEY], workers=1) as second:
        with Ionworks(api_key=KEY, api_url=second.url) as client:
            _wait_until(
                lambda: client.job.get(interrupted[0].job_id).status == "running",
                30,
                "the first interrupted job was not dispatched",
            )
            assert client.job.get(interrupted[1].job_id).status == "pending"
            new = client.simulation.protocol(config(DISCHARGE, "new work"))
            ids = [interrupted[0].simulation_id, interrupted[1].simulation_id, new.simulation_id]
            client.simulation.wait_for_completion(ids, timeout=300, verbose=False)
            jobs = {
                name: client.job.get(response.job_id)
                for name, response in (("old", interrupted[1]), ("new", new))
            }
    assert jobs["new"].extra["started_at"] < jobs["old"].extra["started_at"]
