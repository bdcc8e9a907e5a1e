"""Design of experiments (``design_parameters_doe``): validation, counting and expansion.

A DOE describes a batch of simulations (wire.md §4.1, §4.2)::

    {"sampling": "grid" | "random" | "latin_hypercube",
     "rows": [
        {"type": "discrete", "name": "x", "values": [1.0, 2.0]},
        {"type": "range", "name": "y", "min": 0.0, "max": 1.0, "count": 5},
        {"type": "normal", "name": "z", "mean": 1.0, "std": 0.1, "count": 3},
     ],
     "count": 20,   # random / latin_hypercube only: number of simulations (default 1)
     "seed": 7}     # optional; makes the expansion reproducible

The client only validates and counts a DOE (:func:`validate_doe`, :func:`count_simulations`,
no numpy/scipy needed) and sends it unexpanded; the server expands it with
:func:`expand_doe`.

Counting follows the official client: ``grid`` is the product over rows of ``len(values)``
(discrete) or ``count`` (range/normal); ``random`` and ``latin_hypercube`` create the
top-level ``count`` simulations, or 1 when it is unset. Row ``count`` is required for
range/normal rows of a grid and optional (ignored) for the other samplings.

:data:`MAX_SIMULATIONS` caps how many simulations one request may create. A grid grows
multiplicatively, so a few innocent-looking rows can ask for millions of simulations; such
a request is rejected up front with a message suggesting to split the design into several
smaller requests.

Keys whose value is ``None`` are treated as absent (the official client drops them).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "MAX_SIMULATIONS",
    "SAMPLINGS",
    "DOEError",
    "count_simulations",
    "derive_seed",
    "design_parameters_to_doe",
    "expand_doe",
    "validate_doe",
]

MAX_SIMULATIONS = 10_000
"""The most simulations a single DOE request may create."""

SAMPLINGS = ("grid", "random", "latin_hypercube")
_ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "discrete": ("values",),
    "range": ("min", "max", "count"),
    "normal": ("mean", "std", "count"),
}
_TOP_KEYS = ("sampling", "rows", "count", "seed")
_WHERE = "design_parameters_doe"


class DOEError(ValueError):
    """An invalid ``design_parameters_doe`` (or ``design_parameters``)."""


@attrs.frozen
class _Row:
    kind: str
    name: str
    values: tuple[float, ...] = ()
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    count: int | None = None


@attrs.frozen
class _Design:
    sampling: str
    rows: tuple[_Row, ...]
    count: int
    seed: int | None


# --------------------------------------------------------------------------- checks


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value: Any, where: str, field: str) -> float:
    if not _is_number(value):
        raise DOEError(f"{where}: {field!r} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise DOEError(f"{where}: {field!r} must be finite, got {value!r}")
    return result


def _positive_int(value: Any, where: str, field: str) -> int:
    if not _is_int(value) or int(value) <= 0:
        raise DOEError(f"{where}: {field!r} must be a positive integer, got {value!r}")
    return int(value)


def _present(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _parse_row(index: int, raw: Any, sampling: str) -> _Row:
    where = f"{_WHERE}.rows[{index}]"
    if not isinstance(raw, Mapping):
        raise DOEError(f"{where}: each row must be a mapping, got {type(raw).__name__}")
    row = _present(raw)
    name = row.get("name")
    if name is None:
        raise DOEError(f"{where}: missing required field 'name'")
    if not isinstance(name, str) or not name:
        raise DOEError(f"{where}: 'name' must be a non-empty string, got {name!r}")
    where = f"{where} (name {name!r})"
    kind = row.get("type")
    if kind is None:
        raise DOEError(f"{where}: missing required field 'type' (one of {', '.join(_ROW_FIELDS)})")
    if kind not in _ROW_FIELDS:
        raise DOEError(
            f"{where}: unknown row type {kind!r}; accepted types: {', '.join(_ROW_FIELDS)}"
        )
    fields = _ROW_FIELDS[kind]
    unknown = sorted(str(k) for k in row if k not in ("type", "name", *fields))
    if unknown:
        allowed = ", ".join(("type", "name", *fields))
        raise DOEError(f"{where}: unknown field(s) {unknown} for a {kind} row; allowed: {allowed}")
    count_optional = kind != "discrete" and sampling != "grid"
    for field in fields:
        if field not in row and not (field == "count" and count_optional):
            raise DOEError(f"{where}: missing required field {field!r} for a {kind} row")
    count = _positive_int(row["count"], where, "count") if "count" in row else None
    if kind == "discrete":
        values = row["values"]
        if hasattr(values, "tolist") and not isinstance(values, str | bytes):
            values = values.tolist()  # numpy arrays
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise DOEError(f"{where}: 'values' must be a list of numbers, got {values!r}")
        if not values:
            raise DOEError(f"{where}: 'values' must not be empty")
        parsed = tuple(_number(v, where, f"values[{i}]") for i, v in enumerate(values))
        return _Row(kind, name, values=parsed)
    if kind == "range":
        low = _number(row["min"], where, "min")
        high = _number(row["max"], where, "max")
        if low > high:
            raise DOEError(f"{where}: 'min' ({low!r}) must not be greater than 'max' ({high!r})")
        return _Row(kind, name, low=low, high=high, count=count)
    mean = _number(row["mean"], where, "mean")
    std = _number(row["std"], where, "std")
    if std < 0:
        raise DOEError(f"{where}: 'std' must not be negative, got {std!r}")
    return _Row(kind, name, mean=mean, std=std, count=count)


def _parse(doe: Any) -> _Design:
    if not isinstance(doe, Mapping):
        raise DOEError(f"{_WHERE} must be a mapping, got {type(doe).__name__}")
    spec = _present(doe)
    unknown = sorted(str(k) for k in spec if k not in _TOP_KEYS)
    if unknown:
        raise DOEError(f"{_WHERE}: unknown key(s) {unknown}; allowed: {', '.join(_TOP_KEYS)}")
    sampling = spec.get("sampling")
    if sampling not in SAMPLINGS:
        raise DOEError(f"{_WHERE}: unknown sampling {sampling!r}; accepted: {', '.join(SAMPLINGS)}")
    raw_rows = spec.get("rows")
    if raw_rows is None:
        raise DOEError(f"{_WHERE}: missing required key 'rows'")
    if not isinstance(raw_rows, list | tuple):
        raise DOEError(f"{_WHERE}: 'rows' must be a list, got {type(raw_rows).__name__}")
    if not raw_rows:
        raise DOEError(f"{_WHERE}: 'rows' must not be empty")
    rows = tuple(_parse_row(i, raw, sampling) for i, raw in enumerate(raw_rows))
    first_index: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.name in first_index:
            raise DOEError(
                f"{_WHERE}.rows[{i}]: duplicate row name {row.name!r} "
                f"(already used by rows[{first_index[row.name]}])"
            )
        first_index[row.name] = i
    count = _positive_int(spec["count"], _WHERE, "count") if "count" in spec else None
    seed = spec.get("seed")
    if seed is not None and (not _is_int(seed) or int(seed) < 0):
        raise DOEError(f"{_WHERE}: 'seed' must be a non-negative integer, got {seed!r}")
    if sampling == "grid":
        total = 1
        for row in rows:
            total *= len(row.values) if row.kind == "discrete" else (row.count or 1)
    else:
        total = count if count is not None else 1
    if total > MAX_SIMULATIONS:
        raise DOEError(
            f"{_WHERE} would create {total} simulations, which exceeds the maximum of "
            f"{MAX_SIMULATIONS} simulations per request. Split the design into several "
            "smaller requests (for example one request per value of a row, or fewer "
            "values/samples per row)."
        )
    return _Design(sampling, rows, total, None if seed is None else int(seed))


# --------------------------------------------------------------------------- public API


def validate_doe(doe: Mapping[str, Any]) -> None:
    """Check a DOE; raise :class:`DOEError` naming the offending row, name and field."""
    _parse(doe)


def count_simulations(doe: Mapping[str, Any]) -> int:
    """Validate ``doe`` and return how many simulations it creates (nothing is expanded)."""
    return _parse(doe).count


def derive_seed(obj: Any) -> int:
    """A stable seed in ``[0, 2**32)`` for a JSON-serialisable object (key order ignored)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if _is_int(value):
        return int(value)
    if _is_number(value):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def expand_doe(doe: Mapping[str, Any], *, seed: int | None = None) -> list[dict[str, float]]:
    """Expand a DOE into one ``{row name: value}`` dict per simulation (server side).

    The result is reproducible: the random generator is seeded with ``seed`` if given,
    else ``doe["seed"]``, else :func:`derive_seed` of the DOE itself.

    * ``grid`` — every combination (``itertools.product`` in row order, the first row
      varies slowest). Discrete rows use ``values``; range rows ``numpy.linspace(min, max,
      count)``; normal rows ``count`` draws from ``normal(mean, std)``, **sorted**
      ascending (drawn in row order from one generator).
    * ``random`` — ``count`` independent draws: discrete rows pick uniformly from
      ``values``, range rows ``uniform(min, max)``, normal rows ``normal(mean, std)``.
    * ``latin_hypercube`` — ``scipy.stats.qmc.LatinHypercube`` over all rows; a unit
      sample ``u`` maps to ``min + u*(max-min)`` (range), ``values[int(u*len(values))]``
      (discrete) or the normal quantile ``norm.ppf(u, mean, std)`` (normal, with ``u``
      clipped away from 0 so the quantile stays finite).
    """
    design = _parse(doe)
    if seed is not None and (not _is_int(seed) or int(seed) < 0):
        raise DOEError(f"seed must be a non-negative integer, got {seed!r}")
    if seed is None:
        seed = design.seed if design.seed is not None else derive_seed(doe)

    import numpy as np

    rng = np.random.default_rng(int(seed))
    names = [row.name for row in design.rows]
    if design.sampling == "grid":
        axes: list[list[float]] = []
        for row in design.rows:
            if row.kind == "discrete":
                axes.append(list(row.values))
            elif row.kind == "range":
                axes.append([float(x) for x in np.linspace(row.low, row.high, row.count or 1)])
            else:
                draws = rng.normal(row.mean, row.std, size=row.count or 1)
                axes.append(sorted(float(x) for x in draws))
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]

    n = design.count
    columns: list[list[float]] = []
    if design.sampling == "random":
        for row in design.rows:
            if row.kind == "discrete":
                picked = rng.choice(np.asarray(row.values, dtype=float), size=n)
            elif row.kind == "range":
                picked = rng.uniform(row.low, row.high, size=n)
            else:
                picked = rng.normal(row.mean, row.std, size=n)
            columns.append([float(x) for x in picked])
    else:
        unit = _latin_hypercube(len(design.rows), n, rng)
        for j, row in enumerate(design.rows):
            columns.append(_from_unit(row, [float(u) for u in unit[:, j]]))
    return [{name: col[i] for name, col in zip(names, columns, strict=True)} for i in range(n)]


def _latin_hypercube(d: int, n: int, rng: Any) -> Any:
    """``n`` LHS points in ``[0, 1)**d`` from scipy (``rng=`` on scipy ≥ 1.15, else ``seed=``)."""
    import inspect

    from scipy.stats import qmc

    params = inspect.signature(qmc.LatinHypercube).parameters
    key = "rng" if "rng" in params else "seed"
    sampler = qmc.LatinHypercube(d=d, **{key: rng})
    return sampler.random(n)


def _from_unit(row: _Row, unit: list[float]) -> list[float]:
    if row.kind == "range":
        return [row.low + u * (row.high - row.low) for u in unit]
    if row.kind == "discrete":
        k = len(row.values)
        return [row.values[min(int(u * k), k - 1)] for u in unit]
    if row.std == 0:
        return [row.mean for _ in unit]
    import numpy as np
    from scipy.stats import norm

    clipped = np.clip(np.asarray(unit), np.finfo(float).tiny, np.nextafter(1.0, 0.0))
    return [float(x) for x in norm.ppf(clipped, loc=row.mean, scale=row.std)]


def design_parameters_to_doe(design_parameters: Mapping[str, float]) -> dict[str, Any] | None:
    """Turn flat ``design_parameters`` into the one-simulation grid DOE the official client sends.

    ``{"a": 1}`` → ``{"sampling": "grid", "rows": [{"type": "discrete", "name": "a",
    "values": [1.0]}]}``; an empty mapping gives ``None`` (no DOE).
    """
    rows: list[dict[str, Any]] = []
    for name, value in design_parameters.items():
        if not isinstance(name, str):
            raise DOEError(f"design_parameters keys must be strings, got {name!r}")
        if not _is_number(value) or not math.isfinite(float(value)):
            raise DOEError(f"design_parameters[{name!r}] must be a finite number, got {value!r}")
        rows.append({"type": "discrete", "name": name, "values": [float(value)]})
    if not rows:
        return None
    return {"sampling": "grid", "rows": rows}
