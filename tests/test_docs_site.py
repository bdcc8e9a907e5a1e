"""The documentation site (mkdocs.yml, docs/, tools/docs_hooks.py).

``nox -s docs`` (``mkdocs build --strict``) is the real check. These tests guard the parts that
need no MkDocs — the hook's directives, the CLI reference and the product-doc rendering, the
nav, the limits table of docs/security.md — and build the whole site strictly when the ``docs``
extra is installed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import attrs
import pytest
from ruamel.yaml import YAML

from ionworks.cli import build_parser
from ionworks.server.limits import Limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import docs_hooks  # noqa: E402

HAS_MKDOCS = all(
    importlib.util.find_spec(name) is not None
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
)


def nav_pages() -> list[str]:
    config = YAML(typ="safe").load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            pages.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return pages


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    docs = ROOT / "docs"
    files = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")}
    nav = nav_pages()
    assert sorted(files - set(nav)) == [], "pages missing from the nav of mkdocs.yml"
    assert sorted(set(nav) - files) == [], "nav entries without a page"


def test_include_takes_the_section_under_a_heading() -> None:
    text = "# A\nintro\n## B\nb text\n```bash\n# not a heading\n```\n### B1\nsub\n## C\nc text\n"
    assert (
        docs_hooks.section(text, "B", "t") == "b text\n```bash\n# not a heading\n```\n### B1\nsub\n"
    )
    assert docs_hooks.section(text, "C", "t") == "c text\n"
    with pytest.raises(docs_hooks.DirectiveError, match="no heading 'D'"):
        docs_hooks.section(text, "D", "t")


def test_every_include_directive_resolves() -> None:
    found = 0
    for page in (ROOT / "docs").rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        for line in text.splitlines():
            match = docs_hooks.INCLUDE.match(line.strip())
            if match:
                found += 1
                assert docs_hooks.include(match["path"], match["heading"], page.name).strip()
    assert found >= 4


def test_include_refuses_paths_outside_the_repository() -> None:
    with pytest.raises(docs_hooks.DirectiveError, match="no file"):
        docs_hooks.expand("<!-- include: ../etc/passwd -->", "page.md")
    with pytest.raises(docs_hooks.DirectiveError, match="no file"):
        docs_hooks.expand("<!-- include: README.missing -->", "page.md")


def test_cli_reference_is_the_parsers_help_of_every_command() -> None:
    page = docs_hooks.expand("# CLI\n\n<!-- cli-reference -->\n", "cli.md")
    sub = next(a for a in build_parser()._actions if a.choices and a.dest == "command")
    assert isinstance(sub.choices, dict)
    for name, parser in sub.choices.items():
        assert f"## ionworks {name}\n" in page
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in page, (name, flag)
    # the serve limits come from Limits, through the parser
    for field in attrs.fields(Limits):
        assert "--" + field.name.replace("_", "-") in page


@pytest.mark.parametrize(
    ("client", "group"),
    [
        (
            "ionworks._client.AsyncIonworks",
            "ionworks.resources.cell_measurement.AsyncCellMeasurements",
        ),
        (
            "ionworks_sync._client.Ionworks",
            "ionworks_sync.resources.cell_measurement.CellMeasurements",
        ),
    ],
)
def test_resource_groups_lists_each_group_of_the_client_once(client: str, group: str) -> None:
    from ionworks import AsyncIonworks

    page = docs_hooks.expand(f"<!-- resource-groups: {client} -->", "page.md")
    entries = re.findall(r"^::: (\S+)$", page, re.M)
    assert len(entries) == len(set(entries)) >= 12
    assert f"`client.cell_measurement`, `client.measurement`\n\n::: {group}\n" in page
    async_groups = {
        name
        for name, kind in AsyncIonworks.__annotations__.items()
        if str(kind).startswith("Async")
    }
    assert len(async_groups) - 1 == len(entries)  # measurement is cell_measurement
    with pytest.raises(docs_hooks.DirectiveError, match="no class"):
        docs_hooks.expand("<!-- resource-groups: ionworks._client.Missing -->", "page.md")


def test_product_doc_renders_as_mkdocs_markdown() -> None:
    source = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    assert "theme={null}" in source and "<Note>" in source  # kept verbatim in the repo
    page = docs_hooks.product_doc(source)
    assert "theme={null}" not in page
    assert not re.search(r"^\s*</?(Note|Tip|Warning|Info|Card|CardGroup)\b", page, re.M)
    assert "](/" not in page
    assert page.count("```python\n") == source.count("```python theme={null}\n")
    assert "!!! note" in page and "!!! tip" in page


def test_security_doc_lists_every_limit() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(--max-[a-z-]+|--[a-z-]+-seconds)` \|", text, re.M))
    flags = {"--" + field.name.replace("_", "-") for field in attrs.fields(Limits)}
    assert listed == flags


@pytest.mark.skipif(not HAS_MKDOCS, reason="needs the docs extra (pip install -e '.[docs]')")
def test_site_builds_strictly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"), strict=True)
    build(config)
    assert (tmp_path / "site" / "reference" / "cli.html").is_file()
    assert "ionworks serve" in (tmp_path / "site" / "reference" / "cli.html").read_text()
    # offline: no script, stylesheet or font from another host
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    for page in (tmp_path / "site").rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not remote.search(html), page
