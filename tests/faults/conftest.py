"""Fixtures of the fault and hostile-input tests: a fresh local server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pybamm")

from ionworks.server.embedded import EmbeddedServer

KEY_A = "faults-key-a"
KEY_B = "faults-key-b"


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of its own (two keys, no anonymous access) so row counts are exact."""
    data_dir: Path = tmp_path_factory.mktemp("faults-data")
    srv = EmbeddedServer(data_dir, api_keys=[KEY_A, KEY_B], allow_anonymous=False, workers=2)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fault_url(fault_server: EmbeddedServer) -> str:
    assert fault_server.url is not None
    return fault_server.url
