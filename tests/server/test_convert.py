"""``client.protocol.convert`` → server → ``ConvertResult.save`` for every target."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ionworks import AsyncIonworks
from ionworks.errors import IonworksError
from ionworks.ucp.export import export
from tests.ucp.export_protocols import CCCV, CYCLING, DRIVE, DRIVE_SAMPLES, TARGETS

EXTENSIONS = {"maccor": ".000", "arbin": ".sdu", "neware": ".xml",
              "biologic_bttest": ".mps", "novonix": ".pro2"}  # fmt: skip


@pytest.mark.parametrize("target", TARGETS)
async def test_round_trip_every_target(api: AsyncIonworks, target: str, tmp_path: Path) -> None:
    result = await api.protocol.convert(
        CYCLING, target, filename_stem="cycling", nominal_capacity_ah=5.0, verify=True
    )
    assert result.target == target
    assert result.primary_filename == f"cycling{EXTENSIONS[target]}"
    paths = result.save(tmp_path / "out" / target)
    assert paths == [tmp_path / "out" / target / result.primary_filename]
    assert paths[0].read_bytes() == result.primary_bytes
    if target not in ("neware", "novonix"):  # these two carry a save-time stamp
        local = export(CYCLING, target, filename_stem="cycling", nominal_capacity_ah=5.0)
        assert result.primary_bytes == local.primary_bytes


async def test_dict_protocol_and_text(api: AsyncIonworks) -> None:
    import yaml

    result = await api.protocol.convert(yaml.safe_load(CCCV), "maccor")
    root = ET.fromstring(result.text())
    assert len(root.findall("./ProcSteps/TestStep")) == 4


async def test_drive_cycle_assets_saved(api: AsyncIonworks, tmp_path: Path) -> None:
    samples = {"us06": {"time": [0, 1, 2, 3, 4, 5], "value": [1.0, 1.0, -0.5, 0, 2, 2]}}
    result = await api.protocol.convert(DRIVE, "maccor", drive_cycles=samples)
    assert [name for name, _ in result.assets] == ["us06.MWF"]
    paths = result.save(tmp_path / "new")
    assert [p.name for p in paths] == ["protocol.000", "us06.MWF"]
    csv = await api.protocol.convert(DRIVE, "maccor", drive_cycles=DRIVE_SAMPLES)
    assert csv.assets == result.assets


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "arbin_sdx"}, "not supported yet"),
        ({"target": "neware"}, "nominal_capacity_ah"),
        ({"target": "maccor", "filename_stem": "../evil"}, "filename_stem"),
        ({"target": "novonix", "protocol": "steps: []"}, "invalid protocol"),
        ({"target": "arbin", "protocol": DRIVE}, "drive cycle"),
    ],
)
async def test_errors_are_422(api: AsyncIonworks, kwargs: dict[str, str], message: str) -> None:
    args = {"protocol": CCCV, **kwargs}
    with pytest.raises(IonworksError, match=message) as info:
        await api.protocol.convert(args.pop("protocol"), **args)  # type: ignore[arg-type]
    assert info.value.status_code == 422
