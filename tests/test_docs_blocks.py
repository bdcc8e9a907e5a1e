"""Docs that run: every ```python block of README.md and docs/**/*.md runs as written.

Each block runs as a script of its own in a fresh interpreter, as a reader would run it: no
API configured (so the client uses the local server, data in a per-session temporary
``IONWORKS_DATA_DIR``), a temporary working directory, and a 300 s limit; it passes when the
script exits with status 0. A block that is deliberately partial (it continues earlier blocks,
uses placeholder ids, needs the cloud or the network, or is a measurement note) is marked by
the line ``<!-- fragment -->`` (invisible when rendered; ``<!-- fragment: why -->`` also
counts) immediately before its opening fence, and is not run here. The product doc's blocks
(docs/python-api.md) are fragments; tests/server/test_doc_snippets.py runs them in sequence
with real ids filled in.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
FRAGMENT = re.compile(r"^<!--\s*fragment\b.*-->$")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
#: What a block must not inherit from the test run: any configured API or project.
CLOUD_VARS = (
    "IONWORKS_API_URL",
    "IONWORKS_API_KEY",
    "IONWORKS_API_TOKEN",
    "IONWORKS_PROJECT_ID",
    "PROJECT_ID",
)
TIMEOUT = 300
#: Blocks that take long enough to belong in ``nox -s slow`` (keyed by "file:line"); none yet.
SLOW: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def python_blocks(path: Path) -> Iterator[Block]:
    """The ```python blocks of a markdown file (also those indented in list items)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = index + 1
        while end < len(lines):
            closing = FENCE.match(lines[end])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            end += 1
        if opening["info"].split(maxsplit=1)[:1] == ["python"]:
            previous = lines[index - 1].strip() if index else ""
            body = [
                line[indent:] if not line[:indent].strip() else line.lstrip()
                for line in lines[index + 1 : end]
            ]
            yield Block(path, index + 1, "\n".join(body) + "\n", bool(FRAGMENT.match(previous)))
        index = end + 1


BLOCKS = [block for path in DOCS for block in python_blocks(path)]
RUNNABLE = [
    pytest.param(block, id=block.id, marks=[pytest.mark.slow] if block.id in SLOW else [])
    for block in BLOCKS
    if not block.fragment
]


def block_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLOUD_VARS}
    env["IONWORKS_DATA_DIR"] = str(data_dir)
    env["PYBAMM_DISABLE_TELEMETRY"] = "true"
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="session")
def docs_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local-server data directory for every block, whose key has a second project (the
    examples use the default project however many there are); stopped at the end."""
    data_dir = tmp_path_factory.mktemp("docs-data")
    if importlib.util.find_spec("pybamm") is not None:
        from ionworks import Ionworks
        from ionworks.server import daemon

        url, key = daemon.ensure_running(data_dir)
        with Ionworks(api_url=url, api_key=key) as client:
            client.project.create({"name": "a second project"})
            assert len(client.project.list()) == 2
    yield data_dir
    # Stop the background server the blocks may have started for this data directory (the
    # status is ignored: there may be nothing to stop).
    subprocess.run(
        [sys.executable, "-m", "ionworks", "stop"],
        env=block_env(data_dir),
        cwd=data_dir,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_blocks_are_found() -> None:
    """The collector sees the README's examples and the product doc's blocks."""
    ids = [block.id for block in BLOCKS]
    assert any(i.startswith("README.md:") for i in ids) and RUNNABLE, ids
    assert any(i.startswith("docs/python-api.md:") for i in ids), ids


def test_every_fragment_marker_is_followed_by_a_python_block() -> None:
    stray = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if FRAGMENT.match(line.strip()):
                following = FENCE.match(lines[number]) if number < len(lines) else None
                if following is None or not following["info"].startswith("python"):
                    stray.append(f"{path.relative_to(ROOT).as_posix()}:{number}")
    assert not stray, f"fragment markers not right before a ```python fence: {stray}"


@pytest.mark.pybamm
@pytest.mark.parametrize("block", RUNNABLE)
def test_block_runs_as_written(block: Block, docs_data_dir: Path, tmp_path: Path) -> None:
    # Padded with blank lines so that tracebacks give the line numbers of the markdown file.
    script = tmp_path / f"{block.path.stem}_L{block.line}.py"
    script.write_text("\n" * block.line + block.code, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            env=block_env(docs_data_dir),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{block.id} ran longer than {TIMEOUT} s") from exc
    status, tail = done.returncode, "\n".join(done.stderr.splitlines()[-40:])
    assert status == 0, (
        f"{block.id} exited with status {status} (fix it, or mark it "
        f"<!-- fragment --> if it is deliberately partial):\n{tail}"
    )
