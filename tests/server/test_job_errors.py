"""Failed jobs reach the user as ``JobFailedError``: the server's error code and one readable
line of message, no traceback; a server in the user's process prints nothing to stderr."""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks.errors import IonworksError, JobFailedError
from ionworks.server.db import jobs as jobs_db
from ionworks.server.db.store import Store
from ionworks.server.execution.executor import WorkerError
from ionworks.server.execution.jobs import worker_error_code
from ionworks.server.hosting import EmbeddedServer
from tests.server.conftest import KEY_A
from tests.ucp.protocols import SEED_SINGLE

Factory = Callable[..., AbstractAsyncContextManager[Any]]

#: A parameter no model has: the simulation fails in its worker, with a message naming it.
BAD_PARAMETER = "Positive electrode thickness [nm]"


def failing_config() -> dict[str, Any]:
    return {
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {"protocol": SEED_SINGLE, "name": "fails"},
        "design_parameters": {BAD_PARAMETER: 1.0},
    }


async def test_a_failed_simulation_is_a_job_failed_error(
    server_url: str, new_client: Factory
) -> None:
    async with new_client(api_key=KEY_A, api_url=server_url) as client:
        response = await client.simulation.protocol(failing_config())
        sid = response.simulation_id
        with pytest.raises(JobFailedError) as info:
            await client.simulation.wait_for_completion(
                sid, timeout=120, poll_interval=0.1, verbose=False
            )
        job = await client.job.get(response.job_id)
    err = info.value
    assert isinstance(err, IonworksError)
    assert err.error_code == "job_failed" and err.status_code is None
    text = str(err)
    assert text.startswith(f"Simulation {sid} failed [job_failed]: ") and BAD_PARAMETER in text
    assert "Traceback" not in text and "error code: None" not in text and "\n" not in text
    assert err.records[0]["error_code"] == "job_failed"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is JobFailedError and str(copy) == text
    assert copy.error_code == "job_failed" and copy.records == err.records
    # the job record: the same code, one line of the server's message, no traceback
    assert job.status == "failed" and job.extra["error_code"] == "job_failed"
    assert job.error is not None and BAD_PARAMETER in job.error
    assert "Traceback" not in job.error and "\n" not in job.error


async def test_records_of_failed_simulations_carry_the_code(api: AsyncIonworks) -> None:
    response = await api.simulation.protocol(failing_config())
    record = await api.simulation.wait_for_completion(
        response.simulation_id, timeout=120, poll_interval=0.1, raise_on_failure=False
    )
    assert record["status"] == "failed" and record["error_code"] == "job_failed"
    fetched = await api.simulation.get(response.simulation_id)
    assert fetched["error_code"] == "job_failed" and BAD_PARAMETER in fetched["error"]
    (status,) = await api.simulation.get_statuses([response.simulation_id])
    assert status["error_code"] == "job_failed" and status["simulation"]["error_code"] == (
        "job_failed"
    )


@contextmanager
def like_a_plain_script() -> Iterator[None]:
    """No handler on the root logger (pytest's own capture handler is set aside), as in a
    script that never configured logging: records nobody handles go to logging.lastResort,
    i.e. stderr."""
    saved = list(logging.root.handlers)
    for handler in saved:
        logging.root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in saved:
            logging.root.addHandler(handler)


def _wait_for_end(store: Store, job_id: str, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while (row := jobs_db.get(store, job_id)) is None or row["status"] not in jobs_db.TERMINAL:
        assert time.monotonic() < deadline, f"job {job_id} did not end"
        time.sleep(0.05)
    return row


async def test_an_in_process_server_prints_nothing_when_jobs_fail(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    key = "quiet-key"
    with (
        like_a_plain_script(),
        EmbeddedServer(tmp_path, api_keys=[key], allow_anonymous=False, workers=1) as server,
    ):
        async with AsyncIonworks(api_key=key, api_url=server.url) as client:
            response = await client.simulation.protocol(failing_config())
            with pytest.raises(JobFailedError, match=r"\[job_failed\]"):
                await client.simulation.wait_for_completion(
                    response.simulation_id, timeout=120, poll_interval=0.1, verbose=False
                )
        # a bug in the server while running a job (here: a job type it does not know) is
        # logged with its traceback at ERROR, on the server's logger only
        store = Store(tmp_path, exclusive=False)
        try:
            job_id = jobs_db.enqueue(store, "nobody", "no-such-type", {})
            row = _wait_for_end(store, job_id)
        finally:
            store.close()
    assert row["status"] == "failed" and row["error_code"] == "server_error"
    assert "Traceback" not in row["error"] and "see the server log" in row["error"]
    captured = capfd.readouterr()
    assert captured.err == ""


def test_the_server_logger_never_falls_back_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    import ionworks.server.execution.jobs  # noqa: F401  (what every server loads)

    with like_a_plain_script():
        logging.getLogger("ionworks.server").error("a server-side error")
        logging.getLogger("ionworks.server.sub").warning("and one of a child logger")
    assert capfd.readouterr().err == ""


# --- the vocabulary, without a server ----------------------------------------------------


def test_worker_errors_are_classified() -> None:
    assert worker_error_code(WorkerError("ValueError: bad input")) == "job_failed"
    assert worker_error_code(WorkerError("the worker process died", died=True)) == "worker_died"
    # the executor's own failures say so; a job's text alone never makes it "worker_died"
    assert worker_error_code(WorkerError("the worker process died (exit code -9)")) == "job_failed"


def test_every_failed_or_canceled_job_gets_a_code(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        ids = [jobs_db.enqueue(store, "o", "simulation", {}) for _ in range(4)]
        for job_id in ids[:3]:
            assert jobs_db.claim(store, job_id)
        traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'k'\n"
        assert jobs_db.finish(store, ids[0], "failed", traceback)
        assert jobs_db.finish(store, ids[1], "failed", "died\nsecond line", jobs_db.WORKER_DIED)
        assert jobs_db.finish(store, ids[2], "completed", "ignored", jobs_db.JOB_FAILED)
        assert jobs_db.cancel(store, ids[3])
        rows = [jobs_db.job_dict(jobs_db.get(store, i)) for i in ids]  # type: ignore[arg-type]
        assert [(r["status"], r["error_code"]) for r in rows] == [
            ("failed", "job_failed"),
            ("failed", "worker_died"),
            ("completed", None),
            ("canceled", "canceled"),
        ]
        assert rows[0]["error"] == "KeyError: 'k'"
        assert rows[1]["error"] == "died second line" and rows[2]["error"] is None
        assert rows[3]["error"]
        with pytest.raises(ValueError, match="unknown job error code"):
            jobs_db.finish(store, ids[0], "failed", "x", "oops")
    finally:
        store.close()


def test_error_text_is_one_bounded_line() -> None:
    assert jobs_db.readable_error("first\n\n  second  ") == "first second"
    assert jobs_db.readable_error("") == jobs_db.readable_error(None) == "unknown error"
    assert jobs_db.readable_error("boom\nTraceback (most recent call last):\n  ...") == "boom"
    long = jobs_db.readable_error("x" * 10_000)
    assert len(long) == jobs_db.MAX_ERROR_CHARS and long.endswith("…")
    assert set(jobs_db.ERROR_CODES) == {"job_failed", "worker_died", "server_error", "canceled"}


def test_job_failed_error_without_a_server_code_uses_the_status() -> None:
    err = JobFailedError("Pipeline p failed: bad", [{"id": "p", "status": "failed"}])
    assert err.error_code == "failed" and str(err) == "Pipeline p failed: bad"
    explicit = JobFailedError("x", [], error_code="worker_died")
    assert pickle.loads(pickle.dumps(explicit)).error_code == "worker_died"
