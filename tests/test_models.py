"""Response models: extra keys, validation errors, Page, ConvertResult.save."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionworks.errors import APIResponseValidationError
from ionworks.models import ConvertResult, Job, Page, Study, structure


def test_unknown_keys_are_kept_and_readable() -> None:
    study = structure({"id": "s", "name": "n", "simulation_count": 3}, Study)
    assert study.simulation_count == 3
    assert study.extra == {"simulation_count": 3}
    assert study.to_dict() == {
        "id": "s",
        "name": "n",
        "description": None,
        "project_id": None,
        "simulation_count": 3,
    }
    assert study["name"] == "n" and study.get("missing", 1) == 1
    with pytest.raises(AttributeError):
        _ = study.nothing_here


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "n"}, "id"),
        ({"id": "s", "name": None}, "name"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_shapes_raise_clear_errors(data: object, match: str) -> None:
    with pytest.raises(APIResponseValidationError, match=match):
        structure(data, Study, what="study")


def test_job_requires_server_flags() -> None:
    with pytest.raises(APIResponseValidationError, match="is_failed"):
        structure(
            {
                "job_id": "j",
                "status": "x",
                "job_type": "t",
                "priority": 1,
                "created_at": "a",
                "updated_at": "b",
                "is_terminal": True,
            },
            Job,
        )


def test_page_behaves_like_a_list() -> None:
    page = Page(items=[1, 2, 3], total=10)
    assert len(page) == 3 and page.count == 3 and page.total == 10
    assert list(page) == [1, 2, 3] and page[0] == 1 and page[1:] == [2, 3]
    assert page == [1, 2, 3]


def test_convert_result_save_writes_primary_and_sidecars(tmp_path: Path) -> None:
    result = ConvertResult(
        target="maccor",
        primary_filename="protocol.000",
        primary_bytes=b"<xml/>",
        media_type="text/plain",
        assets=[("US06.MWF", b"\x00\x01"), ("other.MWF", b"x")],
    )
    out = tmp_path / "new" / "dir"
    paths = result.save(out)
    assert paths == [out / "protocol.000", out / "US06.MWF", out / "other.MWF"]
    assert (out / "US06.MWF").read_bytes() == b"\x00\x01"
    assert result.text() == "<xml/>"
    assert sorted(p.name for p in out.iterdir()) == ["US06.MWF", "other.MWF", "protocol.000"]


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/b", "..", "", "a\\b", "x\x00y"])
def test_convert_result_save_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    result = ConvertResult(
        target="t", primary_filename="p.txt", primary_bytes=b"", assets=[(name, b"x")]
    )
    with pytest.raises(ValueError, match="unsafe file name"):
        result.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
