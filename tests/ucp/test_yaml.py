"""The bounded, safe YAML loader."""

from __future__ import annotations

import time

import pytest

from ionworks import ucp
from ionworks.ucp._yaml import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    Mark,
    YAMLFailure,
    load_object,
    load_text,
)


def _laughs(levels: int, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\nsteps: [{Rest: {duration: 1}}]\n"


def test_billion_laughs_is_refused_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(YAMLFailure, match="more than 100000 nodes"):
        load_text(_laughs(9))
    assert time.perf_counter() - start < 2
    assert ucp.validate(_laughs(9))["valid"] is False


def test_small_alias_expansion_is_fine() -> None:
    assert load_text(_laughs(3)).data["a2"][0][0] == ["lol"] * 10


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(YAMLFailure, match="recursive aliases"):
        load_text("a: &x [1, *x]")


def test_document_size_is_bounded() -> None:
    text = "steps: [{Rest: {duration: 1}}]\n#" + "x" * MAX_DOCUMENT_BYTES
    with pytest.raises(YAMLFailure, match="larger than"):
        load_text(text)


def test_nesting_is_bounded_without_recursion_errors() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(YAMLFailure, match=f"deeper than {MAX_DEPTH}"):
        load_text(deep)
    block = "".join(" " * i + "- \n" for i in range(200))
    assert ucp.validate(block)["valid"] is False


def test_duplicate_keys_are_reported_with_position() -> None:
    loaded = load_text("a: 1\nb:\n  c: 1\n  c: 2\n")
    (issue,) = loaded.issues
    assert (issue.code, issue.path, issue.line, issue.column) == ("duplicate key", "b.c", 4, 3)
    assert loaded.data == {"a": 1, "b": {"c": 1}}


def test_merge_keys_do_not_count_as_duplicates() -> None:
    loaded = load_text("base: &b {x: 1, y: 2}\nthing: {<<: *b, y: 3}\n")
    assert loaded.data["thing"] == {"y": 3, "x": 1}
    assert loaded.issues == []


def test_only_standard_tags() -> None:
    for text in ("!!python/object/apply:os.system ['ls']", "a: !!binary aGVsbG8=", "a: !custom 1"):
        with pytest.raises(YAMLFailure, match="is not allowed"):
            load_text(text)
    assert load_text("a: !!str 1\nb: !!float 2\nc: 2001-12-14").data == {
        "a": "1",
        "b": 2.0,
        "c": "2001-12-14",
    }


def test_scalars() -> None:
    data = load_text("[1, 0x10, 1_000, 2.5, 1e3, .inf, true, yes, ~, '3']").data
    assert data == [1, 16, 1000, 2.5, 1000.0, float("inf"), True, "yes", None, "3"]


def test_positions_are_one_based() -> None:
    loaded = load_text("steps:\n  - Charge:\n      mode: x\n")
    assert loaded.mark(("steps", 0, "Charge", "mode")) == Mark(3, 13)
    assert loaded.mark(("steps", 0, "Charge", "mode"), key=True) == Mark(3, 7)
    assert loaded.mark(("steps", 0, "Charge", "missing")) == Mark(3, 7)


def test_syntax_error_position() -> None:
    with pytest.raises(ucp.UCPError) as raised:
        ucp.parse("steps:\n  - Rest: {duration: 1\n")
    (issue,) = raised.value.issues
    assert issue.code == "yaml"
    assert issue.line == 3
    assert str(raised.value).startswith("protocol (line 3, column 1): protocol is not valid YAML")


def test_spec_flow_examples_with_brackets_are_repaired() -> None:
    text = 'global: {initial_soc: input["Initial SOC"]}\nsteps: [{direction: Discharge, mode: C-rate, value: 1, ends: [{variable: Voltage [V], value: 2.5}]}]'
    assert load_text(text).data["global"] == {"initial_soc": 'input["Initial SOC"]'}
    with pytest.raises(YAMLFailure):
        load_text("a: {b: [}")


def test_loaded_objects_are_bounded_and_copied() -> None:
    data: dict[str, object] = {"steps": []}
    data["self"] = data
    with pytest.raises(YAMLFailure, match="recursive"):
        load_object(data)
    with pytest.raises(YAMLFailure, match="keys must be strings"):
        load_object({1: 2})
    with pytest.raises(YAMLFailure, match="unsupported type"):
        load_object({"a": {1, 2}})
    nested: object = 1
    for _ in range(100):
        nested = [nested]
    with pytest.raises(YAMLFailure, match="levels"):
        load_object({"a": nested})
    source = {"a": (1, 2)}
    assert load_object(source).data == {"a": [1, 2]}
