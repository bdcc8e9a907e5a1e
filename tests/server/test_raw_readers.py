"""Raw cycler files → our time-series table (ionworks/server/services/raw_readers): each
supported format read from real instrument exports (tests/data/cycler/raw/SOURCE.md), unit
and sign conversions, and the refusals: corrupt, truncated, oversized and unsupported files
each a one-line RawFileError naming the file."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from ionworks.errors import MeasurementValidationError
from ionworks.server.limits import Limits
from ionworks.server.services import raw_readers
from ionworks.server.services.raw_readers import RawFileError, read_raw
from ionworks.wire.measurements import validate_time_series

RAW = Path(__file__).parent.parent / "data" / "cycler" / "raw"
LIMITS = Limits()
BASE = ["Time [s]", "Current [A]", "Voltage [V]"]
STEPS = ["Step count", "Cycle count", "Step from cycler", "Cycle from cycler"]
CAPACITY = ["Discharge capacity [A.h]", "Charge capacity [A.h]"]
needs_galvani = pytest.mark.skipif(
    sys.modules.get("galvani") is None and not __import__("importlib").util.find_spec("galvani"),
    reason="needs galvani (the cycler extra)",
)
needs_newarenda = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("NewareNDA"),
    reason="needs NewareNDA (the cycler extra)",
)


def read(name: str, data: bytes | Path | None = None, limits: Limits = LIMITS) -> pl.DataFrame:
    frame = pl.from_arrow(read_raw(name, RAW / name if data is None else data, limits=limits))
    assert isinstance(frame, pl.DataFrame)
    return frame


def refused(name: str, data: bytes | Path, limits: Limits = LIMITS) -> RawFileError:
    with pytest.raises(RawFileError) as info:
        read_raw(name, data, limits=limits)
    message = str(info.value)
    shown = name.replace("\\", "/").rsplit("/", 1)[-1]
    assert "\n" not in message and shown in message and "Traceback" not in message
    return info.value


def lines(name: str) -> list[str]:
    return (RAW / name).read_text(encoding="latin-1").splitlines(keepends=True)


# -- each format ------------------------------------------------------------------------

#: file → (columns, rows, first voltage [V], a later row: (index, time [s], current [A]))
EXPECTED: dict[str, tuple[list[str], int, float, tuple[int, float, float]]] = {
    "biologic_gcpl.mpt": (
        BASE + STEPS + CAPACITY,
        15,
        -5.0306384e-2 - -9.4320464e-1,
        (1, 1.004819974616112e1 - 4.819999878236558e-2, -1.2e-4),
    ),
    "biologic_mb_decimal_comma.mpt": (
        BASE + STEPS + CAPACITY,
        33,
        2.3278546,
        (1, 9.999999747378752e-1, 0.0),
    ),
    "maccor_signed.052": (BASE + STEPS + CAPACITY, 333, 3.86823835, (1, 0.01, 4.8400091554)),
    "maccor_duration.041": (BASE + STEPS + CAPACITY, 74, 3.90806439, (1, 1.0, 0.0)),
    "maccor_minutes.txt": (BASE + STEPS + CAPACITY, 37, 2.314, (5, 360.0, -6.1e-4)),
    "neware.csv": (BASE + STEPS + CAPACITY, 300, 2.9566, (21, 1200.0, 2.4859e-4)),
    "arbin_charge.csv": (
        ["Time [s]", "Current [A]", "Voltage [V]", "Temperature [°C]"],
        287,
        3.298668384552002,
        (1, 0.6929, -6.600467681884766),
    ),
    "arbin_rest.csv": (
        [*BASE, "Temperature [°C]", *STEPS, *CAPACITY],
        248,
        3.3011441,
        (1, 10.0035, 0.0),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_text_exports(name: str) -> None:
    columns, rows, voltage, (index, time, current) = EXPECTED[name]
    frame = read(name)
    assert sorted(frame.columns) == sorted(columns)
    assert frame.height == rows
    assert frame["Time [s]"][0] == 0.0
    assert frame["Voltage [V]"][0] == pytest.approx(voltage, rel=1e-7)
    assert frame["Time [s]"][index] == pytest.approx(time, rel=1e-9)
    assert frame["Current [A]"][index] == pytest.approx(current, rel=1e-3, abs=1e-12)
    validate_time_series(frame)  # what an uploaded time series must satisfy (wire.md §10)
    assert frame.schema["Time [s]"] == pl.Float64
    for column in STEPS:
        if column in frame.columns:
            assert frame.schema[column] == pl.Int64
    for column in CAPACITY:
        if column in frame.columns:
            assert frame[column].min() >= 0  # type: ignore[operator]


def test_maccor_current_sign_follows_the_mode() -> None:
    """Unsigned ``Amps``: positive on ``D`` rows, negative on ``C`` rows, 0 at rest; the
    capacity counts per step from 0."""
    frame = read("maccor_minutes.txt")
    table = pl.read_csv(RAW / "maccor_minutes.txt", separator="\t", skip_rows=1, infer_schema=False)
    states = table["State"].to_list()
    current = frame["Current [A]"].to_list()
    assert {s for s, i in zip(states, current, strict=True) if i > 0} == {"D"}
    assert {s for s, i in zip(states, current, strict=True) if i < 0} == {"C"}
    starts = frame.filter(pl.col("Step count").diff().fill_null(1) == 1)
    assert starts["Step from cycler"].to_list() == [1, 3, 4, 3, 4]
    assert starts["Step count"].to_list() == [0, 1, 2, 3, 4]
    first_discharge = frame.filter(pl.col("Step count") == 2)
    assert first_discharge["Discharge capacity [A.h]"][0] == 0.0
    assert first_discharge["Discharge capacity [A.h]"][-1] == pytest.approx(
        0.0000813333 - 0.00004575
    )
    assert first_discharge["Charge capacity [A.h]"].max() == 0.0


def test_maccor_duration_and_signed_current() -> None:
    """``TestTime`` as ``0d 00:00:01.0000``; signed ``Amps`` (negative on ``D``) → positive."""
    assert read("maccor_duration.041")["Time [s]"][:3].to_list() == [0.0, 1.0, 2.0]
    frame = read("maccor_signed.052")
    assert (frame["Current [A]"] > 4.8).all()
    assert frame["Discharge capacity [A.h]"][-1] == pytest.approx(
        0.0236349063 - 0.0191579754, rel=1e-6
    )


def test_neware_csv_step_time_and_sign() -> None:
    frame = read("neware.csv")
    assert frame["Time [s]"][1] == 60.0  # "Cumulative Time" 11:41:00 → 11:42:00
    discharge = frame.filter(pl.col("Step from cycler") == 2)
    assert (discharge["Current [A]"] > 0).all()  # Neware writes discharge currents negative
    assert discharge["Step count"].unique().to_list() == [1]
    assert discharge["Discharge capacity [A.h]"][0] == 0.0
    assert discharge["Discharge capacity [A.h]"][-1] > 0


def test_arbin_units_from_the_header() -> None:
    """MITS Pro headers carry units: mA and mA.h are converted, seconds kept."""
    text = lines("arbin_charge.csv")
    header = (
        "Data_Point,Test_Time(s),DateTime,Step_Time(s),Step_Index,Cycle_Index,Current(mA),"
        "Voltage(V),Charge_Capacity(mAh),Discharge_Capacity(mAh),Charge_Energy(Wh),"
        "Discharge_Energy(Wh),dV/dt(V/s),Internal_Resistance(Ohm),Aux_Temperature_1(C)\n"
    )
    frame = read("arbin_ma.csv", "".join([header, *text[1:]]).encode())
    plain = read("arbin_charge.csv")
    assert frame["Current [A]"][0] == pytest.approx(plain["Current [A]"][0] * 1e-3)
    assert frame["Voltage [V]"].equals(plain["Voltage [V]"])
    assert frame["Temperature [°C]"][0] == pytest.approx(25.174373626708984)
    wrong = header.replace("Current(mA)", "Current(kA)")
    error = refused("arbin_ka.csv", "".join([wrong, *text[1:]]).encode())
    assert "'Current(kA)'" in str(error) and "'ka'" in str(error)


@needs_galvani
def test_biologic_mpr_matches_its_text_export() -> None:
    """The GCPL ``.mpr`` has no ``I/mA``: the current from ``dq/mA.h`` over the time step is
    EC-Lab's own ``<I>/mA`` of the ``.mpt`` export; the voltage is ``Ewe - Ece``."""
    binary, text = read("biologic_gcpl.mpr"), read("biologic_gcpl.mpt")
    assert binary.height == text.height == 15
    for column in binary.columns:
        np.testing.assert_allclose(
            binary[column].to_numpy(), text[column].to_numpy(), rtol=1e-6, atol=1e-12
        )
    assert set(text.columns) - set(binary.columns) == {"Cycle count", "Cycle from cycler"}
    assert binary["Step count"].to_list() == text["Step count"].to_list()
    charging = binary.filter(pl.col("Step from cycler") == 1)
    assert (charging["Current [A]"][1:] < 0).all()  # EC-Lab's I > 0 is a charge


@needs_galvani
def test_biologic_mpr() -> None:
    frame = read("biologic_mb.mpr", (RAW / "biologic_mb.mpr").read_bytes())
    assert frame.height == 11
    assert frame["Voltage [V]"][0] == pytest.approx(-1.6501721, rel=1e-6)
    assert frame["Current [A]"][0] == pytest.approx(0.05671816e-3, rel=1e-6)
    assert frame["Time [s]"][-1] == pytest.approx(9.999799747383804, rel=1e-9)
    validate_time_series(frame)


@needs_galvani
def test_biologic_mpr_galvani_cannot_read() -> None:
    error = refused("biologic_unknown_column.mpr", RAW / "biologic_unknown_column.mpr")
    assert "galvani cannot read" in str(error) and "export it as .mpt" in str(error)


@needs_newarenda
def test_neware_nda() -> None:
    frame = read("neware.nda")
    assert frame.height == 439
    assert frame["Step count"].max() == 5 and frame["Cycle count"].max() == 1
    assert frame["Time [s]"].diff().drop_nulls().min() >= 0  # type: ignore[operator]
    discharge = frame.filter(pl.col("Step from cycler") == 1)
    assert (discharge["Current [A]"] >= 0).all() and discharge["Current [A]"].max() > 0
    assert frame["Current [A]"].abs().max() == pytest.approx(0.0505e-3, rel=1e-5)
    validate_time_series(frame)


@needs_newarenda
def test_neware_ndax() -> None:
    frame = read("neware.ndax")
    assert frame.height == 1464
    assert frame["Time [s]"][11] == 300.0  # CCCV charge starts after a 5 min rest
    assert frame["Step from cycler"].unique(maintain_order=True).to_list() == [1, 2, 3, 4]
    charge = frame.filter(pl.col("Step from cycler") == 2)
    discharge = frame.filter(pl.col("Step from cycler") == 3)
    assert (charge["Current [A]"].head(5) < 0).all()
    assert (discharge["Current [A]"].head(5) > 0).all()
    assert charge["Charge capacity [A.h]"][-1] > 0 and charge["Discharge capacity [A.h]"].max() == 0
    temperature = read("neware_aux_temperature.ndax")
    assert temperature["Temperature [°C]"][0] == pytest.approx(25.487, rel=1e-6)
    assert temperature["Time [s]"][-1] == 300.0


# -- refused files ------------------------------------------------------------------------


@needs_galvani
def test_truncated_mpr() -> None:
    data = (RAW / "biologic_gcpl.mpr").read_bytes()
    error = refused("cut.mpr", data[: len(data) // 2])
    assert isinstance(error, ValueError) and isinstance(error, MeasurementValidationError)
    assert error.status == 422


@needs_newarenda
@pytest.mark.parametrize("name", ["neware.nda", "neware.ndax"])
def test_truncated_neware(name: str) -> None:
    data = (RAW / name).read_bytes()
    refused(f"cut{Path(name).suffix}", data[: len(data) // 3])


def test_corrupt_value_names_column_and_line() -> None:
    text = lines("biologic_gcpl.mpt")
    fields = text[80].split("\t")
    fields[35] = "oops"  # Ewe-Ece/V (the cell voltage) of the fourth data row (line 81)
    text[80] = "\t".join(fields)
    error = refused("bad.mpt", "".join(text).encode("latin-1"))
    assert "column 'Ewe-Ece/V' line 81: 'oops' is not a number" in str(error)
    fields[35], fields[11] = fields[11], "oops"  # a column that is not read is not checked
    text[80] = "\t".join(fields)
    assert read("ok.mpt", "".join(text).encode("latin-1")).height == 15


def test_truncated_text_names_the_empty_cell() -> None:
    text = "".join(lines("maccor_minutes.txt"))
    cut = text[: text.rindex("0.0006100000")]  # the last line ends before its Amps
    assert "column 'Amps' line 39 is empty" in str(refused("cut.txt", cut.encode()))


def test_time_going_backwards() -> None:
    text = lines("maccor_minutes.txt")
    text[5], text[6] = text[6], text[5]
    error = refused("swapped.txt", "".join(text).encode())
    assert "column 'Test (Min)' line 7: time goes backwards (240 s -> 180 s)" in str(error)


def test_millivolts_are_refused() -> None:
    text = lines("maccor_minutes.txt")
    text[2] = text[2].replace("2.31400000", "2314.0")
    error = refused("mv.txt", "".join(text).encode())
    assert "column 'Volts' line 3: 2314 V is outside ±100 V" in str(error)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("x.mpr", b"hello", "is not a BioLogic .mpr file"),
        ("x.nda", b"hello", "is not a Neware .nda file"),
        ("x.ndax", b"hello", "is not a Neware .ndax file"),
        ("x.mpt", b"EC-Lab ASCII FILE\nsomething\n", "'Nb header lines : N'"),
        ("x.csv", b"", "is empty"),
        ("x.bin", b"\x00\x01\x02binary", "not a supported raw cycler file"),
    ],
)
def test_wrong_content(name: str, data: bytes, expected: str) -> None:
    assert expected in str(refused(name, data))


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("cell.res", b"\x00\x01\x00\x00Standard Jet DB\x00" + bytes(64), "Microsoft Access"),
        ("cell.xlsx", b"PK\x03\x04" + bytes(64), "an Excel workbook"),
        ("cell.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "an Excel workbook"),
        ("cell.txt", b"time,volts\n1,2\n", "not a recognised raw cycler export"),
    ],
)
def test_unsupported_formats_list_the_supported_ones(name: str, data: bytes, expected: str) -> None:
    message = str(refused(name, data))
    assert expected in message
    assert "Supported raw formats: .mpr (BioLogic" in message and "Maccor text export" in message


def test_nested_neware_export() -> None:
    data = b"Cycle Index,Chg. Cap.(Ah)\n,Step Index,Step Number\n,,DataPoint,Time\n1,0.1\n"
    assert "nested Neware BTSDA export" in str(refused("nested.csv", data))


def test_messages_hold_no_server_path(tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(b"Rec#\tTest (Sec)\tAmps\tVolts\tState\n1\t0\t0\tx\tR\n")
    message = str(refused("C:\\lab\\run 7.txt", path))
    assert message.startswith("run 7.txt column 'Volts' line 2: 'x' is not a number")
    assert str(tmp_path) not in message and "lab" not in message


# -- bounds ---------------------------------------------------------------------------


def test_over_max_upload_bytes_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw_readers, "_parse", lambda *a: pytest.fail("parsed"))
    error = refused("big.mpt", RAW / "biologic_gcpl.mpt", Limits(max_upload_bytes=1000))
    assert error.status == 413 and "the limit is 1,000 (max_upload_bytes)" in str(error)


def test_text_rows_checked_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    from ionworks.server.services.raw_readers import _common

    monkeypatch.setattr(_common.pl, "read_csv", lambda *a, **k: pytest.fail("parsed"))
    error = refused("rows.052", RAW / "maccor_signed.052", Limits(max_measurement_rows=100))
    assert "has 334 data rows; the limit is 100 (max_measurement_rows)" in str(error)
    error = refused("cells.csv", RAW / "neware.csv", Limits(max_measurement_cells=1000))
    assert "(max_measurement_cells)" in str(error)


@needs_galvani
def test_mpr_rows_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from ionworks.server.services.raw_readers import biologic

    monkeypatch.setattr(biologic.pl, "Series", lambda *a, **k: pytest.fail("decoded"))
    error = refused("rows.mpr", RAW / "biologic_gcpl.mpr", Limits(max_measurement_rows=10))
    assert "has 15 data rows; the limit is 10" in str(error)


@needs_newarenda
def test_ndax_decompressed_size_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import NewareNDA

    monkeypatch.setattr(NewareNDA, "read", lambda *a, **k: pytest.fail("decoded"))
    path = RAW / "neware_aux_temperature.ndax"
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    limits = Limits(max_upload_bytes=path.stat().st_size + 1)
    error = refused("bomb.ndax", path, limits)
    assert error.status == 413
    assert f"holds {unpacked:,} bytes once decompressed" in str(error)


@needs_newarenda
def test_nda_rows_checked_once_decoded() -> None:
    error = refused("rows.nda", RAW / "neware.nda", Limits(max_measurement_rows=100))
    assert "has 439 data rows; the limit is 100" in str(error)


def test_missing_optional_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "galvani", None)
    monkeypatch.setitem(sys.modules, "galvani.BioLogic", None)
    monkeypatch.setitem(sys.modules, "NewareNDA", None)
    mpr = (RAW / "biologic_mb.mpr").read_bytes()
    assert "needs the optional 'galvani' package" in str(refused("a.mpr", mpr))
    nda = (RAW / "neware.nda").read_bytes()
    assert "needs the optional 'NewareNDA' package" in str(refused("a.nda", nda))


def test_bytes_and_path_agree() -> None:
    path = RAW / "maccor_minutes.txt"
    a: Any = read_raw("m.txt", path, limits=LIMITS)
    b: Any = read_raw("m.txt", path.read_bytes(), limits=LIMITS)
    assert a.equals(b)
