"""Running ``python -m ionworks`` as a user would: a fresh process, no IONWORKS_* variables
but the test's own data directory (helpers of tests/server/test_daemon.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.server.test_daemon import _client, _env

__all__ = ["Process", "assert_error", "client", "ionworks", "popen"]

client = _client  # a client of the data directory's running daemon
Process = subprocess.CompletedProcess[str]


def _command(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "ionworks", *args]


def ionworks(
    data_dir: Path, *args: str, cwd: Path | None = None, timeout: float = 240, **env: str
) -> Process:
    """Run the command line to its end."""
    return subprocess.run(
        _command(args),
        env=_env(data_dir, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(data_dir: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start the command line (stdout and stderr piped)."""
    return subprocess.Popen(
        _command(args),
        env=_env(data_dir),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_error(done: Process, code: int, *needles: str) -> str:
    """``done`` failed with ``code`` in one or two lines on stderr (no traceback) that
    contain every needle; the stderr text."""
    lines = done.stderr.splitlines()
    assert done.returncode == code, (done.returncode, done.stderr[-3000:])
    assert 1 <= len(lines) <= 2, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)
    return done.stderr


#: Values for every input of ``tests.ucp.protocols.SEED_INPUTS``.
SEED_INPUT_PARAMS = ("--param", "C-rate=1", "--param", "Initial SOC=1")
