"""``client.model`` and ``client.parameterized_model`` on both clients: what goes on the wire
(mocked API), and the same methods against the real local server."""

from __future__ import annotations

import io
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from ionworks.errors import ConflictError, IonworksError, NotFoundError, ValidationError
from ionworks.models import Model, ParameterizedModel, ZooImport
from tests.conftest import API
from tests.helpers import last_request, requests_to, url_re

MODEL = {"id": "mod-1", "name": "SPMe", "project_id": "p1", "config": {"type": "SPMe"}}
PM = {"id": "pm-1", "name": "M50", "simulation_settings": None}


class Settings:
    """Stands in for ``ionworks_schema.models.SimulationSettings``."""

    def to_config(self) -> dict[str, Any]:
        return {"var_pts": {"r_n": 12}}


def form_parts(mock: aioresponses, path: str) -> dict[str, tuple[str | None, Any]]:
    """The multipart form sent to ``path``: field → (file name or None, value)."""
    data = last_request(mock, "POST", path).kwargs["data"]
    return {options["name"]: (options.get("filename"), value) for options, _, value in data._fields}


# --------------------------------------------------------------------------- model (wire)


async def test_model_create_and_update_normalise_their_payload(
    any_client: Any, mock_api: aioresponses
) -> None:
    import pybamm

    mock_api.post(f"{API}/models", payload=MODEL, repeat=True)
    mock_api.patch(f"{API}/models/mod-1", payload=MODEL, repeat=True)
    data = {"name": "m", "config": pybamm.lithium_ion.SPMe({"thermal": "lumped"})}
    data["simulation_settings"] = Settings()
    assert isinstance(await any_client.model.create(data), Model)
    body = last_request(mock_api, "POST", "/models").json
    assert body["config"]["type"] == "SPMe" and body["config"]["options"]["thermal"] == "lumped"
    assert None not in body["config"]["options"].values()
    assert body["simulation_settings"] == {"var_pts": {"r_n": 12}} and body["project_id"] == "p1"
    assert isinstance(data["config"], pybamm.BaseModel)  # the caller's dict is unchanged
    await any_client.model.create()  # data=None: the server names the missing fields
    assert last_request(mock_api, "POST", "/models").json == {"project_id": "p1"}
    await any_client.model.update("mod-1", {"simulation_settings": None})
    assert last_request(mock_api, "PATCH", "/models/mod-1").json == {"simulation_settings": None}
    await any_client.model.update("mod-1")
    assert last_request(mock_api, "PATCH", "/models/mod-1").json == {}
    with pytest.raises(TypeError, match="upload_custom"):
        await any_client.model.create({"name": "c", "config": pybamm.BaseModel(name="custom")})


async def test_model_list_filters_and_settings(any_client: Any, mock_api: aioresponses) -> None:
    mock_api.get(url_re("/models"), payload={"items": [MODEL], "total": 1})
    mock_api.get(f"{API}/models/mod-1", payload=MODEL)
    await any_client.model.list(
        10, 5, created_by_email="a@b", created_after="2024-01-01", created_before="2025",
        updated_after="2024-06", updated_before="2024-07", order_by="name", order="desc",
    )  # fmt: skip
    assert last_request(mock_api, "GET", "/models").query == {
        "project_id": "p1", "limit": "10", "offset": "5", "created_by_email": "ilike.%a@b%",
        "created_at_gt": "2024-01-01", "created_at_lt": "2025", "updated_at_gt": "2024-06",
        "updated_at_lt": "2024-07", "order_by": "name", "order": "desc",
    }  # fmt: skip
    assert await any_client.model.get_simulation_settings("mod-1") == {}


async def test_model_custom_variable_and_serialize(any_client: Any, mock_api: aioresponses) -> None:
    variable = {"name": "P", "expression": "{Voltage [V]} * {Current [A]}"}
    mock_api.post(
        f"{API}/models/mod-1/custom-variables", payload={**MODEL, "custom_variables": [variable]}
    )
    changed = await any_client.model.add_custom_variable("mod-1", variable)
    assert changed.custom_variables == [variable]
    assert last_request(mock_api, "POST", "/models/mod-1/custom-variables").json == variable
    serialize = f"{API}/discovery/ionworks_models/serialize"
    mock_api.post(serialize, payload={"model": {}})
    assert await any_client.model.serialize("ECM") == {"model": {}}
    assert last_request(mock_api, "POST", serialize).json == {"name": "ECM", "options": {}}
    mock_api.post(serialize, payload=[1])
    with pytest.raises(IonworksError, match="non-JSON response"):
        await any_client.model.serialize("ECM", options={"x": 1})


async def test_download_writes_the_file_only_once_it_loads(
    any_client: Any, mock_api: aioresponses, tmp_path: Path
) -> None:
    import json

    from tests.server.test_user_models import decay_model_json

    serialize = f"{API}/discovery/ionworks_models/serialize"
    document = json.loads(decay_model_json())
    mock_api.post(serialize, payload=document)
    path = tmp_path / "decay.json"
    model = await any_client.model.download("Decay", path=path)
    assert model.name == "decay" and json.loads(path.read_text()) == document
    mock_api.post(serialize, payload={"model": {"name": "broken"}})
    broken = tmp_path / "broken.json"
    with pytest.raises(Exception):  # noqa: B017 - PyBaMM's own error for a bad document
        await any_client.model.download("Broken", path=broken)
    assert not broken.exists()


@pytest.mark.parametrize(
    ("make", "filename"),
    [
        (lambda tmp: tmp / "saved.json", "saved.json"),
        (lambda tmp: io.BytesIO(b'{"model": {}}'), "model.json"),
        ("pybamm", "decay.json"),
    ],
)
async def test_upload_custom_sends_a_multipart_form(
    any_client: Any, mock_api: aioresponses, tmp_path: Path, make: Any, filename: str
) -> None:
    import pybamm

    (tmp_path / "saved.json").write_bytes(b'{"model": {}}')
    if make == "pybamm":
        model: Any = pybamm.BaseModel(name="decay")
        x = pybamm.Variable("x")
        model.rhs, model.initial_conditions, model.variables = {x: -x}, {x: 1}, {"x": x}
    else:
        model = make(tmp_path)
    mock_api.post(f"{API}/models/upload-custom", payload={**MODEL, "is_custom_model": True})
    created = await any_client.model.upload_custom(model, name="decay")
    assert created.is_custom_model is True
    parts = form_parts(mock_api, "/models/upload-custom")
    assert parts["name"] == (None, "decay") and parts["chemistry"] == (None, "lithium_ion")
    assert parts["project_id"] == (None, "p1") and "description" not in parts
    assert parts["file"][0] == filename and b'"model"' in parts["file"][1].getvalue()


async def test_upload_custom_refusals(any_client: Any, mock_api: aioresponses) -> None:
    with pytest.raises(TypeError, match="Unsupported model type 'int'"):
        await any_client.model.upload_custom(3, name="x")
    mock_api.post(f"{API}/models/upload-custom", payload=["not", "a", "record"])
    with pytest.raises(IonworksError, match="non-JSON response"):
        await any_client.model.upload_custom(io.BytesIO(b"{}"), name="x", description="d")
    assert form_parts(mock_api, "/models/upload-custom")["description"] == (None, "d")


@pytest.fixture
def zoo(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in ``pybamm_model_zoo`` whose one model is a small custom PyBaMM model."""
    import pybamm

    class ZooDecay(pybamm.BaseModel):  # type: ignore[misc]
        @property
        def default_parameter_values(self) -> Any:
            return pybamm.ParameterValues({"k": 1.0})

    def load(options: Any = None, **kwargs: Any) -> Any:
        model = ZooDecay(name="zoo decay")
        x = pybamm.Variable("x")
        model.rhs, model.initial_conditions, model.variables = {x: -x}, {x: 1}, {"x": x}
        return model

    entry = types.SimpleNamespace(name="ZooDecay", summary="decays", load=lambda: load)
    module = types.ModuleType("pybamm_model_zoo")
    module.info = lambda name: entry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pybamm_model_zoo", module)
    return entry


async def test_create_from_zoo(any_client: Any, mock_api: aioresponses, zoo: Any) -> None:
    mock_api.post(f"{API}/models/upload-custom", payload={**MODEL, "id": "zoo-1"}, repeat=True)
    mock_api.post(f"{API}/cells/cs-1/parameterized_models", payload=PM)
    made = await any_client.model.create_from_zoo("ZooDecay", cell_spec_id="cs-1")
    assert isinstance(made, ZooImport) and made.model.id == "zoo-1"
    assert isinstance(made.parameterized_model, ParameterizedModel)
    assert form_parts(mock_api, "/models/upload-custom")["name"] == (None, "ZooDecay")
    body = last_request(mock_api, "POST", "/cells/cs-1/parameterized_models").json
    assert body == {
        "name": "ZooDecay", "model_id": "zoo-1", "description": "decays",
        "parameters": {"k": 1.0}, "project_id": "p1",
    }  # fmt: skip
    # a refused parameterized model takes its uploaded model with it; a 5xx keeps it
    mock_api.post(f"{API}/parameterized_models", status=422, payload={"detail": "bad"})
    mock_api.delete(f"{API}/models/zoo-1", status=204)
    with pytest.raises(ValidationError):
        await any_client.model.create_from_zoo("ZooDecay", parameter_values={"k": 3})
    assert len(requests_to(mock_api, "DELETE", "/models/zoo-1")) == 1
    mock_api.post(f"{API}/parameterized_models", status=500, payload={"detail": "x"}, repeat=True)
    with pytest.raises(IonworksError) as raised:
        await any_client.model.create_from_zoo("ZooDecay")
    assert any("zoo-1" in note for note in getattr(raised.value, "__notes__", []))
    assert len(requests_to(mock_api, "DELETE", "/models/zoo-1")) == 1


async def test_create_from_zoo_needs_the_zoo(
    any_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pybamm_model_zoo", None)
    with pytest.raises(ImportError, match="pip install pybamm-model-zoo"):
        await any_client.model.create_from_zoo("LinearisedSPM")


# --------------------------------------------------------------------------- parameterized


async def test_parameterized_model_lists(any_client: Any, mock_api: aioresponses) -> None:
    mock_api.get(url_re("/cells/cs-1/parameterized_models"), payload={"items": [PM], "total": 1})
    mock_api.get(url_re("/parameterized_models"), payload={"items": [PM], "total": 1}, repeat=True)
    page = await any_client.parameterized_model.list_by_cell_specification("cs-1", 5, 1)
    assert [m.id for m in page] == ["pm-1"]
    assert last_request(mock_api, "GET", "/cells/cs-1/parameterized_models").query == {
        "limit": "5", "offset": "1",
    }  # fmt: skip
    await any_client.parameterized_model.list_by_project(limit=3)
    assert "summary" not in last_request(mock_api, "GET", "/parameterized_models").query
    await any_client.parameterized_model.list_by_project("p2", 3, summary=True)
    assert last_request(mock_api, "GET", "/parameterized_models").query == {
        "project_id": "p2", "limit": "3", "summary": "true",
    }  # fmt: skip


async def test_create_or_get(any_client: Any, mock_api: aioresponses) -> None:
    path = f"{API}/cells/cs-1/parameterized_models"
    conflict = {"error_code": "CONFLICT", "message": "dup", "detail": {"existing_id": "pm-9"}}
    mock_api.post(path, status=409, payload=conflict)
    mock_api.get(f"{API}/parameterized_models/pm-9", payload={**PM, "id": "pm-9"})
    data = {"name": "M50", "model_id": "SPMe", "simulation_settings": Settings()}
    assert (await any_client.parameterized_model.create_or_get("cs-1", data)).id == "pm-9"
    assert last_request(mock_api, "POST", path).json["simulation_settings"] == {
        "var_pts": {"r_n": 12}
    }
    # no existing_id: found by name in the specification's list
    mock_api.post(path, status=409, payload={"detail": "duplicate"})
    mock_api.get(url_re("/cells/cs-1/parameterized_models"), payload={"items": [PM], "total": 1})
    assert (await any_client.parameterized_model.create_or_get("cs-1", data)).id == "pm-1"
    mock_api.post(path, status=409, payload={"detail": "duplicate"})
    mock_api.get(url_re("/cells/cs-1/parameterized_models"), payload={"items": [], "total": 0})
    with pytest.raises(IonworksError, match="reported as duplicate but could not be found"):
        await any_client.parameterized_model.create_or_get("cs-1", data)
    mock_api.post(path, status=422, payload={"detail": "unknown parameter"})
    with pytest.raises(ValidationError):
        await any_client.parameterized_model.create_or_get("cs-1", data)


async def test_update_normalises_settings(any_client: Any, mock_api: aioresponses) -> None:
    mock_api.patch(f"{API}/parameterized_models/pm-1", payload=PM)
    data = {"simulation_settings": Settings()}
    await any_client.parameterized_model.update(None, "pm-1", data)
    sent = last_request(mock_api, "PATCH", "/parameterized_models/pm-1").json
    assert sent == {"simulation_settings": {"var_pts": {"r_n": 12}}}
    assert isinstance(data["simulation_settings"], Settings)


# --------------------------------------------------------------------------- real server


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("pybamm")
    from tests.server.conftest import local_server

    with local_server(tmp_path_factory, "resource-models", "models-key") as server:
        assert server.url is not None
        yield server.url


@pytest.fixture
async def live(
    model_server: str, new_client: Callable[..., AbstractAsyncContextManager[Any]]
) -> AsyncIterator[Any]:
    async with new_client(api_key="models-key", api_url=model_server) as client:
        yield client


async def test_models_against_the_local_server(
    live: Any, client_kind: str, model_server: str
) -> None:
    import pybamm

    model = await live.model.create(
        {"name": f"SPMe {client_kind}", "config": pybamm.lithium_ion.SPMe()}
    )
    assert model.config["type"] == "SPMe" and model.config["options"]["thermal"] == "isothermal"
    assert await live.model.get_simulation_settings(model.id) == {}
    decay = pybamm.BaseModel(name="decay")
    x, k = pybamm.Variable("x"), pybamm.Parameter("k")
    decay.rhs, decay.initial_conditions, decay.variables = {x: -k * x}, {x: 1}, {"x": x}
    custom = await live.model.upload_custom(decay, name="decay", chemistry="generic")
    assert custom.is_custom_model and custom.config == {"type": "custom", "name": "decay"}
    async with aiohttp.ClientSession(headers={"X-API-Key": "models-key"}) as http:
        spec_body = {"name": f"s {client_kind}"}
        async with http.post(f"{model_server}/cell_specifications", json=spec_body) as resp:
            spec = await resp.json()
    data = {"name": "k = 2", "model_id": custom.id, "parameters": {"k": 2.0}}
    pm = await live.parameterized_model.create(spec["id"], data)
    assert (await live.parameterized_model.create_or_get(spec["id"], data)).id == pm.id
    with pytest.raises(ConflictError):
        await live.parameterized_model.create(spec["id"], data)
    assert [
        m.id for m in await live.parameterized_model.list_by_cell_specification(spec["id"])
    ] == [pm.id]
    with pytest.raises(ValidationError, match="did you mean 'k'"):
        await live.parameterized_model.create(None, {**data, "parameters": {"kk": 2.0}})
    variable = {"name": "half x", "expression": "{x} / 2"}
    assert (await live.model.add_custom_variable(custom.id, variable)).custom_variables == [
        variable
    ]
    with pytest.raises(NotFoundError, match="licensed"):
        await live.model.serialize("ECM")
    await live.parameterized_model.delete(spec["id"], pm.id)
    await live.model.delete(custom.id)
    await live.model.delete(model.id)
    with pytest.raises(NotFoundError):
        await live.model.get(model.id)
