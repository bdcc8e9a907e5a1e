"""Zero configuration: with no API configured, ``Ionworks()`` starts the embedded server.

Runs in a subprocess (a fresh interpreter, empty environment) exactly as a user's script would,
without closing the client, to prove the script also exits promptly on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    print("listed", len(client.simulation.list()))
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


def test_unconfigured_client_uses_the_embedded_server_and_keeps_data(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "using the embedded local server" in first.stderr
    assert "rows" in first.stdout and "listed 1" in first.stdout
    assert (tmp_path / "ionworks.sqlite3").exists()
    second = run(tmp_path)  # a restart sees the earlier simulation: nothing lost
    assert second.returncode == 0, second.stderr
    assert "listed 2" in second.stdout
