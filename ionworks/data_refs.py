"""Client-side preparation of pipeline configs before they are sent (wire.md §6.2).

:func:`prepare_outbound` walks a config and returns a new JSON-ready structure:

* PyBaMM model objects become model configs (``model.to_config()``, or on older pybamm
  ``{"type": ClassName, "options": {…}}`` / ``{"type": "custom", "model": …}``) and
  ``pybamm.Symbol`` objects become pybamm symbol JSON. pybamm is never imported here: these
  checks only run when the caller already imported it.
* float NaN/±inf become ``None``; tuples become lists; numpy arrays/scalars become lists
  and Python numbers; dates/times become ISO strings.
* ``"file:<path>"`` is read (CSV, or parquet for a ``.parquet`` path) and inlined as
  ``{column: [values]}``; ``"folder:<dir>"`` is inlined as ``{"time_series": {…},
  "steps": {…}}`` from ``<stem>.parquet`` if present, else ``<stem>.csv`` (``steps`` is
  optional). Relative paths are resolved against ``base_dir`` (default: the current
  directory). ``"db:<id>"`` and all other strings are sent unchanged (the server resolves
  ``db:`` references).
* polars / pandas DataFrames are inlined as ``{column: [values]}``.

Inline data is limited to :data:`INLINE_ROW_LIMIT` rows (DataFrames, ``file:`` data and the
``time_series`` of ``folder:`` data); larger data must be uploaded as a measurement and
referenced with ``"db:<measurement_id>"``.

A dict holding both ``pybamm_version`` and ``schema_version`` is an already serialised
pybamm model: only its infinite variable ``bounds`` are removed (pybamm restores the
default bounds when loading), nothing else is changed. Other objects are passed through.
"""

from __future__ import annotations

import datetime as dt
import decimal
import errno
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import MeasurementValidationError

__all__ = ["INLINE_ROW_LIMIT", "prepare_outbound"]

INLINE_ROW_LIMIT = 1000
"""Maximum number of rows of time-series data that may be sent inline."""

_STEMS = ("time_series", "steps")


def prepare_outbound(obj: Any, *, base_dir: str | os.PathLike[str] | None = None) -> Any:
    """Return a JSON-ready copy of ``obj`` with data references and objects inlined.

    The input is never modified.

    Raises:
        MeasurementValidationError: inline data has more than :data:`INLINE_ROW_LIMIT` rows.
        FileNotFoundError: a ``file:``/``folder:`` path (or a folder's ``time_series`` file)
            does not exist; the message names the absolute path.
        TypeError: a dict key is not a string, or a pybamm symbol cannot be serialised.
    """
    base = Path(base_dir) if base_dir is not None else None
    return _convert(obj, base, refs=True)


def _convert(value: Any, base: Path | None, *, refs: bool) -> Any:
    # 1. pybamm objects (only when the caller has imported pybamm)
    pybamm = sys.modules.get("pybamm")
    if pybamm is not None:
        if _is_instance(value, pybamm, "BaseModel"):
            return _convert(_model_config(value, pybamm), base, refs=False)
        if _is_instance(value, pybamm, "Symbol"):
            return _convert(_symbol_json(value), base, refs=False)
    # 2. floats (numpy float64 is a float subclass)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # plain int for int subclasses (e.g. IntEnum)
    # 3. tuples and lists
    if isinstance(value, list | tuple):
        return [_convert(item, base, refs=refs) for item in value]
    # 4. strings and data references
    if isinstance(value, str):
        return _resolve_reference(value, base) if refs else value
    # 5. DataFrames, numpy, other array-likes
    columns = _frame_columns(value)
    if columns is not None:
        return columns
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return _convert(value.tolist(), base, refs=False)
        if isinstance(value, numpy.generic):
            return _convert(value.item(), base, refs=False)
    series = _series_values(value)
    if series is not None:
        return _convert(series, base, refs=False)
    # 6. mappings (serialised pybamm models are only stripped of infinite bounds)
    if isinstance(value, Mapping):
        if "pybamm_version" in value and "schema_version" in value:
            return _serialised_model(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"Config keys must be strings to be sent as JSON; got key {key!r} "
                    f"of type {type(key).__name__}"
                )
            out[key] = _convert(item, base, refs=refs)
        return out
    return _scalar(value)


def _is_instance(value: Any, module: Any, name: str) -> bool:
    cls = getattr(module, name, None)
    return isinstance(cls, type) and isinstance(value, cls)


def _scalar(value: Any) -> Any:
    """Missing markers, dates, times and decimals; anything else unchanged."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is pandas.NaT or value is pandas.NA):
        return None
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


# --------------------------------------------------------------------------- pybamm


def _model_config(model: Any, pybamm: Any) -> Any:
    to_config = getattr(model, "to_config", None)
    if callable(to_config):
        return to_config()
    name = type(model).__name__
    serialise = getattr(getattr(pybamm, "Serialise", None), "serialise_custom_model", None)
    builtin = getattr(getattr(pybamm, "lithium_ion", None), name, None) is type(model)
    if not builtin and callable(serialise):
        return {"type": "custom", "model": serialise(model)}
    options = getattr(model, "options", None) or {}
    return {"type": name, "options": {k: v for k, v in dict(options).items() if v is not None}}


def _symbol_json(symbol: Any) -> Any:
    try:
        from pybamm.expression_tree.operations.serialise import convert_symbol_to_json
    except ImportError:
        to_json = getattr(symbol, "to_json", None)
        if callable(to_json):
            return to_json()
        raise TypeError(
            f"Cannot send the pybamm symbol {symbol!s} ({type(symbol).__name__}): this pybamm "
            "version cannot serialise symbols to JSON. Pass a number or upgrade pybamm."
        ) from None
    return convert_symbol_to_json(symbol)


def _serialised_model(value: Any) -> Any:
    """Structural copy of a serialised model without infinite ``bounds``; floats kept as-is."""
    if isinstance(value, Mapping):
        return {
            key: _serialised_model(item)
            for key, item in value.items()
            if not (key == "bounds" and _has_infinite_bound(item))
        }
    if isinstance(value, list | tuple):
        return [_serialised_model(item) for item in value]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return _serialised_model(value.tolist())
        if isinstance(value, numpy.generic):
            return value.item()
    return value


def _has_infinite_bound(bounds: Any) -> bool:
    if not isinstance(bounds, list | tuple):
        return False
    for bound in bounds:
        if isinstance(bound, Mapping):
            bound = bound.get("value")
        if isinstance(bound, float) and math.isinf(bound):
            return True
    return False


# --------------------------------------------------------------------------- DataFrames


def _check_rows(n_rows: int) -> None:
    if n_rows > INLINE_ROW_LIMIT:
        raise MeasurementValidationError(
            f"Time series has {n_rows} rows, which exceeds the maximum of {INLINE_ROW_LIMIT} "
            "rows for inline data. Upload the data as a measurement (client.measurement) and "
            'reference it with "db:<measurement_id>" instead.'
        )


def _frame_columns(value: Any, *, limit: bool = True) -> dict[str, list[Any]] | None:
    """``{column: [values]}`` for a polars/pandas DataFrame (row limit checked), else None."""
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(value, polars.DataFrame):
        if limit:
            _check_rows(value.height)
        return {
            str(name): _convert(value.get_column(name).to_list(), None, refs=False)
            for name in value.columns
        }
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        if limit:
            _check_rows(len(value))
        names = [str(name) for name in value.columns]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"DataFrame has duplicate column names {duplicated}")
        return {
            name: _convert(value.iloc[:, i].tolist(), None, refs=False)
            for i, name in enumerate(names)
        }
    return None


def _series_values(value: Any) -> list[Any] | None:
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(value, polars.Series):
        return list(value.to_list())
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.Series):
        return list(value.tolist())
    return None


# --------------------------------------------------------------------------- references


def _resolve_reference(value: str, base: Path | None) -> Any:
    if value.startswith("file:"):
        path = _local_path(value, "file:", base)
        if not path.exists():
            raise FileNotFoundError(
                errno.ENOENT, f"Data reference {value!r}: no such file", str(path)
            )
        if path.is_dir():
            raise IsADirectoryError(
                errno.EISDIR,
                f"Data reference {value!r} is a directory; use 'folder:' for a folder",
                str(path),
            )
        return _table_columns(path, limit=True)
    if value.startswith("folder:"):
        path = _local_path(value, "folder:", base)
        if not path.exists():
            raise FileNotFoundError(
                errno.ENOENT, f"Data reference {value!r}: no such folder", str(path)
            )
        if not path.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR,
                f"Data reference {value!r} is not a folder; use 'file:' for a file",
                str(path),
            )
        result: dict[str, Any] = {}
        for stem in _STEMS:
            found = _find_table(path, stem)
            if found is not None:
                result[stem] = _table_columns(found, limit=stem == "time_series")
        if "time_series" not in result:
            expected = " or ".join(str(path / f"time_series{ext}") for ext in (".parquet", ".csv"))
            raise FileNotFoundError(
                errno.ENOENT, f"Data reference {value!r}: expected {expected}", str(path)
            )
        return result
    return value


def _local_path(value: str, prefix: str, base: Path | None) -> Path:
    raw = value[len(prefix) :]
    if raw.startswith("//"):  # file://relative or file:///absolute
        raw = raw[2:]
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return path.resolve()


def _find_table(folder: Path, stem: str) -> Path | None:
    for ext in (".parquet", ".csv"):
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _table_columns(path: Path, *, limit: bool) -> dict[str, list[Any]]:
    import polars

    if path.suffix.lower() == ".parquet":
        frame = polars.read_parquet(path)
    else:
        frame = polars.read_csv(path, infer_schema_length=10_000)
    columns = _frame_columns(frame, limit=limit)
    assert columns is not None
    return columns
