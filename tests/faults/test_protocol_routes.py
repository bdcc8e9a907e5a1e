"""Hostile input to the saved-protocol routes (``/experiment_templates``, ``POST
/protocols/parse``, ``POST /protocols/parse-to-template``): every one a clear 4xx naming what
is wrong, another key's template a 404, never a 500, and the server still serving."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ionworks.server.limits import Limits
from ionworks.ucp.parse import load
from tests.faults.conftest import KEY_B, QUICK_MODEL, QUICK_PROTOCOL

pytest.importorskip("pybamm")

MAX_PROTOCOL = Limits().max_protocol_bytes
CONFIG = load(QUICK_PROTOCOL).data
Http = aiohttp.ClientSession


async def _call(http: Http, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    body = kwargs.pop("json", None)
    if body is not None:  # streamed: aiohttp warns about large bytes bodies
        kwargs["data"] = io.BytesIO(json.dumps(body).encode())
        kwargs["headers"] = {"Content-Type": "application/json"}
    async with http.request(method, path, **kwargs) as resp:
        raw = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, json.loads(raw)
        return resp.status, raw.decode()


async def _refused(http: Http, method: str, path: str, status: int, *words: str, **kw: Any) -> Any:
    """``status`` with a JSON ``detail`` holding ``words``; the server still serves."""
    got, body = await _call(http, method, path, **kw)
    assert got == status, (method, path, kw.get("json"), got, body)
    assert isinstance(body, dict) and body.get("detail"), body
    for word in words:
        assert word in json.dumps(body), (word, body)
    assert (await _call(http, "GET", "/projects"))[0] == 200
    return body


@pytest.fixture
async def other(fault_url: str) -> AsyncIterator[Http]:
    """Key B's session on the same server."""
    async with aiohttp.ClientSession(base_url=fault_url, headers={"X-API-Key": KEY_B}) as s:
        yield s


async def _project(http: Http) -> str:
    status, body = await _call(http, "GET", "/projects")
    assert status == 200
    return str(body["items"][0]["id"])


async def _saved(http: Http, name: str = "hostile", **extra: Any) -> dict[str, Any]:
    config = {**CONFIG, "steps": [*CONFIG["steps"], {"Rest": {"duration": len(name)}}]}
    body = {"name": name, "protocol_config": config, "project_id": await _project(http), **extra}
    status, record = await _call(http, "POST", "/experiment_templates", json=body)
    assert status in (200, 201), record
    return dict(record)


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"name": None}, 422, "'name'"),
        ({"name": ""}, 422, "'name'"),
        ({"name": 7}, 422, "'name'"),
        ({"name": "n" * 1001}, 422, "'name'"),
        ({"protocol_config": None}, 422, "'protocol_config'"),
        ({"protocol_config": ["steps"]}, 422, "'protocol_config'"),
        ({"protocol_config": QUICK_PROTOCOL}, 422, "'protocol_config'"),
        ({"protocol_config": {"steps": [{"Charge": {"mode": "Magic", "value": 1}}]}}, 422, "Magic"),
        ({"protocol_config": {"steps": []}}, 422, "'protocol_config'"),
        ({"protocol_config": {**CONFIG, "x" * 10: "y" * MAX_PROTOCOL}}, 413, "max_protocol_bytes"),
        ({"parameters_schema": [1]}, 422, "'parameters_schema'"),
        ({"force_create": "yes"}, 422, "'force_create'"),
        ({"description": 5}, 422, "'description'"),
        ({"source_protocol": {"a": 1}}, 422, "'source_protocol'"),
        ({"source_protocol": "x" * (MAX_PROTOCOL + 1)}, 413, "'source_protocol'"),
        ({"project_id": 12}, 422, "'project_id'"),
        ({"project_id": "no-such-project"}, 404, "no-such-project"),
        ({"time_series_spec": {}}, 422, "time_series_spec"),
    ],
)  # fmt: skip
async def test_create_refuses_bad_fields(
    http: Http, change: dict[str, Any], status: int, word: str
) -> None:
    body = {"name": "p", "protocol_config": CONFIG, "project_id": await _project(http), **change}
    await _refused(http, "POST", "/experiment_templates", status, word, json=body)


@pytest.mark.parametrize("body", [[], "text", 3])
async def test_create_refuses_a_body_that_is_not_an_object(http: Http, body: Any) -> None:
    await _refused(http, "POST", "/experiment_templates", 422, "object", json=body)


async def test_a_deeply_nested_protocol_config_is_refused(http: Http) -> None:
    config: Any = {"steps": []}
    for _ in range(200):
        config = {"steps": [config]}
    body = {"name": "deep", "protocol_config": config}
    await _refused(http, "POST", "/experiment_templates", 400, "nests deeper", json=body)


async def test_same_content_is_one_template_and_force_create_names_it(http: Http) -> None:
    first = await _saved(http, "twin")
    again = await _saved(http, "twin")  # same content (the name sets one step's duration)
    assert again["id"] == first["id"]
    body = await _refused(
        http,
        "POST",
        "/experiment_templates",
        409,
        "CONFLICT",
        json={
            "name": "twin",
            "protocol_config": first["protocol_config"],
            "project_id": first["project_id"],
            "force_create": True,
        },
    )
    assert body["error_code"] == "CONFLICT" and body["detail"]["existing_id"] == first["id"]
    assert "already saved" in body["message"]


# --- list ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "word"),
    [
        ("", 422, "'project_id'"),
        ("project_id=", 422, "'project_id'"),
        ("project_id=no-such-project", 404, "no-such-project"),
        ("limit=abc", 422, "'limit'"),
        ("limit=-1", 422, "'limit'"),
        ("limit=100000", 422, "'limit'"),
        ("offset=1e3", 422, "'offset'"),
        ("order=sideways", 422, "order"),
        ("order_by=protocol_config", 422, "order_by"),
        ("name=ilike.abc%5C", 422, "escape"),
    ],
)
async def test_list_refuses_bad_query_parameters(
    http: Http, query: str, status: int, word: str
) -> None:
    if query and not query.startswith("project_id"):
        query = f"project_id={await _project(http)}&{query}"
    await _refused(http, "GET", f"/experiment_templates?{query}", status, word)


async def test_list_ignores_unknown_include_names_and_odd_filters(http: Http) -> None:
    saved = await _saved(http, "listed")
    pid = saved["project_id"]
    status, page = await _call(
        http,
        "GET",
        f"/experiment_templates?project_id={pid}&include=nope,,protocol_config&name=eq.listed"
        "&created_at_gt=%00%FF&created_by_email=ilike.%25x%25",
    )
    assert status == 200 and page == {"items": [], "count": 0, "total": 0}, page
    status, page = await _call(
        http, "GET", f"/experiment_templates?project_id={pid}&include=nope,protocol_config"
    )
    item = next(i for i in page["items"] if i["id"] == saved["id"])
    assert item["protocol_config"] == saved["protocol_config"] and item["source_protocol"] is None


# --- one template ----------------------------------------------------------------------------


def _paths(tid: str) -> list[tuple[str, str, Any]]:
    base = f"/experiment_templates/{tid}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"name": "stolen"}),
        ("DELETE", base, None),
        ("GET", f"{base}/human_readable", None),
        ("GET", f"{base}/source_protocol", None),
    ]


@pytest.mark.parametrize("tid", ["no-such-id", "x" * 5000, "%F0%9F%98%80", "..%2F..%2Fetc"])
async def test_unknown_ids_are_404(http: Http, tid: str) -> None:
    for method, path, body in _paths(tid):
        await _refused(http, method, path, 404, "not found", json=body)


async def test_another_keys_template_is_404_and_untouched(http: Http, other: Http) -> None:
    saved = await _saved(http, "private", source_protocol=QUICK_PROTOCOL)
    for method, path, body in _paths(saved["id"]):
        await _refused(other, method, path, 404, "not found", json=body)
    pid_b = await _project(other)
    await _refused(
        other, "GET", f"/experiment_templates?project_id={saved['project_id']}", 404, "project"
    )
    status, page = await _call(other, "GET", f"/experiment_templates?project_id={pid_b}")
    assert status == 200 and saved["id"] not in {i["id"] for i in page["items"]}
    status, record = await _call(http, "GET", f"/experiment_templates/{saved['id']}")
    assert status == 200 and record["name"] == "private"
    status, text = await _call(http, "GET", f"/experiment_templates/{saved['id']}/source_protocol")
    assert status == 200 and text == QUICK_PROTOCOL


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"protocol_config": CONFIG}, 422, "immutable"),
        ({"project_id": "p"}, 422, "immutable"),
        ({"colour": "red"}, 422, "colour"),
        ({"name": ""}, 422, "'name'"),
        ({"name": None}, 422, "'name'"),
        ({"description": 3}, 422, "'description'"),
        ([], 422, "object"),
    ],
)
async def test_patch_refuses_bad_bodies(http: Http, body: Any, status: int, word: str) -> None:
    saved = await _saved(http, "patched")
    await _refused(http, "PATCH", f"/experiment_templates/{saved['id']}", status, word, json=body)


async def test_source_protocol_is_404_without_one(http: Http) -> None:
    saved = await _saved(http, "no source")
    path = f"/experiment_templates/{saved['id']}/source_protocol"
    await _refused(http, "GET", path, 404, "no source text")


async def test_deleting_a_template_in_use_is_409_until_its_simulations_are_gone(
    http: Http,
) -> None:
    saved = await _saved(http, "in use")
    status, sims = await _call(
        http,
        "POST",
        "/simulations/with-template/batch",
        json={"parameterized_model": QUICK_MODEL, "experiment_template_id": saved["id"]},
    )
    assert status == 200, sims
    path = f"/experiment_templates/{saved['id']}"
    body = await _refused(http, "DELETE", path, 409, "CONFLICT", "simulation")
    assert body["detail"]["simulation_count"] == 1
    assert (await _call(http, "GET", path))[0] == 200
    assert (await _call(http, "DELETE", f"/simulations/{sims[0]['simulation_id']}"))[0] == 204
    assert (await _call(http, "DELETE", path))[0] == 204
    await _refused(http, "GET", path, 404, "not found")


# --- POST /protocols/parse ---------------------------------------------------------------------


def _form(*parts: tuple[str, bytes, str | None]) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, data, filename in parts:
        if filename is None:  # a plain form field
            form.add_field(name, data.decode())
        else:
            form.add_field(name, io.BytesIO(data), filename=filename)
    return form


async def test_parse_reads_a_ucp_file(http: Http) -> None:
    status, body = await _call(
        http, "POST", "/protocols/parse", data=_form(("file", QUICK_PROTOCOL.encode(), "q.yaml"))
    )
    assert status == 200, body
    assert body["parsed_protocol_ucp"] == QUICK_PROTOCOL == body["raw_protocol"]
    assert body["parsed_protocol_human"].splitlines()[-1] == (
        "1. Discharge at 2C until voltage < 3 V"
    )
    assert body["required_drive_cycles"] == [] and body["error"] is None


@pytest.mark.parametrize(
    ("parts", "status", "word"),
    [
        ([("file", b"<?xml version='1.0'?><MaccorTestProcedure/>", "p.000")], 422, "Maccor"),
        ([("file", b"[Schedule]\nVersion=1", "p.sdu")], 422, "Arbin"),
        ([("file", b"<root/>", "p.xml")], 422, "Neware"),
        ([("file", b"BT-LAB SETTING FILE\n", "settings")], 422, "BioLogic"),
        ([("file", bytes(range(256)) * 8, "blob.bin")], 422, "UCP"),
        ([("file", b"", "empty.yaml")], 422, "empty"),
        ([("file", b"steps: [{Charge: {mode: Magic}}]", "bad.yaml")], 422, "Magic"),
        ([("file", b"a: [unclosed", "bad.yaml")], 422, "YAML"),
        ([("file", b"x" * (MAX_PROTOCOL + 1), "big.yaml")], 413, "max_protocol_bytes"),
        ([("other", b"x", None)], 422, "'file'"),
        ([("other", b"x" * (MAX_PROTOCOL + 1), "other.bin")], 422, "'file'"),
        ([(f"f{i}", b"x", None) for i in range(20)], 422, "parts"),
        ([("file", b"steps: []", None), ("file", b"steps: []", None)], 422, "twice"),
    ],
)  # fmt: skip
async def test_parse_refuses_what_it_cannot_read(
    http: Http, parts: list[tuple[str, bytes, str | None]], status: int, word: str
) -> None:
    await _refused(http, "POST", "/protocols/parse", status, word, data=_form(*parts))


async def test_parse_reads_a_plain_text_field_named_file(http: Http) -> None:
    form = _form(("file", QUICK_PROTOCOL.encode(), None))
    status, body = await _call(http, "POST", "/protocols/parse", data=form)
    assert status == 200 and body["parsed_protocol_ucp"] == QUICK_PROTOCOL, body


async def test_parse_refuses_bodies_that_are_not_forms(http: Http) -> None:
    await _refused(http, "POST", "/protocols/parse", 415, "multipart", json={"file": "x"})
    await _refused(
        http,
        "POST",
        "/protocols/parse",
        400,
        "multipart",
        data=b"--b\r\nnot a header line\r\n\r\nbody",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )


# --- POST /protocols/parse-to-template ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"protocol_experiment": {"protocol": QUICK_PROTOCOL, "name": 3}}, "name"),
        ({"protocol_experiment": {"protocol": QUICK_PROTOCOL, "name": "n" * 1001}}, "name"),
        ({"protocol_experiment": {"protocol": QUICK_PROTOCOL}, "project_id": 3}, "'project_id'"),
        ({"protocol_experiment": "steps: []"}, "'protocol_experiment'"),
        ({"protocol_experiment": {"protocol": "steps: []"}}, "invalid protocol"),
    ],
)
async def test_parse_to_template_refuses_bad_fields(
    http: Http, body: dict[str, Any], word: str
) -> None:
    await _refused(http, "POST", "/protocols/parse-to-template", 422, word, json=body)


async def test_inline_protocols_are_the_saved_ones(http: Http) -> None:
    """``simulation.protocol``'s template is listable and readable like any saved protocol,
    and one content is one template whatever the name it was sent with."""
    pid = await _project(http)
    text = QUICK_PROTOCOL + "# inline\n  - Rest: {duration: 12345}\n"
    ids = []
    for name in ("inline", "renamed"):
        status, body = await _call(
            http,
            "POST",
            "/protocols/parse-to-template",
            json={"protocol_experiment": {"protocol": text, "name": name}, "project_id": pid},
        )
        assert status == 200, body
        ids.append(body["template_id"])
    assert ids[0] == ids[1]
    status, record = await _call(http, "GET", f"/experiment_templates/{ids[0]}")
    assert status == 200 and record["name"] == "inline" and record["source_protocol"] == text
    assert record["protocol_config"] == load(text).data and record["project_id"] == pid
    status, again = await _call(
        http,
        "POST",
        "/experiment_templates",
        json={"name": "dict", "protocol_config": load(text).data, "project_id": pid},
    )
    assert status == 200 and again["id"] == ids[0]
