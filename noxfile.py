"""Developer tasks. `nox -s lint typecheck sync tests docs` is what CI runs (see README)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "sync", "tests"]

PYTHON = "3.11"
ENV = {"PYBAMM_DISABLE_TELEMETRY": "true"}
#: The one ruff every session uses (lint, the sync generator's formatter, the dev extra in
#: pyproject.toml): a new ruff may format the generated facade differently.
RUFF = "ruff==0.17.6"
IMPORT_LINTER = "import-linter==2.16"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check + the import-linter contracts (pyproject.toml)."""
    session.install(RUFF, IMPORT_LINTER)
    session.install("--no-deps", "-e", ".")  # import-linter reads the sources; no deps needed
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on ionworks/ and ionworks_sync/."""
    session.install("-e", ".[dev]")
    session.run("mypy", env=ENV)


@nox.session(python=PYTHON)
def sync(session: nox.Session) -> None:
    """Regenerate ionworks_sync/ from ionworks/ and fail if anything changed."""
    session.install("-e", ".", RUFF)
    session.run("python", "tools/gen_sync.py", "--check")


def _pytest(session: nox.Session, *args: str) -> None:
    """pytest with these arguments (no cache directory), then the session's own arguments."""
    session.run(
        "python", "-m", "pytest", *args, "-p", "no:cacheprovider", *session.posargs, env=ENV
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test suite (slow tests excluded)."""
    session.install("-e", ".[server,dev,cycler]")
    _pytest(session, "-m", "not slow")


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """Tests marked slow (long simulations, fault batches)."""
    session.install("-e", ".[server,dev]")
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def faults(session: nox.Session) -> None:
    """The slow fault-injection tests (200-simulation batch through the fault proxy)."""
    session.install("-e", ".[server,dev]")
    _pytest(session, "tests/faults", "-m", "slow", "-s")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) built with --strict into site/ (no network needed)."""
    session.install("-e", ".[docs]", RUFF)  # mkdocstrings formats signatures with ruff
    env = {**ENV, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs, env=env)


VENDOR_PARSERS = ("beep==2026.2.7", "aurora-unicycler==0.4.6")


@nox.session(python=PYTHON)
def vendors(session: nox.Session) -> None:
    """Exported cycler files read back by independent parsers (beep, aurora-unicycler)."""
    session.install("-e", ".[dev]", *VENDOR_PARSERS)
    _pytest(session, "tests/vendors")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Ratio benchmarks (ours vs a baseline in the same run); one JSON line per figure."""
    session.install("-e", ".[server,dev]")
    session.run("python", "-m", "benchmarks", *session.posargs, env=ENV)


OFFICIAL_CLIENT = "ionworks-api==0.38.0"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, key: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            req = urllib.request.Request(f"{url}/healthz", headers={"X-API-Key": key})
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not healthy at {url}/healthz after {timeout:.0f} s")


@nox.session(python=PYTHON)
def official(session: nox.Session) -> None:
    """Drive our server with the official ionworks-api client (not in the default run).

    The official client's import package is also called ``ionworks``, so it gets this
    session's venv and our server gets a second venv under .nox/official-server.
    """
    # (a) the official client; its wheel pulls pybamm, pydantic, pandas, polars, scipy,
    # requests, ionworks-schema.
    session.install(OFFICIAL_CLIENT, "requests")
    # (b) our server in its own venv
    root = Path(__file__).resolve().parent
    venv = root / ".nox" / "official-server"
    python = _venv_python(venv)
    uv = shutil.which("uv")
    if uv:
        if not python.exists():
            session.run(uv, "venv", "--python", PYTHON, str(venv), external=True)
        session.run(uv, "pip", "install", "--python", str(python), "-e", ".[server]", external=True)
    else:
        if not python.exists():
            session.run("python", "-m", "venv", str(venv))
        session.run(str(python), "-m", "pip", "install", "-e", ".[server]", external=True)
    # (b2) our typed builders (ionworks.schema) vs the official ionworks-schema: configs built
    # with ours in the server venv, rebuilt and compared with the official classes here
    with tempfile.TemporaryDirectory(prefix="ionworks-schema-") as tmp:
        configs = str(Path(tmp) / "configs.json")
        session.run(str(python), "tests/official/dump_schema_configs.py", configs, external=True)
        session.run("python", "tests/official/schema_compat.py", configs, env=ENV)
        # (b3) the public surface: every official method of the walked groups in ours, with
        # the same signature (or a documented difference; tests/official/surface.py)
        surface = str(Path(tmp) / "surface.json")
        session.run(str(python), "tests/official/surface.py", "dump", surface, external=True)
        session.run("python", "tests/official/surface.py", "compare", surface, env=ENV)
    # (c) start it on a free port with a throw-away data dir and a random key
    key = secrets.token_urlsafe(24)
    member_key = secrets.token_urlsafe(24)  # a second key: project members (checks_projects)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ionworks-official-") as tmp:
        log_path = Path(tmp) / "server.log"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("IONWORKS_", "VIRTUAL_ENV"))
        }
        env.update(ENV)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(python), "-m", "ionworks", "serve", "--host", "127.0.0.1",
                    "--port", str(port), "--data-dir", str(Path(tmp) / "data"),
                    f"--api-key={key}", f"--api-key={member_key}", "--workers", "2",
                ],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
            )  # fmt: skip
        ok = False
        try:
            _wait_healthy(url, key, proc, timeout=120)
            session.log(f"server ready at {url} (pid {proc.pid})")
            # (d) the official client against it
            member = {**ENV, "OFFICIAL_MEMBER_KEY": member_key}
            session.run("python", "tests/official/drive_official.py", url, key, env=member)
            ok = True
        finally:
            # (e) always stop the server
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
            if not ok:
                tail = log_path.read_text(errors="replace").splitlines()[-60:]
                session.log("server log (tail):\n" + "\n".join(tail))
