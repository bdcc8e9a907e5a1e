"""Tests for ionworks.data_refs.prepare_outbound (wire.md §6.2)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from ionworks.data_refs import INLINE_ROW_LIMIT, prepare_outbound
from ionworks.errors import IonworksError, MeasurementValidationError


def frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"Time [s]": [float(i) for i in range(n)], "Voltage [V]": [4.0] * n})


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


# --------------------------------------------------------------------------- plain values


def test_scalars_and_nan() -> None:
    out = prepare_outbound(
        {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1.5, "e": 3, "f": True, "g": None}
    )
    assert out == {"a": None, "b": None, "c": None, "d": 1.5, "e": 3, "f": True, "g": None}


def test_tuples_become_lists_recursively() -> None:
    out = prepare_outbound({"bounds": (0.0, math.inf), "nested": [(1, (2, 3)), ()]})
    assert out == {"bounds": [0.0, None], "nested": [[1, [2, 3]], []]}
    dumps(out)


def test_input_not_mutated() -> None:
    config: dict[str, Any] = {
        "a": [1.0, math.nan, (1, 2)],
        "b": {"c": (math.inf,), "df": frame(3)},
        "d": "db:abc",
    }
    snapshot = copy.deepcopy(config)
    out = prepare_outbound(config)
    assert out is not config and out["a"] is not config["a"]
    assert config["a"][2] == (1, 2) and math.isnan(config["a"][1])
    assert config["b"]["c"] == (math.inf,)
    assert isinstance(config["b"]["df"], pl.DataFrame)
    assert config["b"]["df"].equals(snapshot["b"]["df"])
    assert config.keys() == snapshot.keys()


def test_strings_pass_through() -> None:
    config = {"measurement": "db:1234-abcd", "name": "hello", "other": "files:x", "e": ""}
    assert prepare_outbound(config) == config


def test_non_string_key_rejected() -> None:
    with pytest.raises(TypeError, match=r"key 3 of type int"):
        prepare_outbound({"ok": {3: "x"}})


def test_numpy_values() -> None:
    out = prepare_outbound(
        {"arr": np.array([[1.0, np.nan], [np.inf, 2.0]]), "i": np.int64(4), "f": np.float32(0.5)}
    )
    assert out == {"arr": [[1.0, None], [None, 2.0]], "i": 4, "f": 0.5}
    assert type(out["i"]) is int and type(out["f"]) is float
    assert prepare_outbound(np.float64(np.nan)) is None
    assert prepare_outbound(np.bool_(True)) is True


def test_dates_become_iso_strings() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5)
    out = prepare_outbound({"t": when, "d": when.date(), "gap": dt.timedelta(minutes=2)})
    assert out == {"t": "2024-01-02T03:04:05", "d": "2024-01-02", "gap": 120.0}


def test_unknown_objects_pass_through() -> None:
    marker = object()
    assert prepare_outbound({"x": marker})["x"] is marker


# --------------------------------------------------------------------------- DataFrames


def test_polars_frame_inlined_with_nan_handling() -> None:
    df = pl.DataFrame(
        {"t": [0.0, 1.0, 2.0], "v": [4.0, float("nan"), float("inf")], "s": ["a", None, "c"]}
    )
    out = prepare_outbound({"data": df})
    assert out == {"data": {"t": [0.0, 1.0, 2.0], "v": [4.0, None, None], "s": ["a", None, "c"]}}
    dumps(out)


def test_frame_strings_are_not_references(tmp_path: Path) -> None:
    df = pl.DataFrame({"ref": ["file:missing.csv", "folder:nope"]})
    assert prepare_outbound(df, base_dir=tmp_path) == {"ref": ["file:missing.csv", "folder:nope"]}


def test_pandas_frame_inlined() -> None:
    df = pd.DataFrame(
        {
            "t": [0, 1, 2],
            "v": [4.0, np.nan, -np.inf],
            "when": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
        }
    )
    out = prepare_outbound([df])
    assert out == [
        {
            "t": [0, 1, 2],
            "v": [4.0, None, None],
            "when": ["2024-01-01T00:00:00", None, "2024-01-03T00:00:00"],
        }
    ]
    assert type(out[0]["t"][0]) is int
    dumps(out)


@pytest.mark.parametrize("make", [frame, lambda n: frame(n).to_pandas()], ids=["polars", "pandas"])
def test_frame_row_limit(make: Any) -> None:
    assert len(prepare_outbound({"d": make(INLINE_ROW_LIMIT)})["d"]["Time [s]"]) == 1000
    with pytest.raises(MeasurementValidationError) as info:
        prepare_outbound({"d": make(INLINE_ROW_LIMIT + 1)})
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, IonworksError)
    assert err.message == (
        "Time series has 1001 rows, which exceeds the maximum of 1000 rows for inline data. "
        "Upload the data as a measurement (client.measurement) and reference it with "
        '"db:<measurement_id>" instead.'
    )


def test_series_become_lists() -> None:
    out = prepare_outbound({"a": pl.Series([1.0, None, float("nan")]), "b": pd.Series([1, 2])})
    assert out == {"a": [1.0, None, None], "b": [1, 2]}


# --------------------------------------------------------------------------- file: / folder:


def test_file_csv_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("Time [s],Voltage [V]\n0,4.1\n1,NaN\n2,\n")
    out = prepare_outbound({"objective": {"data": "file:data.csv"}}, base_dir=tmp_path)
    assert out == {"objective": {"data": {"Time [s]": [0, 1, 2], "Voltage [V]": [4.1, None, None]}}}


def test_file_relative_to_cwd_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "d.csv").write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    assert prepare_outbound("file:d.csv") == {"a": [1]}
    assert prepare_outbound(f"file:{tmp_path / 'd.csv'}", base_dir="/nonexistent") == {"a": [1]}
    assert prepare_outbound(f"file://{tmp_path / 'd.csv'}") == {"a": [1]}


def test_file_parquet(tmp_path: Path) -> None:
    frame(5).write_parquet(tmp_path / "d.parquet")
    out = prepare_outbound("file:d.parquet", base_dir=tmp_path)
    assert out == {"Time [s]": [0.0, 1.0, 2.0, 3.0, 4.0], "Voltage [V]": [4.0] * 5}


def test_file_missing_names_absolute_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        prepare_outbound({"x": "file:sub/missing.csv"}, base_dir=tmp_path)
    assert str(tmp_path / "sub" / "missing.csv") in str(info.value)
    assert "file:sub/missing.csv" in str(info.value)


def test_file_pointing_at_directory(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="folder:"):
        prepare_outbound("file:.", base_dir=tmp_path)


def test_file_row_limit(tmp_path: Path) -> None:
    frame(1000).write_csv(tmp_path / "ok.csv")
    frame(1001).write_csv(tmp_path / "big.csv")
    assert len(prepare_outbound("file:ok.csv", base_dir=tmp_path)["Time [s]"]) == 1000
    with pytest.raises(MeasurementValidationError, match="1001 rows"):
        prepare_outbound("file:big.csv", base_dir=tmp_path)


def test_folder_prefers_parquet(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    pl.DataFrame({"src": ["parquet"]}).write_parquet(folder / "time_series.parquet")
    pl.DataFrame({"src": ["csv"]}).write_csv(folder / "time_series.csv")
    pl.DataFrame({"step": [0, 1], "src": ["parquet", "parquet"]}).write_parquet(
        folder / "steps.parquet"
    )
    pl.DataFrame({"step": [0], "src": ["csv"]}).write_csv(folder / "steps.csv")
    out = prepare_outbound({"m": "folder:run"}, base_dir=tmp_path)
    assert out == {
        "m": {
            "time_series": {"src": ["parquet"]},
            "steps": {"step": [0, 1], "src": ["parquet", "parquet"]},
        }
    }


def test_folder_csv_only(tmp_path: Path) -> None:
    (tmp_path / "time_series.csv").write_text("t,v\n0,4.0\n1,inf\n")
    (tmp_path / "steps.csv").write_text("Step count,Cycle\n0,0\n")
    out = prepare_outbound(f"folder:{tmp_path}")
    assert out == {
        "time_series": {"t": [0, 1], "v": [4.0, None]},
        "steps": {"Step count": [0], "Cycle": [0]},
    }


def test_folder_without_steps(tmp_path: Path) -> None:
    (tmp_path / "time_series.csv").write_text("t\n0\n")
    assert prepare_outbound("folder:.", base_dir=tmp_path) == {"time_series": {"t": [0]}}


def test_folder_missing_time_series(tmp_path: Path) -> None:
    (tmp_path / "steps.csv").write_text("a\n1\n")
    with pytest.raises(FileNotFoundError) as info:
        prepare_outbound("folder:.", base_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "time_series.parquet") in message
    assert str(tmp_path / "time_series.csv") in message


def test_folder_missing_or_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        prepare_outbound("folder:nope", base_dir=tmp_path)
    assert str(tmp_path / "nope") in str(info.value)
    (tmp_path / "f.csv").write_text("a\n1\n")
    with pytest.raises(NotADirectoryError, match="file:"):
        prepare_outbound("folder:f.csv", base_dir=tmp_path)


def test_folder_row_limit_applies_to_time_series_only(tmp_path: Path) -> None:
    frame(1000).write_parquet(tmp_path / "time_series.parquet")
    frame(1500).write_csv(tmp_path / "steps.csv")
    out = prepare_outbound("folder:.", base_dir=tmp_path)
    assert len(out["time_series"]["Time [s]"]) == 1000
    assert len(out["steps"]["Time [s]"]) == 1500
    frame(1001).write_parquet(tmp_path / "time_series.parquet")
    with pytest.raises(MeasurementValidationError, match="1001 rows"):
        prepare_outbound("folder:.", base_dir=tmp_path)


# --------------------------------------------------------------------------- serialised models


def test_serialised_model_only_bounds_stripped() -> None:
    model = {
        "schema_version": "1.0",
        "pybamm_version": "25.1",
        "model": {
            "variables": [
                {"name": "x", "bounds": [{"value": -math.inf}, {"value": math.inf}]},
                {"name": "y", "bounds": [{"value": 0.0}, {"value": 1.0}]},
                {"name": "z", "bounds": (0.0, math.inf)},
            ],
            "path": "file:not-read.csv",
            "pair": (1, 2),
        },
    }
    snapshot = copy.deepcopy(model)
    out = prepare_outbound({"model": model})["model"]
    assert out["model"]["variables"] == [
        {"name": "x"},
        {"name": "y", "bounds": [{"value": 0.0}, {"value": 1.0}]},
        {"name": "z"},
    ]
    assert out["model"]["path"] == "file:not-read.csv"
    assert out["model"]["pair"] == [1, 2]
    assert model == snapshot


def test_pybamm_not_imported() -> None:
    code = (
        "import sys\n"
        "from ionworks.data_refs import prepare_outbound\n"
        "prepare_outbound({'a': (1.0, float('nan')), 'b': 'db:x'})\n"
        "assert 'pybamm' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# --------------------------------------------------------------------------- real pybamm


@pytest.fixture(scope="module")
def pybamm() -> Any:
    os.environ["PYBAMM_DISABLE_TELEMETRY"] = "true"
    return pytest.importorskip("pybamm")


def test_pybamm_builtin_model(pybamm: Any) -> None:
    out = prepare_outbound({"values": {"model": pybamm.lithium_ion.SPM()}})
    config = out["values"]["model"]
    assert isinstance(config, dict) and config["type"] == "SPM"
    dumps(out)


def test_pybamm_model_options_kept(pybamm: Any) -> None:
    model = pybamm.lithium_ion.SPM({"thermal": "lumped"})
    config = prepare_outbound(model)
    assert config["type"] == "SPM"
    assert config["options"]["thermal"] == "lumped"


def test_pybamm_custom_model(pybamm: Any) -> None:
    model = pybamm.BaseModel()
    x = pybamm.Variable("x", bounds=(0, math.inf))
    model.rhs = {x: -x}
    model.initial_conditions = {x: 1}
    model.variables = {"x": x}
    config = prepare_outbound(model)
    assert config["type"] == "custom"
    dumps(config)


def test_pybamm_without_to_config(pybamm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Older pybamm releases have no to_config(): built-in models send type + options.
    monkeypatch.delattr(pybamm.BaseModel, "to_config")
    config = prepare_outbound(pybamm.lithium_ion.SPM())
    assert config["type"] == "SPM"
    assert "thermal" in config["options"]
    assert None not in config["options"].values()
    dumps(config)
    custom = pybamm.BaseModel()
    x = pybamm.Variable("x")
    custom.rhs = {x: -x}
    custom.initial_conditions = {x: 1}
    out = prepare_outbound(custom)
    assert out["type"] == "custom" and "pybamm_version" in out["model"]


def test_pybamm_symbol(pybamm: Any) -> None:
    out = prepare_outbound({"D": pybamm.Parameter("a") * 2})
    assert out["D"]["name"] == "*"
    assert len(out["D"]["children"]) == 2
    dumps(out)
