"""Every spec the code cites lives in ``docs/spec/`` and every citation resolves.

Heading convention of ``docs/spec/*.md`` (outside fenced code blocks):

* a numbered section is a Markdown heading whose text starts with its number, with or
  without a trailing dot: ``## 4. Simulations``, ``### 4.4 get_result(...)``;
* a label (the worked examples of ucp.md) is a heading whose text starts with it:
  ``### E13 rejected: unknown mode``; it belongs to the numbered sections above it.

A citation is ``<name>.md`` (in backticks or not, with or without a path) followed by a
list of sections and/or a label, possibly on the next line: ``wire.md §4.4``,
``wire.md §5, §8–§12``, ``ucp.md §1-§10``, ``ucp.md §13 E13``, ``ucp.md E2``. Each cited
file must exist (``docs/spec/<name>.md`` unless a path is given), each cited section must
be a heading there (every section of a numeric range too) and each label must be a heading
inside the cited section. A bare mention of a spec (``vendors.md``) must name a file in
``docs/spec/``; a section sign without a spec name is refused outside ``docs/spec/`` (inside,
it refers to the same file); nothing may point into the read-only folder the specs were
first written in, which is outside the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "docs" / "spec"
SCAN_DIRS = ("ionworks", "ionworks_sync", "tests", "tools", "benchmarks", "docs")
SCAN_FILES = ("noxfile.py", "README.md", "CHANGELOG.md", "pyproject.toml")
SUFFIXES = frozenset({".py", ".pyi", ".md", ".rst", ".txt", ".toml", ".yaml", ".yml", ".cfg"})
SKIP_DIRS = frozenset({"__pycache__", ".nox", ".venv", ".git", ".mypy_cache", ".ruff_cache"})
# Specs whose bare mention (no section) is checked; any file in docs/spec/ counts as well.
KNOWN_SPECS = frozenset({"wire", "ucp", "vendors", "pybamm-performance"})

SECTION_SIGN = "\u00a7"  # spelled out: the patterns below must not match themselves
_S = SECTION_SIGN
_NUM = r"\d+(?:\.\d+)*"
_GAP = r"[ \t]*(?:\n[ \t]*(?:#[ \t]*)?)?"  # blanks, at most one line break (+ comment mark)
_SECTIONS = rf"{_S}{_NUM}(?:\s*(?:,|–|-|\band\b|\bto\b)\s*{_S}{_NUM})*"
CITATION = re.compile(
    rf"(?<![\w./-])(?P<path>(?:[\w.-]+/)*)(?P<name>[A-Za-z][\w-]*)\.md\b`*"
    rf"(?:{_GAP}(?P<sections>{_SECTIONS}))?"
    rf"(?:{_GAP}(?P<label>\b[A-Z]\d+\b))?"
)
SAME_FILE_SECTIONS = re.compile(_SECTIONS)
_SECTION_ITEM = re.compile(rf"(?P<join>–|-|\bto\b)?\s*{_S}(?P<num>{_NUM})")
# The folder outside the repository the specs were first written in (../<it>/spec/...).
OUTSIDE_DIR = "shared"
OUTSIDE = re.compile(rf"(?<![\w.-])(?:\.\./)*{OUTSIDE_DIR}/(?:spec|seed|hooks)\b")

HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.*?)[ \t]*$")
HEADING_NUMBER = re.compile(rf"(?P<num>{_NUM})\.?(?:\s|$)")
HEADING_LABEL = re.compile(r"(?P<label>[A-Z]\d+)\b")
FENCE = re.compile(r"^[ \t]*(```|~~~)")


@dataclass
class Spec:
    """The numbered sections and labels of one spec file."""

    sections: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)  # label -> enclosing sections
    duplicates: list[str] = field(default_factory=list)


def parse_spec(text: str) -> Spec:
    """Sections and labels of a spec, following the heading convention above."""
    spec = Spec()
    stack: list[tuple[int, str | None]] = []
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = HEADING.match(line)
        if in_fence or heading is None:
            continue
        level, title = len(heading["hashes"]), heading["title"]
        while stack and stack[-1][0] >= level:
            stack.pop()
        number = HEADING_NUMBER.match(title)
        label = HEADING_LABEL.match(title)
        if number is not None:
            if number["num"] in spec.sections:
                spec.duplicates.append(number["num"])
            spec.sections.add(number["num"])
            stack.append((level, number["num"]))
        elif label is not None:
            spec.labels[label["label"]] = {num for _, num in stack if num is not None}
            stack.append((level, None))
        else:
            stack.append((level, None))
    return spec


def cited_sections(sections: str) -> list[str]:
    """The section numbers of a list such as ``wire.md §5, §8–§12`` (numeric ranges expanded)."""
    numbers: list[str] = []
    for item in _SECTION_ITEM.finditer(sections):
        number = item["num"]
        if item["join"] and numbers and "." not in number and "." not in numbers[-1]:
            low, high = int(numbers[-1]), int(number)
            numbers.extend(str(n) for n in range(low + 1, high))
        numbers.append(number)
    return numbers


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


class Checker:
    """Collects the unresolved references of the files it is given."""

    def __init__(self, root: Path = ROOT, spec_dir: Path = SPEC_DIR) -> None:
        self.root = root
        self.spec_dir = spec_dir
        self.specs: dict[Path, Spec] = {}
        self.errors: list[str] = []
        self.citations = 0

    def spec(self, path: Path) -> Spec:
        if path not in self.specs:
            self.specs[path] = parse_spec(path.read_text(encoding="utf-8"))
        return self.specs[path]

    def _where(self, source: Path, text: str, position: int) -> str:
        try:
            shown = source.relative_to(self.root)
        except ValueError:
            shown = source
        return f"{shown}:{_line(text, position)}"

    def _target(self, source: Path, path: str, name: str) -> Path | str:
        """The cited file, or why it cannot be."""
        if path:
            for base in (self.root, source.parent):
                candidate = (base / path / f"{name}.md").resolve()
                if candidate.is_relative_to(self.root) and candidate.is_file():
                    return candidate
            return f"{path}{name}.md is not a file of the repository (cite docs/spec/{name}.md)"
        target = self.spec_dir / f"{name}.md"
        return target if target.is_file() else f"docs/spec/{name}.md does not exist"

    def check_sections(
        self, where: str, target: Path, cited: str, sections: list[str], label: str | None
    ) -> None:
        spec = self.spec(target)
        for number in sections:
            if number not in spec.sections:
                self.errors.append(f"{where}: {cited}: no section {_S}{number} in {target.name}")
        if label is not None:
            enclosing = spec.labels.get(label)
            if enclosing is None:
                self.errors.append(f"{where}: {cited}: no label {label} in {target.name}")
            elif sections and not enclosing & set(sections):
                self.errors.append(f"{where}: {cited}: {label} is not inside the cited section")

    def check_text(self, source: Path, text: str) -> None:
        is_spec = source.resolve().parent == self.spec_dir.resolve()
        known = KNOWN_SPECS | {p.stem for p in self.spec_dir.glob("*.md")}
        masked = list(text)
        for match in CITATION.finditer(text):
            path, name = match["path"], match["name"]
            sections, label = match["sections"], match["label"]
            if not (path or sections or label or name in known):
                continue  # a bare mention of some other Markdown file (README.md, ...)
            where = self._where(source, text, match.start())
            cited = " ".join(match[0].split())
            self.citations += 1
            masked[match.start() : match.end()] = " " * (match.end() - match.start())
            target = self._target(source, path, name)
            if isinstance(target, str):
                self.errors.append(f"{where}: {cited}: {target}")
            elif sections or label:
                numbers = cited_sections(sections) if sections else []
                self.check_sections(where, target, cited, numbers, label)
        rest = "".join(masked)
        for match in SAME_FILE_SECTIONS.finditer(rest):
            where = self._where(source, text, match.start())
            if not is_spec:
                self.errors.append(f"{where}: {match[0]}: section without a spec name")
                continue
            self.citations += 1
            self.check_sections(where, source, match[0], cited_sections(match[0]), None)
        for position, char in enumerate(SAME_FILE_SECTIONS.sub(lambda m: " " * len(m[0]), rest)):
            if char == _S:
                where = self._where(source, text, position)
                self.errors.append(f"{where}: a section sign that names no section")
        for match in OUTSIDE.finditer(text):
            where = self._where(source, text, match.start())
            self.errors.append(f"{where}: {match[0]}: outside the repository (use docs/spec/)")


def scanned_files(root: Path = ROOT) -> list[Path]:
    files = [root / name for name in SCAN_FILES if (root / name).is_file()]
    for directory in SCAN_DIRS:
        for path in sorted((root / directory).rglob("*")):
            parts = set(path.relative_to(root).parts)
            if path.is_file() and path.suffix in SUFFIXES and not parts & SKIP_DIRS:
                files.append(path)
    return files


def check_repository() -> Checker:
    checker = Checker()
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        checker.check_text(path, text)
    return checker


def test_spec_files_follow_the_heading_convention() -> None:
    specs = sorted(SPEC_DIR.glob("*.md"))
    assert {p.stem for p in specs} >= KNOWN_SPECS
    for path in specs:
        spec = parse_spec(path.read_text(encoding="utf-8"))
        assert spec.sections, f"{path.name}: no numbered section headings"
        assert not spec.duplicates, f"{path.name}: sections numbered twice: {spec.duplicates}"
        for number in spec.sections:
            parent = number.rpartition(".")[0]
            assert not parent or parent in spec.sections, f"{path.name}: {number} has no {parent}"


def test_every_spec_citation_resolves() -> None:
    checker = check_repository()
    assert not checker.errors, "unresolved spec references:\n" + "\n".join(checker.errors)
    assert checker.citations >= 40  # the scan does find the code's citations


MD = ".md"  # kept apart so that the broken citations below are not in this file's text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"wire{MD} {_S}4.9", f"no section {_S}4.9 in wire.md"),
        (f"(wire{MD} {_S}5, {_S}8–{_S}15)", f"no section {_S}15 in wire.md"),
        (f"ucp{MD} {_S}12 E13", "E13 is not inside the cited section"),
        (f"ucp{MD} E99", "no label E99 in ucp.md"),
        (f"``nothere{MD}`` {_S}1", "does not exist"),
        (f"see nothere/wire{MD}", "is not a file of the repository"),
        (f"# the derived columns ({_S}4.4)", "section without a spec name"),
        (f"# see ../{OUTSIDE_DIR}/spec/wire{MD} {_S}4.4", "outside the repository"),
    ],
)
def test_broken_references_are_reported(text: str, expected: str, tmp_path: Path) -> None:
    checker = Checker()
    checker.check_text(tmp_path / "module.py", text)
    assert any(expected in error for error in checker.errors), checker.errors


@pytest.mark.parametrize(
    "text",
    [
        f"wire{MD}\n{_S}10.4",
        f'"""Routes (``wire{MD}``\n    {_S}6, {_S}7)."""',
        f"# ucp{MD} {_S}13 E13: unknown mode",
        f"ucp{MD} {_S}1-{_S}10 and vendors{MD}; pybamm-performance{MD} {_S}4",
        f"see `docs/vendors{MD}` and docs/spec/wire{MD} {_S}0",
    ],
)
def test_valid_references_pass(text: str, tmp_path: Path) -> None:
    checker = Checker()
    checker.check_text(tmp_path / "module.py", text)
    assert not checker.errors
    assert checker.citations >= 1
