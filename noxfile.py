"""Developer tasks. `nox -s lint typecheck sync tests` is what CI runs (see README)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "sync", "tests"]

PYTHON = "3.11"
ENV = {"PYBAMM_DISABLE_TELEMETRY": "true"}


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on ionworks/ and ionworks_sync/."""
    session.install("-e", ".[dev]")
    session.run("mypy", env=ENV)


@nox.session(python=PYTHON)
def sync(session: nox.Session) -> None:
    """Regenerate ionworks_sync/ from ionworks/ and fail if anything changed."""
    session.install("-e", ".", "ruff>=0.6")
    session.run("python", "tools/gen_sync.py", "--check")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test suite (slow tests excluded)."""
    session.install("-e", ".[server,dev]")
    session.run(
        "python", "-m", "pytest", "-m", "not slow", "-p", "no:cacheprovider", *session.posargs,
        env=ENV,
    )


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """Tests marked slow (long simulations, fault batches)."""
    session.install("-e", ".[server,dev]")
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs, env=ENV)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Ratio benchmarks (ours vs a baseline in the same run); one JSON line per figure."""
    session.install("-e", ".[server,dev]")
    session.run("python", "-m", "benchmarks", *session.posargs, env=ENV)
