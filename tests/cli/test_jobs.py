"""``ionworks jobs`` / ``cancel``, and Ctrl-C of ``ionworks run``: the command owns its job,
so an interrupt cancels it (exit 130, one line); a second interrupt exits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ionworks.cli._simulate import INTERRUPTED_AGAIN
from ionworks.server import daemon
from tests.cli.helpers import assert_error, client, ionworks, popen
from tests.ucp.protocols import LONG_CYCLING

pytestmark = pytest.mark.pybamm

LONG = {"protocol": LONG_CYCLING, "name": "long"}


def _submit(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """``count`` long simulations: ``(simulation id, job id)`` each (each with an unused
    experiment parameter of its own: an identical resubmission would be the same run)."""
    with client(data_dir) as api:
        return [
            (r.simulation_id, r.job_id)
            for r in (
                api.simulation.protocol(
                    {
                        "parameterized_model": "chen2020-dfn",
                        "protocol_experiment": LONG,
                        "experiment_parameters": {"run": i},
                    }
                )
                for i in range(count)
            )
        ]


def _status(data_dir: Path, job_id: str) -> str:
    with client(data_dir) as api:
        return str(api.job.get(job_id).status)


def _running_job(data_dir: Path, known: set[str], within: float = 120) -> str:
    """The id of a job not in ``known`` once it runs."""
    deadline = time.monotonic() + within
    with client(data_dir) as api:
        while time.monotonic() < deadline:
            for job in api.job.list(limit=20):
                if job.job_id not in known and job.status == "running":
                    return job.job_id
            time.sleep(0.2)
    raise AssertionError("the command's job never ran")


def _job_ids(data_dir: Path) -> set[str]:
    with client(data_dir) as api:
        return {job.job_id for job in api.job.list()}


def test_jobs_lists_and_cancel_cancels(data_dir: Path) -> None:
    (first_sim, first_job), (second_sim, second_job), (_, third_job) = _submit(data_dir, 3)
    listed = ionworks(data_dir, "jobs")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["JOB", "TYPE", "STATUS", "CREATED", "STARTED", "FOR"]
    row = next(line for line in lines if line.startswith(first_job))
    assert row.split()[1] == "simulation" and row.split()[2] in ("pending", "running")
    assert row.endswith(f"simulation {first_sim}")
    assert {second_job, third_job} <= {line.split()[0] for line in lines}
    # by simulation ID or job ID
    done = ionworks(data_dir, "cancel", first_sim)
    assert done.stdout == f"canceled job {first_job} (simulation {first_sim})\n", done.stderr
    assert _status(data_dir, first_job) == "canceled"
    again = ionworks(data_dir, "cancel", first_job)
    assert again.stdout == f"job {first_job} (simulation {first_sim}) had already canceled\n"
    assert_error(ionworks(data_dir, "cancel", "nope"), 1, "no job or simulation with id nope")
    assert_error(ionworks(data_dir, "cancel"), 2, "give job or simulation IDs, or --all")
    everything = ionworks(data_dir, "cancel", "--all")
    assert everything.returncode == 0, everything.stderr
    assert f"canceled job {second_job} (simulation {second_sim})" in everything.stdout
    assert f"canceled job {third_job}" in everything.stdout
    assert {_status(data_dir, j) for j in (second_job, third_job)} == {"canceled"}
    assert ionworks(data_dir, "jobs").stdout == "no queued or running jobs\n"
    assert ionworks(data_dir, "cancel", "--all").stdout == "no queued or running jobs\n"
    history = ionworks(data_dir, "jobs", "--all", "--limit", "2").stdout.splitlines()
    assert len(history) == 3 and all(" canceled " in line for line in history[1:])


def _start_run(data_dir: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """``ionworks run`` of a long protocol, once its job runs; the process and the job id."""
    (tmp_path / "long.yaml").write_text(LONG_CYCLING)
    known = _job_ids(data_dir)
    args = ("run", "long.yaml", "--model", "chen2020-dfn", "--out", "out")
    proc = popen(data_dir, *args, cwd=tmp_path)
    try:
        return proc, _running_job(data_dir, known)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise


def test_ctrl_c_of_run_cancels_its_job(data_dir: Path, tmp_path: Path) -> None:
    proc, job_id = _start_run(data_dir, tmp_path)
    with client(data_dir) as api:
        sid = next(
            job.params["simulation_id"] for job in api.job.list(limit=20) if job.job_id == job_id
        )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.splitlines() == [f"ionworks run: interrupted: canceled simulation {sid}"]
    assert out == ""
    assert _status(data_dir, job_id) == "canceled"
    assert not (tmp_path / "out").exists()


@contextmanager
def _frozen_server(data_dir: Path) -> Iterator[None]:
    """The daemon stopped (SIGSTOP): requests hang until the block ends."""
    info = daemon.read_discovery(data_dir)
    assert info is not None
    os.kill(info.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(info.pid, signal.SIGCONT)


def test_a_second_ctrl_c_exits_without_waiting_for_the_cancel(
    data_dir: Path, tmp_path: Path
) -> None:
    proc, job_id = _start_run(data_dir, tmp_path)
    try:
        with _frozen_server(data_dir):
            proc.send_signal(signal.SIGINT)  # the cancel request now hangs
            time.sleep(1.0)
            assert proc.poll() is None
            start = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
            assert time.monotonic() - start < 3
        assert proc.returncode == 130
        assert err.splitlines() == [INTERRUPTED_AGAIN]
    finally:
        if proc.poll() is None:
            proc.kill()
        with client(data_dir) as api:
            api.job.cancel(job_id)
