"""Hostile input to the server and the client: each a clear 4xx (or a clear local error), and the
server still serving afterwards."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ionworks import AsyncIonworks, doe
from ionworks.data_refs import prepare_outbound
from ionworks.models import ConvertResult
from ionworks.server.limits import Limits
from tests.faults.conftest import KEY_A

MAX_BODY = Limits().max_body_bytes

pytest.importorskip("pybamm")

PROTOCOL = """
global: {initial_soc: 1, temperature: 25}
steps:
  - Discharge: {mode: C-rate, value: 1, ends: ["Voltage < 3.0"]}
"""
ALIAS_BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    + ["steps: *a9"]
)
DEEP_FLOW = "steps: " + "[" * 5000 + "]" * 5000
DEEP_BLOCK = "steps:\n" + "".join(f"{'  ' * i}- k{i}:\n" for i in range(200)) + "  " * 200 + "x"


async def _call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, str]:
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, json.loads(raw) if raw else None, ctype


async def _assert_4xx(
    http: aiohttp.ClientSession, method: str, path: str, status: int | tuple[int, ...], **kw: Any
) -> str:
    """The request fails with ``status`` and a JSON ``detail``; the server still serves."""
    got, body, ctype = await _call(http, method, path, **kw)
    expected = status if isinstance(status, tuple) else (status,)
    assert got in expected, (got, body)
    assert ctype.startswith("application/json")
    assert isinstance(body, dict) and body.get("detail"), body
    await _assert_serving(http)
    return str(body["detail"])


async def _assert_serving(http: aiohttp.ClientSession) -> None:
    status, body, _ = await _call(http, "GET", "/projects")
    assert status == 200 and body, body


async def _template_batch_refused(http: aiohttp.ClientSession, **fields: Any) -> str:
    """A new template's batch of chen2020-spm with these fields is refused with 422."""
    template = await _template(http)
    body = {"parameterized_model": "chen2020-spm", "experiment_template_id": template, **fields}
    return await _assert_4xx(http, "POST", "/simulations/with-template/batch", 422, json=body)


async def _template(http: aiohttp.ClientSession) -> str:
    status, body, _ = await _call(
        http,
        "POST",
        "/protocols/parse-to-template",
        json={"protocol_experiment": {"protocol": PROTOCOL, "name": "hostile"}},
    )
    assert status == 200, body
    return str(body["template_id"])


# --- YAML ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [ALIAS_BOMB, DEEP_FLOW, DEEP_BLOCK], ids=["alias", "flow", "block"]
)
async def test_yaml_bombs_are_refused(http: aiohttp.ClientSession, text: str) -> None:
    status, body, _ = await _call(http, "POST", "/protocols/validate", json={"protocol": text})
    assert status == 200 and body["valid"] is False, body  # validate reports, never crashes
    assert body["error"]
    detail = await _assert_4xx(
        http,
        "POST",
        "/protocols/parse-to-template",
        422,
        json={"protocol_experiment": {"protocol": text, "name": "bomb"}},
    )
    assert "invalid protocol" in detail
    # input_references never fails by design (raw scan of text that does not load): bounded
    status, refs, _ = await _call(
        http, "POST", "/protocols/input_references", json={"protocol": text}
    )
    assert status == 200 and refs == []
    await _assert_serving(http)


# --- bodies -------------------------------------------------------------------------------


async def test_oversized_body_is_413(http: aiohttp.ClientSession) -> None:
    body = b'{"protocol": "' + b"x" * (MAX_BODY + 1024) + b'"}'
    try:
        await _assert_4xx(
            http,
            "POST",
            "/protocols/validate",
            413,
            data=io.BytesIO(body),
            headers={"Content-Type": "application/json"},
        )
    except aiohttp.ClientOSError:  # the server may hang up before the client finished sending
        await _assert_serving(http)


async def test_gzip_bomb_is_413(http: aiohttp.ClientSession) -> None:
    # 256 MiB of zeros in ~256 KiB of gzip: refused once the inflated size passes MAX_BODY.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    assert len(bomb) < 1 << 20
    await _assert_4xx(
        http,
        "POST",
        "/protocols/validate",
        413,
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


async def test_bad_gzip_and_encodings(http: aiohttp.ClientSession) -> None:
    for data, encoding in [
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip"),
        (b"not deflate at all", "deflate"),
    ]:
        await _assert_4xx(
            http,
            "POST",
            "/protocols/validate",
            400,
            data=data,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
        )
    # encodings aiohttp cannot decode are refused by its parser (a plain-text 400)
    async with http.post(
        "/protocols/validate",
        data=b"{}",
        headers={"Content-Encoding": "x-unknown-zip"},
    ) as resp:
        assert 400 <= resp.status < 500
    await _assert_serving(http)
    # a good gzip body is accepted
    status, body, _ = await _call(
        http,
        "POST",
        "/protocols/validate",
        data=gzip.compress(json.dumps({"protocol": PROTOCOL}).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert status == 200 and body["valid"] is True, body


@pytest.mark.parametrize(
    "data",
    [b'{"protocol": "\xff\xfe caf\xe9"}', b"\xc3\x28", b'{"a": NaN}', b"{not json", b"[1, 2]"],
    ids=["latin1", "bad-utf8", "nan", "not-json", "array"],
)
async def test_non_utf8_and_invalid_json(http: aiohttp.ClientSession, data: bytes) -> None:
    await _assert_4xx(
        http,
        "POST",
        "/protocols/validate",
        (400, 422),
        data=data,
        headers={"Content-Type": "application/json"},
    )


# --- path traversal ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "mid",
    ["..%2F..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e%2f%2e%2e%2fdb.sqlite", "..%5C..%5Cwin.ini"],
)
async def test_traversal_in_measurement_ids_is_404(http: aiohttp.ClientSession, mid: str) -> None:
    for path in (
        f"/cell_measurements/{mid}",
        f"/cell_measurements/{mid}/time_series/download",
        f"/cell_measurements/{mid}/steps/download",
        f"/simulations/{mid}/time_series/download",
    ):
        url = aiohttp.client.URL(path, encoded=True)
        got, body, ctype = await _call(http, "GET", url)  # type: ignore[arg-type]
        assert got == 404 and ctype.startswith("application/json"), (path, got, body)
    await _assert_4xx(
        http,
        "GET",
        aiohttp.client.URL(f"/uploads/{mid}", encoded=True),  # type: ignore[arg-type]
        (404, 405),
    )
    await _assert_serving(http)


@pytest.mark.parametrize("stem", ["../evil", "/etc/passwd", "a/b", "..", "a\\b", "x\x00y"])
async def test_traversal_in_convert_file_names(http: aiohttp.ClientSession, stem: str) -> None:
    await _assert_4xx(
        http,
        "POST",
        "/protocols/convert",
        422,
        json={"protocol": PROTOCOL, "target": "maccor", "filename_stem": stem},
    )


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/abs.txt", "a/b.txt", "..", "", "a\\b"])
def test_convert_result_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    result = ConvertResult("maccor", "ok.000", b"x", assets=[(name, b"y")])
    with pytest.raises(ValueError, match="unsafe file name"):
        result.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    with pytest.raises(ValueError, match="unsafe file name"):
        ConvertResult("maccor", name, b"x").save(tmp_path / "out")


def test_data_references_with_traversal_give_clear_errors(tmp_path: Path) -> None:
    base = tmp_path / "project"
    base.mkdir()
    with pytest.raises(FileNotFoundError, match="no such file"):
        prepare_outbound({"data": "file:../../no/such/dir/data.csv"}, base_dir=base)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        prepare_outbound({"data": "folder:../../../no/such/folder"}, base_dir=base)
    with pytest.raises(FileNotFoundError, match="expected"):
        prepare_outbound({"data": "folder:.."}, base_dir=base)  # exists, no time_series
    with pytest.raises(IsADirectoryError):
        prepare_outbound({"data": "file:.."}, base_dir=base)


# --- DOE counts -----------------------------------------------------------------------------


def _doe(count: Any, *, sampling: str = "grid") -> dict[str, Any]:
    row = {"type": "range", "name": "Ambient temperature [K]", "min": 290, "max": 310}
    if sampling == "grid":
        return {"sampling": sampling, "rows": [{**row, "count": count}]}
    return {"sampling": sampling, "rows": [row], "count": count}


@pytest.mark.parametrize(
    "design",
    [
        _doe(-1),
        _doe(0),
        _doe(10**12),
        _doe(doe.MAX_SIMULATIONS + 1),
        _doe(-5, sampling="random"),
        _doe(10**15, sampling="latin_hypercube"),
        _doe(1.5),
        _doe("7"),
        {
            "sampling": "grid",
            "rows": [
                {"type": "range", "name": f"p{i}", "min": 0, "max": 1, "count": 100}
                for i in range(3)
            ],
        },
    ],
    ids=["neg", "zero", "huge", "limit+1", "neg-random", "huge-lhs", "float", "str", "product"],
)
async def test_bad_doe_counts_are_refused(
    http: aiohttp.ClientSession, fault_url: str, design: dict[str, Any]
) -> None:
    before = (await _call(http, "GET", "/simulations?limit=1"))[1]["total"]
    detail = await _template_batch_refused(http, design_parameters_doe=design)
    assert "design_parameters_doe" in detail or "limit" in detail, detail
    assert (await _call(http, "GET", "/simulations?limit=1"))[1]["total"] == before
    async with AsyncIonworks(api_key=KEY_A, api_url=fault_url) as client:
        with pytest.raises(ValueError):  # refused locally, before any request
            await client.simulation.protocol_batch(
                {
                    "parameterized_model": "chen2020-spm",
                    "protocol_experiment": {"protocol": PROTOCOL, "name": "hostile"},
                    "design_parameters_doe": design,
                }
            )
        assert client._transport.request_count == 0


async def test_too_many_conditions_are_refused(http: aiohttp.ClientSession) -> None:
    detail = await _template_batch_refused(http, conditions=[{}] * (doe.MAX_SIMULATIONS + 1))
    assert str(doe.MAX_SIMULATIONS) in detail


# --- SQL-like filters -----------------------------------------------------------------------

SQLISH = [
    "ilike.%' OR 1=1 --%",
    "eq.' OR '1'='1",
    "'; DROP TABLE simulations; --",
    'ilike.%" OR ""="%',
    "ilike.%%%\\_%",  # LIKE as PostgREST: % wildcards, \_ a literal underscore ("plain" has none)
]


@pytest.mark.parametrize("value", SQLISH)
async def test_sql_like_filters_match_nothing(http: aiohttp.ClientSession, value: str) -> None:
    status, projects, _ = await _call(http, "GET", "/projects")
    pid = projects["items"][0]["id"] if isinstance(projects, dict) else projects[0]["id"]
    status, _, _ = await _call(http, "POST", f"/projects/{pid}/studies", json={"name": "plain"})
    assert status == 201
    for path, params in (
        (f"/projects/{pid}/studies", {"name": value}),
        ("/projects", {"name": value}),
        ("/cell_measurements", {"name": value}),
        ("/simulations", {"project_id": value}),
        ("/simulations", {"experiment_template_id": value}),
        ("/simulations", {"study_id": value}),
        ("/simulations", {"parameterized_model_id": value}),
        ("/jobs", {"status": value}),
    ):
        status, body, _ = await _call(http, "GET", path, params=params)
        # a project id that names no project: 404, like any other unknown project
        allowed = (200, 404, 422) if "project_id" in params else (200, 422)
        assert status in allowed, (path, status, body)
        if status == 200:
            items = (
                body.get("items", body.get("simulations", body)) if isinstance(body, dict) else body
            )
            assert items == [], (path, params, body)
    await _assert_serving(http)
    status, body, _ = await _call(http, "GET", f"/projects/{pid}/studies")
    assert status == 200 and any(s["name"] == "plain" for s in body["items"])


# --- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/route", 404),
        ("POST", "/nothing-here", 404),
        ("GET", "/../../etc/passwd", 404),
        ("PUT", "/projects", 405),
        ("DELETE", "/simulations", 405),
        ("PATCH", "/protocols/validate", 405),
        ("GET", "/protocols/validate", 405),
    ],
)
async def test_unknown_routes_and_methods_are_json(
    http: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    await _assert_4xx(http, method, path, status)


async def test_missing_or_wrong_key_is_401(fault_url: str) -> None:
    async with aiohttp.ClientSession(base_url=fault_url) as anon:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer ' OR 1=1 --"}):
            async with anon.get("/projects", headers=headers) as resp:
                assert resp.status == 401
                assert (await resp.json())["detail"]
