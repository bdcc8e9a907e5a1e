"""MkDocs hooks (mkdocs.yml ``hooks:``): pages built from the sources, not copied into docs/.

Three directives, each alone on a line of a page in docs/:

* ``<!-- include: PATH -->`` or ``<!-- include: PATH#Heading text -->`` is replaced by the
  file PATH (relative to the repository root), or by the section of it under that heading (up
  to the next heading of the same or a higher level). Used for README.md and
  benchmarks/README.md, which stay where they are and are written once.
* ``<!-- cli-reference -->`` is replaced by the ``--help`` of ``ionworks`` and of each of its
  commands, generated from the argparse parser (``ionworks.cli.build_parser``).
* ``<!-- resource-groups: module.Client -->`` is replaced by a mkdocstrings entry for each
  resource group the client class declares (``simulation: AsyncSimulations`` …), so a new
  group is documented without editing the page.

A directive that names a missing file or heading fails the build.

The product doc (docs/python-api.md) is kept verbatim in the cloud documentation's dialect;
:func:`product_doc` renders it for MkDocs: code fences lose their ``theme={null}``, callouts
(``<Note>``, ``<Tip>``, …) become admonitions, ``<Card>`` links a list, and absolute links
point at the cloud's documentation site.

Docstrings use Sphinx roles (``:class:`X```, ``:meth:`~a.b.c```); :func:`on_page_content` drops
the role names and the ``~a.b.`` prefixes from the rendered HTML, leaving the code spans, and
the ``::`` that introduces a literal block becomes ``:``.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!--\s*include:\s*(?P<path>[^#\s]+)(?:#(?P<heading>[^>]+?))?\s*-->$")
CLI = re.compile(r"^<!--\s*cli-reference\s*-->$")
GROUPS = re.compile(r"^<!--\s*resource-groups:\s*(?P<module>[\w.]+)\.(?P<cls>\w+)\s*-->$")
HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*$")
#: The product doc's absolute links are paths on this site.
PRODUCT_DOC, PRODUCT_SITE = "python-api.md", "https://docs.ionworks.com"
ABSOLUTE_LINK = re.compile(r"\]\(/(?!/)")
CALLOUTS = {"Note": "note", "Tip": "tip", "Warning": "warning", "Info": "info"}
CALLOUT = re.compile(r"^<(?P<close>/?)(?P<tag>Note|Tip|Warning|Info)>$")
CARD = re.compile(r'^<Card title="(?P<title>[^"]*)"[^>]*\bhref="(?P<href>[^"]*)"[^>]*>$')
FENCE_THEME = re.compile(r"^(?P<fence>\s*`{3,}\w*)\s+theme=\{null\}\s*$")
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|data|attr|exc|obj):(?=<code>)")
TILDE = re.compile(r"<code>~\.?(?:\w+\.)*(?P<name>\w+)</code>")
#: Width of the generated help text (argparse reads COLUMNS).
HELP_WIDTH = "100"


class DirectiveError(ValueError):
    """A directive names a file or heading that does not exist."""


DOCS_LINK = re.compile(r"\]\(docs/")


def section(text: str, heading: str | None, where: str) -> str:
    """``text``, or its section under ``heading`` (the heading line itself left out)."""
    if heading is None:
        return text
    lines = text.splitlines()
    fenced = False
    start = level = None
    for number, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        if start is None and match["text"] == heading.strip():
            start, level = number + 1, len(match["level"])
        elif start is not None and level is not None and len(match["level"]) <= level:
            return "\n".join(lines[start:number]).strip("\n") + "\n"
    if start is None:
        raise DirectiveError(f"{where}: no heading {heading!r}")
    return "\n".join(lines[start:]).strip("\n") + "\n"


def include(path: str, heading: str | None, where: str) -> str:
    file = (ROOT / path).resolve()
    if not file.is_relative_to(ROOT) or not file.is_file():
        raise DirectiveError(f"{where}: no file {path!r} in the repository")
    text = section(file.read_text(encoding="utf-8"), heading, f"{where}: {path}")
    # links into docs/ from a file outside it (the README's images) are relative to the page
    up = "../" * where.count("/")
    return DOCS_LINK.sub(lambda m: f"]({up}", text) if file.parent == ROOT else text


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def cli_reference() -> str:
    """Markdown: ``ionworks --help`` and each command's ``--help``, as the parser prints them."""
    from ionworks.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = build_parser()
        parts = ["## ionworks", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, command in _commands(parser):
            parts += [f"## ionworks {name}", "", "```text", command.format_help().rstrip()]
            parts += ["```", ""]
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def resource_groups(module_name: str, class_name: str) -> str:
    """Markdown: ``::: module.Class`` of each resource group the client class declares
    (``name: Class`` in its body, the class imported with ``from … import``), aliases listed
    together. Read from the source (nothing is imported, as mkdocstrings does)."""
    source = ROOT.joinpath(*module_name.split(".")).with_suffix(".py")
    if not source.is_file():
        raise DirectiveError(f"no module {module_name!r} in the repository")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: f"{node.module}.{alias.name}"
        for node in ast.walk(tree)  # also the imports under ``if TYPE_CHECKING:``
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    body = next(
        (n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None
    )
    if body is None:
        raise DirectiveError(f"no class {class_name!r} in {module_name}")
    groups: dict[str, list[str]] = {}
    for node in body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.annotation, ast.Name)
            and node.annotation.id in imported
        ):
            groups.setdefault(imported[node.annotation.id], []).append(node.target.id)
    parts = []
    for target, attributes in groups.items():
        names = ", ".join(f"`client.{a}`" for a in attributes)
        parts += [names, "", f"::: {target}", "    options:", "      heading_level: 3", ""]
    return "\n".join(parts)


def expand(markdown: str, where: str) -> str:
    """``markdown`` with its directives replaced."""
    out = []
    for line in markdown.splitlines():
        stripped = line.strip()
        match = INCLUDE.match(stripped)
        if match:
            out.append(include(match["path"], match["heading"], where))
        elif CLI.match(stripped):
            out.append(cli_reference())
        elif groups := GROUPS.match(stripped):
            out.append(resource_groups(groups["module"], groups["cls"]))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def product_doc(markdown: str) -> str:
    """The product doc's dialect (see the module docstring) as MkDocs Markdown."""
    out: list[str] = []
    indent = ""
    for line in markdown.splitlines():
        stripped = line.strip()
        callout, card, fence = (
            CALLOUT.match(stripped),
            CARD.match(stripped),
            FENCE_THEME.match(line),
        )
        if callout:
            closing = bool(callout["close"])
            out.append("" if closing else f"!!! {CALLOUTS[callout['tag']]}")
            indent = "" if closing else "    "
        elif card:
            href = card["href"]
            href = PRODUCT_SITE + href if href.startswith("/") else href
            out.append(f"- [{card['title']}]({href}):")
        elif stripped in ("</Card>", "</CardGroup>") or stripped.startswith("<CardGroup"):
            continue
        elif fence:
            out.append(indent + fence["fence"].strip())
        else:
            out.append(indent + line.removeprefix("  ") if indent and stripped else line)
    text = "\n".join(out) + "\n"
    return ABSOLUTE_LINK.sub(f"]({PRODUCT_SITE}/", text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: expand the directives of each page."""
    if page.file.src_uri == PRODUCT_DOC:
        markdown = product_doc(markdown)
    return expand(markdown, page.file.src_uri)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: Sphinx roles of docstrings rendered as plain code spans."""
    return TILDE.sub(r"<code>\g<name></code>", ROLE.sub("", html)).replace("::</p>", ":</p>")
