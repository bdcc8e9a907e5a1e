"""The sync-facade generator: up to date, faithful signatures (inherited methods included),
refuses hand edits, fails on rules that match nothing, runs the pinned ruff."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

import ionworks.resources
import ionworks_sync
from ionworks import AsyncIonworks, Ionworks

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import gen_sync  # noqa: E402

ASYNC = re.compile(r"\bAsync([A-Z]\w*)")


def test_generated_tree_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, "tools/gen_sync.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def async_classes() -> list[tuple[type, type]]:
    pairs: list[tuple[type, type]] = [(AsyncIonworks, Ionworks)]
    for info in pkgutil.iter_modules(ionworks.resources.__path__):
        if info.name.startswith("_"):
            continue
        src = importlib.import_module(f"ionworks.resources.{info.name}")
        dst = importlib.import_module(f"ionworks_sync.resources.{info.name}")
        for name, obj in vars(src).items():
            if name.startswith("Async") and inspect.isclass(obj) and obj.__module__ == src.__name__:
                pairs.append((obj, getattr(dst, name[len("Async") :])))
    return pairs


PAIRS = async_classes()


def public_members(cls: type) -> dict[str, Any]:
    """Public attributes of ``cls`` as resolved (inherited ones included), unbound."""
    names = {n for klass in cls.__mro__ for n in vars(klass) if not n.startswith("_")}
    return {n: inspect.getattr_static(cls, n) for n in sorted(names)}


def type_arguments(cls: type) -> dict[str, str]:
    """Type-variable names of ``cls``'s generic bases → what ``cls`` binds them to."""
    out: dict[str, str] = {}
    for klass in cls.__mro__:  # subclasses first: their bindings resolve the bases'
        for base in getattr(klass, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            params = getattr(origin, "__parameters__", ())
            for param, arg in zip(params, typing.get_args(base), strict=False):
                value = getattr(arg, "__name__", str(arg))
                out[param.__name__] = out.get(value, value)
    return out


def expected_sync(annotation: object, bound: dict[str, str]) -> str:
    text = ASYNC.sub(r"\1", str(annotation)).replace("AsyncIterator", "Iterator")
    for name, value in bound.items():
        text = re.sub(rf"\b{re.escape(name)}\b", value, text)
    return text.replace("builtins.", "")


@pytest.mark.parametrize(("acls", "scls"), PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_same_public_methods_signatures_and_docs(acls: type, scls: type) -> None:
    amembers, smembers = public_members(acls), public_members(scls)
    public = set(amembers) - {"aclose"}
    assert public <= set(smembers), f"missing in sync: {public - set(smembers)}"
    bound = type_arguments(acls)
    for name in public:
        amember, smember = amembers[name], smembers[name]
        assert (amember.__doc__ is None) == (smember.__doc__ is None), name
        if amember.__doc__ is not None:
            assert smember.__doc__ == gen_sync.sync_doc(amember.__doc__), name
        if isinstance(amember, property):
            assert isinstance(smember, property)
            continue
        asig, ssig = inspect.signature(amember), inspect.signature(smember)
        assert list(asig.parameters) == list(ssig.parameters), name
        for pa, ps in zip(asig.parameters.values(), ssig.parameters.values(), strict=True):
            assert pa.default == ps.default, f"{scls.__name__}.{name}({pa.name}) default"
            assert pa.kind == ps.kind
            assert expected_sync(pa.annotation, bound) == str(ps.annotation).replace(
                "builtins.", ""
            )
        assert expected_sync(asig.return_annotation, bound) == str(ssig.return_annotation).replace(
            "builtins.", ""
        ), name
        assert not inspect.iscoroutinefunction(smember), name


def test_pipeline_resources_share_one_base() -> None:
    from ionworks.resources._pipeline_base import AsyncPipelineBase
    from ionworks.resources.pipeline import AsyncPipelines
    from ionworks.resources.simple_pipeline import AsyncSimplePipelines

    assert issubclass(AsyncPipelines, AsyncPipelineBase)
    assert issubclass(AsyncSimplePipelines, AsyncPipelineBase)
    assert type_arguments(AsyncPipelines) == {"R": "Pipeline"}
    assert type_arguments(AsyncSimplePipelines) == {"R": "SimplePipeline"}


def test_client_constructor_matches() -> None:
    a = inspect.signature(AsyncIonworks.__init__)
    s = inspect.signature(Ionworks.__init__)
    assert [(p.name, p.default) for p in a.parameters.values()] == [
        (p.name, p.default) for p in s.parameters.values()
    ]
    assert hasattr(Ionworks, "close") and hasattr(Ionworks, "__enter__")


def test_every_generated_file_has_the_header() -> None:
    for path in Path(ionworks_sync.__file__).parent.rglob("*.py"):
        if path.name == "_portal.py":
            continue
        text = path.read_text()
        assert text.startswith("# Generated by tools/gen_sync.py"), path
        assert not gen_sync.hand_edited(text), path


def test_hand_edit_detection() -> None:
    text = gen_sync.with_header("x = 1\n", "ionworks/x.py")
    assert not gen_sync.hand_edited(text)
    assert gen_sync.hand_edited(text.replace("x = 1", "x = 2"))
    assert gen_sync.hand_edited("x = 1\n")


def test_refuses_to_overwrite_hand_edited_file(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    target = tmp_path / "ionworks_sync" / "resources" / "job.py"
    target.write_text(target.read_text().replace("Read and cancel jobs.", "edited by hand"))
    source = tmp_path / "ionworks" / "resources" / "job.py"
    source.write_text(source.read_text().replace("Read and cancel jobs.", "Jobs."))
    proc = subprocess.run(
        [sys.executable, "tools/gen_sync.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "Refusing to overwrite" in (proc.stdout + proc.stderr)
    check = subprocess.run(
        [sys.executable, "tools/gen_sync.py", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "out of date" in check.stdout


# --------------------------------------------------------------------------- inherited methods


def copy_tree(dst: Path) -> Path:
    for name in ("ionworks", "ionworks_sync", "tools"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def run_gen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/gen_sync.py", *args], cwd=root, capture_output=True, text=True
    )


PROBE = textwrap.dedent(
    """
    import inspect, json
    import ionworks_sync
    from ionworks import Ionworks
    from ionworks_sync.resources.pipeline import Pipelines
    from ionworks_sync.resources.simple_pipeline import SimplePipelines

    client = Ionworks(api_key="k", api_url="http://127.0.0.1:9", project_id="p")
    try:
        print(json.dumps({
            "file": ionworks_sync.__file__,
            "latest": [str(inspect.signature(c.latest)) for c in (Pipelines, SimplePipelines)],
            "latest_doc": Pipelines.latest.__doc__,
            "walk_doc": SimplePipelines.walk.__doc__,
            "latest_call": client.pipeline.latest(0),
            "walk_call": list(client.simple_pipeline.walk(["a", "b"])),
            "prefix": [client.pipeline.prefix, client.simple_pipeline.prefix],
            "describe": [client.job.describe(), client.simple_pipeline.describe()],
        }))
    finally:
        client.close()
    """
)


def test_inherited_public_methods_reach_every_sync_subclass(tmp_path: Path) -> None:
    """Public methods of a generic base in another module (and of its own base, a third
    module) appear on each sync subclass, with the subclass's type arguments."""
    root = copy_tree(tmp_path)
    base = root / "ionworks" / "resources" / "_pipeline_base.py"
    edit(
        base,
        "from collections.abc import Mapping, Sequence",
        "from collections.abc import AsyncIterator, Mapping, Sequence",
    )
    edit(
        base,
        "    def _structure(self, data: Any) -> R:",
        '''    async def latest(self, count: int = 1, *, where: Mapping[str, R] | None = None) -> list[R]:
        """The newest ``count`` records: ``await client.pipeline.latest()``."""
        return []

    async def walk(self, ids: Sequence[str]) -> AsyncIterator[str]:
        """Each id in turn (an async generator: a generator in the facade)."""
        for record_id in ids:
            yield record_id

    @property
    def prefix(self) -> str:
        """The URL prefix."""
        return self._path

    def _structure(self, data: Any) -> R:''',
    )
    edit(
        root / "ionworks" / "resources" / "_base.py",
        "    async def _list(",
        '''    def describe(self) -> str:
        """The resource's class name."""
        return type(self).__name__

    async def _list(''',
    )
    first = run_gen(root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert run_gen(root, "--check").returncode == 0  # the output is stable
    for name in ("pipeline", "simple_pipeline"):
        text = (root / "ionworks_sync" / "resources" / f"{name}.py").read_text()
        assert "# inherited from AsyncPipelineBase (ionworks/resources/_pipeline_base.py)" in text
        assert "# inherited from AsyncResource (ionworks/resources/_base.py)" in text
        assert "import builtins" in text and "-> builtins.list[" in text  # `list` is a method
    assert not (root / "ionworks_sync" / "resources" / "_pipeline_base.py").exists()
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout)
    assert Path(out["file"]).is_relative_to(root)
    assert out["latest"] == [
        f"(self, count: 'int' = 1, *, where: 'Mapping[str, {r}] | None' = None) "
        f"-> 'builtins.list[{r}]'"
        for r in ("Pipeline", "SimplePipeline")
    ]
    assert out["latest_doc"] == "The newest ``count`` records: ``client.pipeline.latest()``."
    assert out["walk_doc"] == "Each id in turn (an async generator: a generator in the facade)."
    assert out["latest_call"] == [] and out["walk_call"] == ["a", "b"]
    assert out["prefix"] == ["/pipelines", "/simple_pipelines"]
    assert out["describe"] == ["AsyncJobs", "AsyncSimplePipelines"]


# --------------------------------------------------------------------------- rules must match


@pytest.mark.parametrize(
    ("constant", "value", "message"),
    [
        ("SPECIAL", {**gen_sync.SPECIAL, "__aiter__": "__iter__"}, "SPECIAL['__aiter__']"),
        (
            "DOC_RULES",
            (*gen_sync.DOC_RULES, ("async for", r"\basync for\b", "for")),
            "DOC_RULES['async for']",
        ),
        (
            "EXTERNAL_ASYNC",
            {**gen_sync.EXTERNAL_ASYNC, "AsyncGenerator": "Generator"},
            "EXTERNAL_ASYNC['AsyncGenerator']",
        ),
        ("EXTERNAL_BASES", (*gen_sync.EXTERNAL_BASES, "Protocol"), "EXTERNAL_BASES['Protocol']"),
        (
            "BASES_ONLY",
            (*gen_sync.BASES_ONLY, "resources/_gone.py"),
            "BASES_ONLY['resources/_gone.py']",
        ),
        ("SOURCES", (*gen_sync.SOURCES, "nothing/*.py"), "SOURCES['nothing/*.py']"),
        ("HAND_WRITTEN", (*gen_sync.HAND_WRITTEN, "_gone.py"), "HAND_WRITTEN['_gone.py']"),
        (
            "BASES_ONLY",
            (*gen_sync.BASES_ONLY, "resources/job.py"),
            "uses AsyncJobs, but no sync class Jobs is generated",
        ),
    ],
    ids=[
        "special",
        "doc-rule",
        "external-async",
        "external-base",
        "bases-only",
        "source",
        "hand-written",
        "rename-without-class",
    ],
)
def test_a_rule_that_matches_nothing_is_an_error(
    monkeypatch: pytest.MonkeyPatch, constant: str, value: object, message: str
) -> None:
    assert gen_sync.build()  # the rules as they are all match
    monkeypatch.setattr(gen_sync, constant, value)
    with pytest.raises(SystemExit) as info:
        gen_sync.build()
    assert message in str(info.value)


def test_an_async_idiom_left_in_a_sync_docstring_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = tuple(rule for rule in gen_sync.DOC_RULES if rule[0] != "await")
    monkeypatch.setattr(gen_sync, "DOC_RULES", rules)
    with pytest.raises(
        SystemExit, match=r"ionworks\._client\.AsyncIonworks would still say 'await'"
    ):
        gen_sync.build()


def test_unmatched_rule_fails_the_command(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit(
        root / "ionworks" / "_client.py",
        "defaults. Use it as an async context manager, or call :meth:`aclose`::",
        "defaults. Use it as an async context manager::",
    )
    for args in ((), ("--check",)):
        proc = run_gen(root, *args)
        assert proc.returncode != 0
        assert "matched nothing" in proc.stderr and "DOC_RULES[':meth:`aclose`']" in proc.stderr


def test_unknown_external_base_is_an_error(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit(
        root / "ionworks" / "resources" / "job.py",
        "class AsyncJobs(AsyncResource):",
        "class AsyncJobs(AsyncResource, Exception):",
    )
    proc = run_gen(root, "--check")
    assert proc.returncode != 0 and "inherits from Exception" in proc.stderr


def test_a_client_resource_without_a_lazy_entry_is_an_error(tmp_path: Path) -> None:
    """The clients build their resources on first use from ``RESOURCES``: an annotated
    resource without an entry would be an AttributeError at run time, so the generator stops."""
    root = copy_tree(tmp_path)
    edit(root / "ionworks" / "_client.py", '    "urls": ("urls", "Urls"),\n', "")
    proc = run_gen(root, "--check")
    assert proc.returncode != 0 and "RESOURCES/RESOURCE_ALIASES differ: ['urls']" in proc.stderr


# --------------------------------------------------------------------------- the ruff pin


def test_ruff_is_pinned_once_for_every_session() -> None:
    pin = gen_sync.ruff_pin()
    noxfile = (ROOT / "noxfile.py").read_text()
    constants = {
        target.id: node.value.value
        for node in ast.parse(noxfile).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert constants["RUFF"] == f"ruff=={pin}"
    specs = re.findall(r"[\"']ruff\s*[<>=~!][^\"']*[\"']", noxfile)
    assert specs == [f'"ruff=={pin}"']  # RUFF is the only ruff requirement
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [d for d in dev["optional-dependencies"]["dev"] if d.startswith("ruff")] == [
        f"ruff=={pin}"
    ]
    gen_sync.check_ruff()  # and it is the ruff this interpreter runs


def test_generator_refuses_another_ruff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen_sync, "ruff_pin", lambda: "0.0.1")
    with pytest.raises(SystemExit, match=r"ruff 0\.0\.1 is pinned .* pip install ruff==0\.0\.1"):
        gen_sync.build()
