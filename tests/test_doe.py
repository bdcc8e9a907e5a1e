"""Tests for ionworks.doe: validation, counting and server-side expansion."""

from __future__ import annotations

import math
import statistics
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionworks.doe import (
    MAX_SIMULATIONS,
    DOEError,
    count_simulations,
    derive_seed,
    design_parameters_to_doe,
    expand_doe,
    validate_doe,
)


def discrete(name: str, *values: Any) -> dict[str, Any]:
    return {"type": "discrete", "name": name, "values": list(values)}


def rng_row(name: str, lo: Any, hi: Any, count: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"type": "range", "name": name, "min": lo, "max": hi}
    if count is not None:
        row["count"] = count
    return row


def normal(name: str, mean: Any, std: Any, count: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"type": "normal", "name": name, "mean": mean, "std": std}
    if count is not None:
        row["count"] = count
    return row


def grid(*rows: Any) -> dict[str, Any]:
    return {"sampling": "grid", "rows": list(rows)}


# --------------------------------------------------------------------------- counting


def test_count_grid_product() -> None:
    doe = grid(discrete("a", 1, 2, 3), rng_row("b", 0, 1, 4), normal("c", 1, 0.1, 5))
    assert count_simulations(doe) == 60


def test_count_single_rows() -> None:
    assert count_simulations(grid(discrete("a", 1.5))) == 1
    assert count_simulations(grid(rng_row("a", 0, 1, 7))) == 7
    assert count_simulations(grid(normal("a", 0, 1, 3))) == 3


@pytest.mark.parametrize("sampling", ["random", "latin_hypercube"])
def test_count_random_like(sampling: str) -> None:
    rows = [discrete("a", 1, 2), rng_row("b", 0, 1), normal("c", 0, 1)]
    assert count_simulations({"sampling": sampling, "rows": rows, "count": 25}) == 25
    # unset count -> 1, like the official client
    assert count_simulations({"sampling": sampling, "rows": rows}) == 1
    # row counts are optional and ignored
    rows2 = [rng_row("b", 0, 1, 50)]
    assert count_simulations({"sampling": sampling, "rows": rows2, "count": 3}) == 3


def test_count_does_not_import_numpy_or_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # importing would raise
    monkeypatch.setitem(sys.modules, "scipy", None)
    assert count_simulations(grid(rng_row("b", 0, 1, 4), normal("c", 0, 1, 2))) == 8


def test_none_values_are_absent() -> None:
    row = {**discrete("a", 1, 2), "min": None, "count": None}
    assert count_simulations({"sampling": "grid", "rows": [row], "count": None}) == 2


def test_numpy_values_accepted() -> None:
    np = pytest.importorskip("numpy")
    doe = grid({"type": "discrete", "name": "a", "values": np.array([1.0, 2.0])})
    assert count_simulations(doe) == 2


# --------------------------------------------------------------------------- validation


def check(doe: Any, *fragments: str) -> None:
    with pytest.raises(DOEError) as info:
        validate_doe(doe)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_doe_error_is_value_error() -> None:
    assert issubclass(DOEError, ValueError)


def test_not_a_mapping() -> None:
    check([1, 2], "must be a mapping", "list")


def test_unknown_sampling_lists_accepted() -> None:
    check({"sampling": "sobol", "rows": [discrete("a", 1)]}, "'sobol'", "grid", "latin_hypercube")
    check({"rows": [discrete("a", 1)]}, "unknown sampling None", "random")


def test_unknown_top_level_key() -> None:
    check({**grid(discrete("a", 1)), "extra": 1}, "['extra']", "sampling", "rows", "count", "seed")


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        (None, "missing required key 'rows'"),
        ([], "'rows' must not be empty"),
        ("abc", "'rows' must be a list"),
        ({"a": 1}, "'rows' must be a list"),
    ],
)
def test_rows_shape(rows: Any, fragment: str) -> None:
    doe: dict[str, Any] = {"sampling": "grid"}
    if rows is not None:
        doe["rows"] = rows
    check(doe, fragment)


def test_row_not_mapping() -> None:
    check(grid(discrete("a", 1), [1, 2]), "rows[1]", "must be a mapping")


def test_unknown_row_type() -> None:
    check(
        grid({"type": "uniform", "name": "x"}),
        "rows[0]",
        "'x'",
        "'uniform'",
        "discrete, range, normal",
    )


def test_missing_type_and_name() -> None:
    check(grid({"name": "x", "values": [1]}), "rows[0]", "'x'", "'type'")
    check(grid(discrete("a", 1), {"type": "discrete", "values": [1]}), "rows[1]", "'name'")
    check(grid({"type": "discrete", "name": "", "values": [1]}), "rows[0]", "'name'", "non-empty")
    check(grid({"type": "discrete", "name": 3, "values": [1]}), "'name'", "string")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"type": "discrete", "name": "x"}, "'values'"),
        ({"type": "range", "name": "x", "max": 1, "count": 2}, "'min'"),
        ({"type": "range", "name": "x", "min": 0, "count": 2}, "'max'"),
        ({"type": "range", "name": "x", "min": 0, "max": 1}, "'count'"),
        ({"type": "normal", "name": "x", "std": 1, "count": 2}, "'mean'"),
        ({"type": "normal", "name": "x", "mean": 1, "count": 2}, "'std'"),
        ({"type": "normal", "name": "x", "mean": 1, "std": 1}, "'count'"),
    ],
)
def test_missing_fields(row: dict[str, Any], field: str) -> None:
    check(grid(row), "rows[0] (name 'x')", "missing required field", field)


def test_unknown_row_keys() -> None:
    check(grid({**discrete("x", 1), "count": 3}), "rows[0]", "'x'", "['count']", "allowed")
    check(grid({**rng_row("x", 0, 1, 2), "std": 3}), "['std']", "min, max, count")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (discrete("x", 1, "2"), "'values[1]'"),
        (discrete("x", True), "'values[0]'"),
        (rng_row("x", "0", 1, 2), "'min'"),
        (rng_row("x", 0, [1], 2), "'max'"),
        (normal("x", False, 1, 2), "'mean'"),
        (normal("x", 0, "1", 2), "'std'"),
    ],
)
def test_non_numeric(row: dict[str, Any], field: str) -> None:
    check(grid(row), "rows[0] (name 'x')", field, "must be a number")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite(bad: float) -> None:
    check(grid(discrete("x", 1, bad)), "'x'", "'values[1]'", "finite")
    check(grid(rng_row("x", 0, bad, 2)), "'max'", "finite")
    check(grid(normal("x", bad, 1, 2)), "'mean'", "finite")


def test_values_not_a_list() -> None:
    check(grid({"type": "discrete", "name": "x", "values": 1.0}), "'x'", "'values'", "list")
    check(grid({"type": "discrete", "name": "x", "values": "12"}), "'values'", "list")
    check(grid(discrete("x")), "rows[0]", "'x'", "'values' must not be empty")


@pytest.mark.parametrize("bad", [0, -1, 2.0, 1.5, True, "3"])
def test_bad_row_count(bad: Any) -> None:
    check(grid(rng_row("x", 0, 1, bad)), "rows[0] (name 'x')", "'count'", "positive integer")
    check(
        {"sampling": "random", "rows": [normal("x", 0, 1, bad)]},
        "'count'",
        "positive integer",
    )


@pytest.mark.parametrize("sampling", ["random", "latin_hypercube"])
@pytest.mark.parametrize("bad", [0, -5, 3.0, False])
def test_bad_top_level_count(sampling: str, bad: Any) -> None:
    check({"sampling": sampling, "rows": [discrete("a", 1)], "count": bad}, "'count'", "positive")


def test_min_greater_than_max() -> None:
    check(grid(rng_row("x", 2, 1, 3)), "rows[0] (name 'x')", "'min'", "'max'", "greater")
    assert count_simulations(grid(rng_row("x", 1, 1, 3))) == 3  # equal is fine


def test_negative_std() -> None:
    check(grid(normal("x", 0, -0.1, 3)), "rows[0] (name 'x')", "'std'", "negative")
    assert count_simulations(grid(normal("x", 0, 0, 3))) == 3


def test_duplicate_names() -> None:
    check(
        grid(discrete("a", 1), discrete("b", 1), rng_row("a", 0, 1, 2)), "rows[2]", "'a'", "rows[0]"
    )


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True])
def test_bad_seed(bad: Any) -> None:
    check({**grid(discrete("a", 1)), "seed": bad}, "'seed'", "non-negative integer")


def test_cap_enforced_for_grid() -> None:
    rows = [rng_row("a", 0, 1, 100), rng_row("b", 0, 1, 100)]
    assert count_simulations(grid(*rows)) == MAX_SIMULATIONS  # exactly the cap is allowed
    with pytest.raises(DOEError) as info:
        count_simulations(grid(*rows, discrete("c", 1, 2)))
    message = str(info.value)
    assert "20000" in message and str(MAX_SIMULATIONS) in message and "Split" in message


def test_cap_enforced_for_random_and_huge_grid() -> None:
    with pytest.raises(DOEError, match="10001 simulations"):
        count_simulations({"sampling": "random", "rows": [discrete("a", 1)], "count": 10_001})
    huge = grid(*(rng_row(f"p{i}", 0, 1, 10**9) for i in range(50)))
    with pytest.raises(DOEError, match="exceeds the maximum"):
        validate_doe(huge)


# --------------------------------------------------------------------------- expansion


def test_grid_expansion_order_and_values() -> None:
    doe = grid(discrete("a", 1, 2), rng_row("b", 0.0, 1.0, 3))
    rows = expand_doe(doe)
    assert rows == [
        {"a": 1.0, "b": 0.0},
        {"a": 1.0, "b": 0.5},
        {"a": 1.0, "b": 1.0},
        {"a": 2.0, "b": 0.0},
        {"a": 2.0, "b": 0.5},
        {"a": 2.0, "b": 1.0},
    ]
    assert all(type(v) is float for row in rows for v in row.values())


def test_grid_range_count_one_is_min() -> None:
    assert expand_doe(grid(rng_row("b", 0.25, 1.0, 1))) == [{"b": 0.25}]


def test_grid_normal_sorted_and_seeded() -> None:
    doe = grid(normal("c", 5.0, 1.0, 6))
    values = [r["c"] for r in expand_doe(doe, seed=3)]
    assert values == sorted(values) and len(set(values)) == 6
    assert expand_doe(doe, seed=3) == expand_doe(doe, seed=3)
    assert expand_doe(doe, seed=3) != expand_doe(doe, seed=4)


@pytest.mark.parametrize("sampling", ["random", "latin_hypercube"])
def test_reproducible(sampling: str) -> None:
    doe = {
        "sampling": sampling,
        "rows": [discrete("a", 1, 2, 3), rng_row("b", -1, 1), normal("c", 0, 2)],
        "count": 20,
    }
    first = expand_doe(doe, seed=11)
    assert len(first) == 20
    assert first == expand_doe(doe, seed=11)
    assert first != expand_doe(doe, seed=12)
    # seed precedence: argument > doe["seed"] > derived
    assert expand_doe({**doe, "seed": 11}) == first
    assert expand_doe({**doe, "seed": 99}, seed=11) == first
    assert expand_doe(doe) == expand_doe(doe, seed=derive_seed(doe))
    assert all(type(v) is float for row in first for v in row.values())


@pytest.mark.parametrize("sampling", ["random", "latin_hypercube"])
def test_bounds_respected(sampling: str) -> None:
    doe = {
        "sampling": sampling,
        "rows": [discrete("a", 1, 5, 9), rng_row("b", 2.0, 3.0)],
        "count": 200,
    }
    rows = expand_doe(doe, seed=1)
    assert {r["a"] for r in rows} <= {1.0, 5.0, 9.0}
    assert {r["a"] for r in rows} == {1.0, 5.0, 9.0}  # 200 draws hit every value
    assert all(2.0 <= r["b"] <= 3.0 for r in rows)


def test_latin_hypercube_stratified() -> None:
    n = 40
    lo, hi = 10.0, 30.0
    doe = {
        "sampling": "latin_hypercube",
        "rows": [rng_row("x", lo, hi), rng_row("y", -1.0, 1.0), normal("z", 0.0, 1.0)],
        "count": n,
    }
    rows = expand_doe(doe, seed=5)
    for name, (a, b) in {"x": (lo, hi), "y": (-1.0, 1.0)}.items():
        bins = sorted(int((r[name] - a) / (b - a) * n) for r in rows)
        assert bins == list(range(n)), name
    from scipy.stats import norm

    z_bins = sorted(int(norm.cdf(r["z"]) * n) for r in rows)
    assert z_bins == list(range(n))


def test_latin_hypercube_discrete_balanced() -> None:
    doe = {"sampling": "latin_hypercube", "rows": [discrete("a", 1, 2, 3, 4)], "count": 8}
    values = sorted(r["a"] for r in expand_doe(doe, seed=0))
    assert values == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]


@pytest.mark.parametrize("sampling", ["random", "latin_hypercube"])
def test_normal_mean_roughly_right(sampling: str) -> None:
    doe = {"sampling": sampling, "rows": [normal("z", 3.0, 0.5)], "count": 5000}
    values = [r["z"] for r in expand_doe(doe, seed=2)]
    assert statistics.fmean(values) == pytest.approx(3.0, abs=0.05)
    assert statistics.stdev(values) == pytest.approx(0.5, rel=0.05)
    assert all(math.isfinite(v) for v in values)


def test_zero_std_is_constant() -> None:
    for sampling in ("random", "latin_hypercube"):
        doe = {"sampling": sampling, "rows": [normal("z", 2.0, 0.0)], "count": 5}
        assert expand_doe(doe, seed=0) == [{"z": 2.0}] * 5


def test_random_default_count_is_one() -> None:
    assert len(expand_doe({"sampling": "random", "rows": [rng_row("b", 0, 1)]})) == 1


def test_expand_validates_and_checks_seed() -> None:
    with pytest.raises(DOEError, match="exceeds"):
        expand_doe({"sampling": "random", "rows": [discrete("a", 1)], "count": 10**6})
    with pytest.raises(DOEError, match="seed"):
        expand_doe(grid(discrete("a", 1)), seed=-3)


def test_derive_seed_stable() -> None:
    a = {"sampling": "grid", "rows": [discrete("a", 1, 2)]}
    b = {"rows": [discrete("a", 1, 2)], "sampling": "grid"}
    assert derive_seed(a) == derive_seed(b)
    assert 0 <= derive_seed(a) < 2**32
    assert derive_seed(a) != derive_seed({**a, "count": 2})
    assert isinstance(derive_seed("x"), int)


# --------------------------------------------------------------------------- design_parameters


def test_design_parameters_to_doe() -> None:
    doe = design_parameters_to_doe({"Ambient temperature [K]": 300, "b": 1.5})
    assert doe == {
        "sampling": "grid",
        "rows": [
            {"type": "discrete", "name": "Ambient temperature [K]", "values": [300.0]},
            {"type": "discrete", "name": "b", "values": [1.5]},
        ],
    }
    assert doe is not None
    assert type(doe["rows"][0]["values"][0]) is float
    assert count_simulations(doe) == 1
    assert design_parameters_to_doe({}) is None


@pytest.mark.parametrize("bad", ["300", None, True, [1.0], math.nan])
def test_design_parameters_non_numeric(bad: Any) -> None:
    with pytest.raises(DOEError, match="'Temp'"):
        design_parameters_to_doe({"a": 1.0, "Temp": bad})


# --------------------------------------------------------------------------- property


row_strategy = st.one_of(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=4).map(
        lambda vs: {"type": "discrete", "values": vs}
    ),
    st.tuples(st.floats(-1e3, 1e3), st.floats(0, 1e3), st.integers(1, 4)).map(
        lambda t: {"type": "range", "min": t[0], "max": t[0] + t[1], "count": t[2]}
    ),
    st.tuples(st.floats(-1e3, 1e3), st.floats(0, 10), st.integers(1, 4)).map(
        lambda t: {"type": "normal", "mean": t[0], "std": t[1], "count": t[2]}
    ),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row_strategy, min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_count_matches_expansion(rows: list[dict[str, Any]], seed: int) -> None:
    doe = grid(*({**row, "name": f"p{i}"} for i, row in enumerate(rows)))
    expanded = expand_doe(doe, seed=seed)
    assert count_simulations(doe) == len(expanded)
    assert all(set(r) == {f"p{i}" for i in range(len(rows))} for r in expanded)
