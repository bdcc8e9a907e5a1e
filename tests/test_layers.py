"""The layers of docs/architecture.md, as the running interpreter sees them: what ``import
ionworks`` loads, that ``ionworks_sync`` imports on its own, and what a worker process loads.
(The static contracts are import-linter's, in ``nox -s lint``.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "polars", "numpy", "pybamm", "pandas", "aiohttp", "aiohttp.web")
CLIENT = ("ionworks._client", "ionworks.resources", "ionworks._transport", "ionworks_sync")


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_import_ionworks_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import ionworks")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m.startswith(CLIENT)}


def test_finding_the_local_daemon_loads_no_server_code() -> None:
    """Client processes import the daemon's discovery module; it must stay that light."""
    loaded = _loaded_after("import ionworks.server.daemon")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m.startswith("ionworks.server.") and "daemon" not in m}


def test_public_names_load_on_first_use() -> None:
    loaded = _loaded_after(
        "import ionworks\n"
        "assert ionworks.AsyncIonworks.__name__ == 'AsyncIonworks'\n"
        "assert ionworks.Ionworks.__name__ == 'Ionworks'\n"
        "assert 'WaitTimeout' in dir(ionworks)"
    )
    assert {"ionworks._client", "ionworks_sync"} <= loaded
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        import ionworks

        _ = ionworks.Nope  # type: ignore[attr-defined]


def test_ionworks_sync_imports_on_its_own() -> None:
    loaded = _loaded_after("import ionworks_sync\nassert ionworks_sync.Ionworks")
    assert "ionworks_sync" in loaded


def test_ucp_loads_no_http_or_client_code() -> None:
    loaded = _loaded_after("import ionworks.ucp")
    assert not {m for m in loaded if m.startswith(("aiohttp", *CLIENT, "ionworks.server"))}


async def test_a_worker_process_loads_no_client_or_http_code() -> None:
    pytest.importorskip("pybamm")
    from ionworks.server.execution.executor import ProcessExecutor
    from tests.faults import worker_tricks

    job_modules = [
        "ionworks.server.execution.worker",
        "ionworks.server.fitting.job",
    ]  # what workers run

    executor = ProcessExecutor(1, initializer="ionworks.server.engine.simulate:warm_up")
    try:
        loaded = set(await executor.run("probe", worker_tricks.loaded_modules, job_modules))
    finally:
        await executor.aclose()
    assert {"ionworks.server.engine.simulate", *job_modules} <= loaded
    assert not {m for m in loaded if m.startswith(("aiohttp", *CLIENT))}, sorted(loaded)


#: What a client may not load before its first request or its first result (issue 21).
CLIENT_HEAVY = (*HEAVY, "yarl", "multidict", "scipy", "ruamel", "tqdm", "matplotlib")


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in CLIENT_HEAVY)


@pytest.mark.parametrize(
    "code",
    [
        "import ionworks_sync\nimport ionworks\nassert ionworks.Ionworks",
        "import ionworks\nassert ionworks.AsyncIonworks",
        "from ionworks import Ionworks\nIonworks(api_key='k', api_url='http://127.0.0.1:9').close()",
    ],
    ids=["Ionworks", "AsyncIonworks", "Ionworks()"],
)
def test_the_clients_load_no_heavy_library_and_no_resource(code: str) -> None:
    loaded = _loaded_after(code)
    assert not _heavy(loaded), _heavy(loaded)
    resources = {m for m in loaded if m.startswith(("ionworks.resources.", "ionworks_sync.res"))}
    # the request interface and the resources' base only; ionworks_sync.resources is a package
    assert resources <= {
        "ionworks.resources._base",
        "ionworks.resources._requests",
        "ionworks_sync.resources",
    }, sorted(resources)
    assert not {m for m in loaded if m.startswith(("ionworks.ucp", "ionworks.server"))}


@pytest.mark.parametrize("kind", ["Ionworks", "AsyncIonworks"])
def test_a_resource_loads_its_own_module_on_first_use(kind: str) -> None:
    code = (
        "import ionworks\n"
        f"c = ionworks.{kind}(api_key='k', api_url='http://127.0.0.1:9')\n"
        "assert c.job is c.job and 'simulation' in dir(c)\n"
        "assert c.simulation.get_results\n"
    )
    loaded = _loaded_after(code)
    assert {"ionworks.resources.job", "ionworks.resources.simulation"} <= loaded
    assert "ionworks.resources.cell_measurement" not in loaded
    # submitting and waiting need no dataframe library: the first decoded result loads them
    assert not _heavy(loaded), _heavy(loaded)
