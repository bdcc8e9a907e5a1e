"""Hostile input to the model and parameterized-model routes: each a clear 4xx naming what is
wrong (never a 500), another key's records a 404, and the server still serving afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

pytest.importorskip("pybamm")

from ionworks.server.hosting import EmbeddedServer
from ionworks.server.limits import Limits
from tests.faults.conftest import KEY_A, KEY_B
from tests.server.test_user_models import decay_model_json, model_form

LIMITS = Limits(max_body_bytes=256 * 1024, max_json_depth=24, read_timeout_seconds=5.0)
EVIL = {"py/object": "os.system"}
D_N = "Negative particle diffusivity [m2.s-1]"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Two keys, 256 KiB bodies, JSON nested at most 24 deep."""
    with EmbeddedServer(
        tmp_path_factory.mktemp("model-routes"), api_keys=[KEY_A, KEY_B], workers=1, limits=LIMITS
    ) as server:
        yield server


async def _session(server: EmbeddedServer, key: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=str(server.url), headers={"X-API-Key": key}, timeout=aiohttp.ClientTimeout(60)
    )


@pytest.fixture
async def http(small_server: EmbeddedServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with await _session(small_server, KEY_A) as session:
        yield session


@pytest.fixture
async def http_b(small_server: EmbeddedServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with await _session(small_server, KEY_B) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, path, **kw) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def refused(
    http: aiohttp.ClientSession, method: str, path: str, status: int, match: str, **kw: Any
) -> None:
    """A JSON 4xx ``status`` whose detail contains ``match``; ``/healthz`` still answers."""
    got, body = await call(http, method, path, **kw)
    assert got == status, (got, body)
    assert isinstance(body, dict) and match in str(body["detail"]), body
    async with http.get("/healthz") as resp:
        assert resp.status == 200


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


PM_CASES = [
    ({"name": "x", "model_id": "SPM", "parameters": {"p": EVIL}}, "parameters.p.py/object"),
    ({"name": "x", "model_id": "SPM", "parameters": {D_N: "[input]"}}, "expected a number"),
    ({"name": "x", "model_id": "SPM", "parameters": {D_N: True}}, "got a boolean"),
    ({"name": "x", "model_id": "SPM", "parameters": [1, 2]}, "expected an object"),
    ({"name": "x", "model_id": "SPM", "parameters": {"No such [m]": 1}}, "unknown parameter"),
    ({"name": "x", "model_id": "SPM", "simulation_settings": [1]}, "'simulation_settings'"),
    ({"name": 5, "model_id": "SPM"}, "'name' must be"),
    ({"name": "x" * 300, "model_id": "SPM"}, "at most 256"),
    ({"name": "x", "model_id": {"py/object": "os.system"}}, "'model_id' must be"),
    ({"name": "x", "model_id": "SPM", "project_id": 7}, "project 7 not found"),
    ({"name": "x", "model_id": "SPM", "owner_id": "someone"}, "unknown field(s): owner_id"),
    (
        {"name": "x", "model_id": "SPM", "parameters": {f"p{i}": 1 for i in range(10_001)}},
        "at most 10000",
    ),
]


@pytest.mark.parametrize(("body", "match"), PM_CASES)
async def test_bad_parameterized_models_are_422(
    http: aiohttp.ClientSession, body: dict[str, Any], match: str
) -> None:
    status = 404 if "not found" in match else 422
    await refused(http, "POST", "/parameterized_models", status, match, json=body)


async def test_body_bounds(http: aiohttp.ClientSession) -> None:
    huge = {"name": "x", "model_id": "SPM", "description": "x" * (300 * 1024)}
    await refused(http, "POST", "/parameterized_models", 413, "max_body_bytes", json=huge)
    deep = {"name": "x", "model_id": "SPM", "simulation_settings": nested(40)}
    await refused(http, "POST", "/parameterized_models", 400, "nests deeper", json=deep)
    await refused(http, "POST", "/models", 400, "nests deeper", json={"config": nested(40)})
    await refused(http, "GET", "/parameterized_models?summary=maybe", 422, "'summary'")
    await refused(http, "GET", "/models?limit=-1", 422, "'limit'")
    await refused(http, "GET", "/models?order_by=owner_id", 422, "order_by")


MODEL_CASES = [
    ({"name": "x", "config": {"type": "custom", "model": EVIL}}, "upload-custom"),
    ({"name": "x", "config": {"type": "SPM", "module": "os"}}, "config.module"),
    ({"name": "x", "config": {"type": "__import__"}}, "not a model of pybamm"),
    ({"name": "x", "config": {"type": "SPM", "options": {"thermal": EVIL}}}, "options.thermal"),
    ({"name": "x", "config": {"type": "SPM", "x": {"$type": "os.system"}}}, "config.x.$type"),
    ({"name": "x", "config": 3}, "'config' must be"),
    ({"config": {"type": "SPM"}}, "'name' must be"),
]


@pytest.mark.parametrize(("body", "match"), MODEL_CASES)
async def test_bad_models_are_422(
    http: aiohttp.ClientSession, body: dict[str, Any], match: str
) -> None:
    await refused(http, "POST", "/models", 422, match, json=body)


def _form(document: bytes, **fields: str) -> aiohttp.FormData:
    return model_form(document, **fields)


UPLOAD_CASES = [
    (json.dumps({"model": EVIL}).encode(), {}, 422, "file.model.py/object"),
    (json.dumps({"model": {"a": {"$type": "subprocess.Popen"}}}).encode(), {}, 422, "subprocess"),
    (json.dumps({"model": {"x": {"py/reduce": []}}}).encode(), {}, 422, "jsonpickle"),
    (json.dumps({"model": {"compressed": True}}).encode(), {}, 422, "compressed"),
    (json.dumps({"not": "a model"}).encode(), {}, 422, "expected a serialised PyBaMM model"),
    (json.dumps({"model": {"name": "m"}}).encode(), {}, 422, "PyBaMM cannot load"),
    (b"{not json", {}, 400, "not valid JSON"),
    (b'{"model": NaN}', {}, 422, "NaN"),
    (b"\xff\xfe", {}, 400, "not UTF-8"),
    (json.dumps({"model": nested(40)}).encode(), {}, 400, "nests deeper"),
    (b"x" * (300 * 1024), {}, 413, "max_body_bytes"),
    (b"{}", {"chemistry": "plutonium"}, 422, "'chemistry' must be one of"),
    (b"{}", {"colour": "red"}, 422, "the form takes"),
]


@pytest.mark.parametrize(("document", "fields", "status", "match"), UPLOAD_CASES)
async def test_bad_uploads_are_refused(
    http: aiohttp.ClientSession, document: bytes, fields: dict[str, str], status: int, match: str
) -> None:
    path = "/models/upload-custom"
    await refused(http, "POST", path, status, match, data=_form(document, **fields))


async def test_upload_form_shape(http: aiohttp.ClientSession) -> None:
    path = "/models/upload-custom"
    await refused(http, "POST", path, 415, "multipart/form-data", json={"name": "x"})
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("name", "no file")
    await refused(http, "POST", path, 422, "one file 'file'", data=form)
    many = aiohttp.FormData(default_to_multipart=True)
    for i in range(20):
        many.add_field(f"f{i}", "x")
    await refused(http, "POST", path, 422, "more than 16 parts", data=many)
    await refused(
        http, "POST", path, 404, "not found", data=_form(decay_model_json(), project_id="nope")
    )
    status, body = await call(http, "GET", "/models")
    assert status == 200 and all(not m["is_custom_model"] for m in body["items"])  # none stored


async def test_custom_variable_expressions(http: aiohttp.ClientSession) -> None:
    status, model = await call(http, "POST", "/models", json={"name": "m", "config": "SPM"})
    assert status == 201
    path = f"/models/{model['id']}/custom-variables"
    for expression, match in (
        ("__import__('os').system('id')", "unexpected"),
        ("{Voltage [V]}" + " + 1" * 1000, "longer than 2000"),
        ("(" * 900 + "1" + ")" * 900, "nested too deeply"),
        ("{x}; {y}", "unexpected character"),
        ("{Voltage [V]", "unexpected character"),
        ("{Not a variable}", "unknown variable"),
    ):
        body = {"name": "v", "expression": expression}
        await refused(http, "POST", path, 422, match, json=body)
    await refused(http, "POST", path, 422, "'name'", json={"name": "", "expression": "1"})
    await refused(http, "POST", path, 422, "'expression'", json={"name": "v", "expression": 1})


async def test_another_keys_records_are_404(
    http: aiohttp.ClientSession, http_b: aiohttp.ClientSession
) -> None:
    _, model = await call(http, "POST", "/models", json={"name": "mine", "config": "SPMe"})
    _, spec = await call(http, "POST", "/cell_specifications", json={"name": "cell"})
    _, pm = await call(
        http, "POST", f"/cells/{spec['id']}/parameterized_models", json={"name": "pm", "model_id": model["id"]}
    )  # fmt: skip
    mid, sid, pid = model["id"], spec["id"], pm["id"]
    for method, path, body in (
        ("GET", f"/models/{mid}", None),
        ("PATCH", f"/models/{mid}", {"name": "stolen"}),
        ("DELETE", f"/models/{mid}", None),
        ("POST", f"/models/{mid}/custom-variables", {"name": "v", "expression": "1"}),
        ("GET", f"/parameterized_models/{pid}", None),
        ("GET", f"/parameterized_models/{pid}/parameter-values", None),
        ("GET", f"/parameterized_models/{pid}/variable-names", None),
        ("PATCH", f"/cells/{sid}/parameterized_models/{pid}", {"name": "stolen"}),
        ("DELETE", f"/cells/{sid}/parameterized_models/{pid}", None),
        ("GET", f"/cells/{sid}/parameterized_models", None),
        ("POST", f"/cells/{sid}/parameterized_models", {"name": "x", "model_id": "SPM"}),
        ("POST", "/parameterized_models", {"name": "x", "model_id": mid}),
        ("GET", "/parameterized_models/..%2F..%2Fetc", None),
    ):
        await refused(http_b, method, path, 404, "not found", json=body)
    status, page = await call(http_b, "GET", "/parameterized_models", params={"cell_spec_id": sid})
    assert status == 200 and page["items"] == []
    status, page = await call(http_b, "GET", "/models")
    assert status == 200 and mid not in {m["id"] for m in page["items"]}
    # nor can key B simulate it: its id is unknown to B
    template = {"protocol_experiment": {"protocol": "steps:\n  - Rest: {duration: 10}\n"}}
    _, made = await call(http_b, "POST", "/protocols/parse-to-template", json=template)
    batch = {"parameterized_model": pid, "experiment_template_id": made["template_id"]}
    await refused(
        http_b, "POST", "/simulations/with-template/batch", 422, "unknown parameterized model",
        json=batch,
    )  # fmt: skip
    status, still = await call(http, "GET", f"/parameterized_models/{pid}")
    assert status == 200 and still["name"] == "pm"


async def test_serialize_input(http: aiohttp.ClientSession) -> None:
    path = "/discovery/ionworks_models/serialize"
    await refused(http, "POST", path, 422, "'name' must be", json={"name": ["ECM"]})
    await refused(http, "POST", path, 422, "'options'", json={"name": "ECM", "options": [1]})
    await refused(http, "POST", path, 404, "licensed", json={"name": "ECM", "options": {}})
