"""One shared local daemon per test module, in a temporary data directory, stopped at the
module's end; started up front so that no command's stderr has the "started" line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("pybamm")
    from ionworks.server import daemon

    path = tmp_path_factory.mktemp("cli-data")
    try:
        daemon.ensure_running(path)
        yield path
    finally:
        daemon.stop(path, timeout=10)
