"""Zero configuration: with no API configured, ``Ionworks()`` starts the shared local server.

Runs in a subprocess (a fresh interpreter, empty environment) exactly as a user's script would,
without closing the client, to prove the script also exits promptly on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ionworks.server import daemon

SCRIPT = textwrap.dedent(
    """
    from ionworks import Ionworks
    from ionworks.cli import DEMO_PROTOCOL as PROTOCOL

    client = Ionworks()
    response = client.simulation.protocol({
        "parameterized_model": "chen2020-spm",
        "protocol_experiment": {
            "protocol": PROTOCOL,
            "name": "1C Discharge",
        },
    })
    client.simulation.wait_for_completion(response.simulation_id, timeout=120, verbose=False)
    result = client.simulation.get_result(response.simulation_id)
    print("rows", len(result.time_series), "project", client.project_id is None)
    print("listed", len(client.simulation.list()), "existed", response.already_existed)
    """
)


def run(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the script as a file without a ``__main__`` guard, as users write them: worker
    processes must never re-execute it."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("IONWORKS_") and k != "PROJECT_ID"
    }
    env["IONWORKS_DATA_DIR"] = str(data_dir)
    script = data_dir.parent / f"{data_dir.name}_user_script.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    daemon.stop(tmp_path, timeout=10)


def test_unconfigured_client_uses_the_local_server_and_keeps_data(data_dir: Path) -> None:
    first = run(data_dir)
    assert first.returncode == 0, first.stderr
    assert "ionworks: started the local server at " in first.stderr
    assert "rows" in first.stdout and "listed 1 existed False" in first.stdout
    assert (data_dir / "ionworks.sqlite3").exists()
    assert daemon.stop(data_dir, timeout=10) is not None
    # a restarted server sees the earlier simulation, nothing lost: the same run again is it
    second = run(data_dir)
    assert second.returncode == 0, second.stderr
    assert "started the local server" in second.stderr
    assert "listed 1 existed True" in second.stdout
