"""The shared local daemon, with real processes: client scripts in subprocesses share one
``ionworks serve --daemon`` per data directory; it outlives them, never holds their stdio, stops
when idle or on ``ionworks stop``, and its workers die with it however it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

pytest.importorskip("pybamm")

from ionworks import Ionworks
from ionworks.server import daemon
from tests.ucp.protocols import LONG_CYCLING

pytestmark = pytest.mark.pybamm

#: A client script's preamble: submit on the zero-config server, print JSON lines.
SUBMIT = """
import json, sys, time
from ionworks import Ionworks
LONG = {long!r}
client = Ionworks()
def submit(protocol=LONG, model="chen2020-dfn"):
    r = client.simulation.protocol(
        {{"parameterized_model": model, "protocol_experiment": {{"protocol": protocol, "name": "p"}}}}
    )
    return r.simulation_id
"""


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IONWORKS_")}
    return {**env, "IONWORKS_DATA_DIR": str(data_dir), "PYBAMM_DISABLE_TELEMETRY": "true", **extra}


def _script(body: str) -> str:
    return SUBMIT.format(long=LONG_CYCLING) + textwrap.dedent(body)


def _run(data_dir: Path, body: str, timeout: float = 240, **env: str) -> list[dict[str, object]]:
    """Run a client script to its end; its JSON lines."""
    done = subprocess.run(
        [sys.executable, "-c", _script(body)],
        env=_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the daemon's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _describe(pids: list[int]) -> list[str]:
    """What is left of ``pids``: state and command line, for a failure message."""
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out.append(f"{pid} {stat[stat.rindex(')') + 2 :].split()[:2]} {cmd[:120]}")
    return out


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not [p for p in pids if daemon._alive(p)]:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("daemon-data")
    yield path
    daemon.stop(path, timeout=10)


def _client(data_dir: Path) -> Ionworks:
    info = daemon.read_discovery(data_dir)
    assert info is not None, "no daemon is running"
    return Ionworks(api_url=info.url, api_key=info.api_key)


def _cancel(data_dir: Path, simulation_id: str) -> None:
    with _client(data_dir) as client:
        client.job.cancel(client.simulation.get(simulation_id)["job_id"])


def test_two_client_processes_share_one_daemon_that_outlives_them(data_dir: Path) -> None:
    first = _run(data_dir, 'print(json.dumps({"id": submit(), "url": client.api_url}))')
    info = daemon.read_discovery(data_dir)
    assert info is not None and info.url == first[0]["url"]
    assert oct(daemon._discovery_path(data_dir).stat().st_mode & 0o777) == "0o600"
    # The first script has exited; its job still runs, and a second process finds the daemon.
    second = _run(
        data_dir,
        f"""
        rec = client.simulation.get({first[0]["id"]!r})["status"]
        print(json.dumps({{"url": client.api_url, "status": rec}}))
        """,
    )
    assert second[0]["url"] == info.url
    assert second[0]["status"] in ("pending", "running")
    assert daemon.read_discovery(data_dir) == info
    _cancel(data_dir, str(first[0]["id"]))


def test_a_script_with_captured_output_ends_when_it_ends(data_dir: Path) -> None:
    """The daemon and its workers never hold the script's stdout/stderr pipes."""
    body = """
    submit()
    print(json.dumps({"end": time.time()}), flush=True)
    """
    with subprocess.Popen(
        [sys.executable, "-c", _script(body)],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out, err = proc.communicate(timeout=240)  # returns when the pipes close
        closed = time.time()
    assert proc.returncode == 0, err[-2000:]
    end = json.loads(out.splitlines()[-1])["end"]
    assert closed - end < 2.0, f"pipes closed {closed - end:.1f} s after the script's end"


def test_ctrl_c_in_a_wait_stops_the_wait_and_leaves_the_job_running(data_dir: Path) -> None:
    body = """
    sid = submit()
    print(json.dumps({"id": sid}), flush=True)
    client.simulation.wait_for_completion(sid, timeout=600, verbose=False)
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _script(body)],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    sid = json.loads(proc.stdout.readline())["id"]
    time.sleep(0.5)  # inside the wait
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    with _client(data_dir) as client:
        assert client.simulation.get(sid)["status"] in ("pending", "running")
    _cancel(data_dir, sid)


def test_the_daemon_stops_when_idle_and_the_next_call_starts_it_again(tmp_path: Path) -> None:
    env = _env(tmp_path, IONWORKS_LOCAL_IDLE_TIMEOUT="2")
    probe = """
    import os, time
    from ionworks.server import daemon
    print(json.dumps({"projects": len(client.project.list())}), flush=True)
    first = daemon.read_discovery()
    deadline = time.monotonic() + 60
    while daemon._alive(first.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped = daemon.read_discovery() is None and not daemon._alive(first.pid)
    # the same client goes on working: it finds (starts) the daemon again
    print(json.dumps({"stopped": stopped, "projects": len(client.project.list()),
                      "restarted": daemon.read_discovery().pid != first.pid}), flush=True)
    """
    done = subprocess.run(
        [sys.executable, "-c", _script(probe)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[1] == {"stopped": True, "projects": lines[0]["projects"], "restarted": True}
    assert "started the local server" in done.stderr
    daemon.stop(tmp_path, timeout=10)


def test_stop_and_logs_commands(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "ionworks"]
    env = _env(tmp_path)
    assert (
        "no local server"
        in subprocess.run(
            [*cli, "stop"], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    url, _ = daemon.ensure_running(tmp_path)
    logs = subprocess.run([*cli, "logs"], env=env, capture_output=True, text=True, check=True)
    assert f"listening on {url}" in logs.stdout
    stopped = subprocess.run([*cli, "stop"], env=env, capture_output=True, text=True, check=True)
    assert f"stopped the local server at {url}" in stopped.stdout
    assert daemon.read_discovery(tmp_path) is None
    assert not daemon._discovery_path(tmp_path).exists()


def test_a_bad_idle_timeout_is_a_clear_error(tmp_path: Path) -> None:
    os.environ[daemon.IDLE_TIMEOUT_ENV] = "soon"
    try:
        with pytest.raises(RuntimeError, match="IONWORKS_LOCAL_IDLE_TIMEOUT must be a number"):
            daemon.ensure_running(tmp_path)
    finally:
        del os.environ[daemon.IDLE_TIMEOUT_ENV]
    assert daemon.idle_timeout({daemon.IDLE_TIMEOUT_ENV: "0"}) is None
    assert daemon.idle_timeout({}) == 900


def test_kill_9_of_the_daemon_leaves_no_worker(data_dir: Path) -> None:
    """Last in this module: it kills the module's daemon, mid-job."""
    url, key = daemon.ensure_running(data_dir)
    with Ionworks(api_url=url, api_key=key) as client:
        sid = client.simulation.protocol(
            {
                "parameterized_model": "chen2020-dfn",
                "protocol_experiment": {"protocol": LONG_CYCLING, "name": "long"},
            }
        ).simulation_id
        deadline = time.monotonic() + 120
        while client.simulation.get(sid)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
    info = daemon.read_discovery(data_dir)
    assert info is not None
    workers = _children(info.pid)
    assert workers, "the daemon has no worker processes"
    os.kill(info.pid, signal.SIGKILL)
    assert _gone([info.pid], 5)
    assert _gone(workers, 3), f"workers outlived the daemon: {_describe(workers)}"


def test_a_daemon_of_another_version_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After an upgrade the old daemon keeps serving; the client says how to restart it."""
    url, key = daemon.ensure_running(tmp_path)
    try:
        info = daemon.read_discovery(tmp_path)
        assert info is not None
        daemon.write_discovery(tmp_path, attrs.evolve(info, version="0.0.1-old"))
        capsys.readouterr()
        assert daemon.ensure_running(tmp_path) == (url, key)
        assert daemon.ensure_running(tmp_path) == (url, key)
        err = capsys.readouterr().err
        assert err.count("runs ionworks 0.0.1-old") == 1 and "'ionworks stop'" in err
    finally:
        daemon.stop(tmp_path, timeout=10)
