"""What importing ionworks loads (module sets, not timings: the times are ``python -m
benchmarks imports``): ``import ionworks`` loads three modules of the package; the clients'
resource attributes are their annotated classes, built on first use (what the client classes
load is in tests/test_layers.py); and every library the client imports is a declared
dependency of a client-only install."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ionworks._client import RESOURCE_ALIASES, RESOURCES

ROOT = Path(__file__).resolve().parent.parent
#: What a client may not load before it sends its first request or decodes its first result.
HEAVY = (
    "aiohttp", "yarl", "multidict", "polars", "pyarrow", "numpy", "pandas", "pybamm", "scipy",
    "ruamel", "tqdm", "matplotlib",
)  # fmt: skip


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter loaded while running ``code`` (not those of start-up)."""
    probe = (
        f"import sys\nbefore = set(sys.modules)\n{code}\nprint(*sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(out.split())


def heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in HEAVY)


def test_import_ionworks_loads_three_modules_of_the_package() -> None:
    loaded = loaded_after("import ionworks")
    assert {m for m in loaded if m.startswith("ionworks")} == {
        "ionworks",
        "ionworks._local",
        "ionworks._version",
    }
    assert not heavy(loaded)


@pytest.mark.parametrize("kind", ["Ionworks", "AsyncIonworks"])
def test_every_resource_attribute_is_its_annotated_class(kind: str) -> None:
    import ionworks

    cls = getattr(ionworks, kind)
    annotated = {k: v for k, v in cls.__annotations__.items() if not k.startswith("_")}
    assert set(annotated) == {*RESOURCES, *RESOURCE_ALIASES}
    client = cls(api_key="k", api_url="http://127.0.0.1:9")
    try:
        for name, annotation in annotated.items():
            assert type(getattr(client, name)).__name__ == annotation, name
        assert client.measurement is client.cell_measurement
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            _ = client.nope
    finally:
        if kind == "Ionworks":
            client.close()


def _client_modules() -> list[Path]:
    skip = ("server", "cli")
    return [
        p
        for p in sorted((ROOT / "ionworks").rglob("*.py"))
        if p.relative_to(ROOT / "ionworks").parts[0] not in skip
    ] + sorted((ROOT / "ionworks_sync").rglob("*.py"))


def _imported_libraries(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out - set(sys.stdlib_module_names) - {"ionworks", "ionworks_sync"}


def test_what_the_client_imports_is_declared_for_a_client_only_install() -> None:
    """``pip install ionworks`` (no extras) must be able to fetch and decode results: every
    library the client, the shared floor and UCP import (at the top or on first use) is a
    core dependency, apart from the documented optional ones, which are imported lazily with
    a message naming their extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    declared = {n.split(".")[0].replace("-", "_") for n in names}
    optional = {"pandas", "pybamm", "pybamm_model_zoo", "matplotlib", "scipy"}
    with_aiohttp = {"yarl", "multidict"}  # aiohttp's own dependencies
    used: dict[str, list[str]] = {}
    for path in _client_modules():
        for lib in _imported_libraries(path):
            used.setdefault(lib, []).append(path.relative_to(ROOT).as_posix())
    undeclared = {
        lib: files for lib, files in used.items() if lib not in declared | optional | with_aiohttp
    }
    assert not undeclared, undeclared
    assert "numpy" in declared  # derived result columns (wire/derived.py) need it
