"""The error boundary and the help, in process (no server): bugs and Ctrl-C are one line,
``--debug`` adds the traceback, help shows meaningful defaults once."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

import pytest

from ionworks.cli import _protocols, main
from ionworks.cli._common import CLIError


def _help(*command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ionworks", *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _entry(text: str, flag: str) -> str:
    """The help paragraph of ``flag`` (whitespace collapsed)."""
    match = re.search(rf"^  {flag}\b(.*?)(?=^  -|\Z)", text, re.M | re.S)
    assert match, flag
    return " ".join(match.group(1).split())


def test_help_shows_defaults_once_and_only_meaningful_ones() -> None:
    start = time.perf_counter()
    top = _help()
    assert time.perf_counter() - start < 5
    for command in ("jobs", "cancel", "run", "demo", "convert", "serve"):
        assert command in top
    run = _help("run")
    assert "(default: chen2020-spme)" in _entry(run, "--model")
    assert _entry(run, "--param").count("default") == 0  # [] is no default
    assert _entry(run, "--out").count("default") == 1
    serve = _help("serve")
    assert "(default: 8765)" in _entry(serve, "--port")
    assert _entry(serve, "--executor").count("default") == 1  # the help says it already
    assert _entry(serve, "--workers").count("default") == 1
    assert "(default: 1,048,576)" in _entry(serve, "--max-protocol-bytes")
    for text in (run, serve, _help("convert"), _help("jobs")):
        assert not re.search(r"default: (None|False|\[\])", text)
    assert "maccor, arbin," in _entry(_help("convert"), "--target TARGET")


def _raise(exc: BaseException) -> None:
    def command(args: argparse.Namespace) -> int:
        raise exc

    return command  # type: ignore[return-value]


def test_a_bug_is_one_line_and_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_protocols, "_validate", _raise(ZeroDivisionError("oops\nmore")))
    assert main(["validate", "x.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "ionworks validate: error: unexpected ZeroDivisionError: oops",
        "  run with --debug for the traceback",
    ]
    assert main(["validate", "x.yaml", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: oops" in err
    assert err.splitlines()[-1] == "ionworks validate: error: unexpected ZeroDivisionError: oops"


def test_ctrl_c_outside_a_job_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_protocols, "_validate", _raise(KeyboardInterrupt()))
    assert main(["validate", "x.yaml"]) == 130
    assert capsys.readouterr().err == "ionworks validate: interrupted\n"


def test_long_messages_are_cut_to_two_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "first\nsecond\nthird\n" + "x" * 5000
    monkeypatch.setattr(_protocols, "_validate", _raise(CLIError(text)))
    assert main(["validate", "x.yaml"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "ionworks validate: error: first",
        "  second (and 2 more lines)",
    ]
    monkeypatch.setattr(_protocols, "_validate", _raise(CLIError("y" * 5000)))
    assert main(["validate", "x.yaml"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert len(line) < 700 and line.endswith("…")


def test_argument_names_become_flags() -> None:
    from ionworks.cli._common import name_flags

    assert name_flags("C-rate needs nominal_capacity_ah; bad filename_stem 'a/b'") == (
        "C-rate needs --nominal-capacity; bad --stem 'a/b'"
    )
    assert name_flags("my_nominal_capacity_ah_x") == "my_nominal_capacity_ah_x"
