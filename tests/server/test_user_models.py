"""Integration: a key's own models and parameterized models on the real local server — stored,
checked against PyBaMM, and simulated by id (simulations and pipelines)."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import ConflictError, IonworksError, NotFoundError, ValidationError
from tests.server import test_repositories as scan
from tests.server.conftest import KEY_A
from tests.server.test_fitting import D_N, TRUE_D_N, synthetic_data
from tests.ucp.protocols import SEED_SINGLE

WAIT = {"timeout": 120, "poll_interval": 0.2, "verbose": False}
CAPACITY = "Nominal cell capacity [A.h]"


@functools.cache
def decay_model_json() -> bytes:
    """A tiny custom PyBaMM model (``dx/dt = -k x``), as ``Serialise().save_custom_model``
    writes it."""
    from ionworks.wire.pybamm import import_pybamm

    pybamm = import_pybamm()
    from pybamm.expression_tree.operations.serialise import Serialise

    model = pybamm.BaseModel(name="decay")
    x, k = pybamm.Variable("x"), pybamm.Parameter("k")
    model.rhs = {x: -k * x}
    model.initial_conditions = {x: 1}
    model.variables = {"x": x}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "decay.json"
        Serialise().save_custom_model(model, filename=str(path))
        return path.read_bytes()


def model_form(document: bytes, name: str = "decay", **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("name", name)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", document, filename="decay.json", content_type="application/json")
    return form


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=server_url, headers={"X-API-Key": KEY_A}, timeout=aiohttp.ClientTimeout(60)
    ) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def test_a_created_parameterized_model_is_simulated_by_id(api: AsyncIonworks) -> None:
    pm = await api.parameterized_model.create(
        None,
        {"name": "half capacity", "model_id": "chen2020-spm", "parameters": {CAPACITY: 2.5}},
    )
    assert pm.model_id == "chen2020-spm" and pm.model_name == "Chen2020 SPM"
    assert pm.parameters == {CAPACITY: 2.5} and pm.is_builtin is False
    response = await api.simulation.protocol(
        {
            "parameterized_model": pm.id,
            "protocol_experiment": {"protocol": SEED_SINGLE, "name": "1C"},
        }
    )
    await api.simulation.wait_for_completion(response.simulation_id, timeout=120, verbose=False)
    record = await api.simulation.get(response.simulation_id)
    assert record["parameterized_model_id"] == pm.id  # the record keeps the id
    result = await api.simulation.get_result(response.simulation_id)
    current = result.time_series["Current [A]"].to_numpy()
    assert abs(current.max() - 2.5) < 1e-6  # 1C of the PM's capacity, not Chen2020's 5 A.h
    values = await api.parameterized_model.get_parameter_values(pm.id)
    assert values[CAPACITY] == 2.5 and values[D_N] > 0
    assert "Voltage [V]" in await api.parameterized_model.get_variable_names(pm.id)
    await api.parameterized_model.delete(None, pm.id)
    with pytest.raises(ValidationError, match="unknown parameterized model"):
        await api.simulation.protocol(
            {
                "parameterized_model": pm.id,
                "protocol_experiment": {"protocol": SEED_SINGLE, "name": "1C"},
            }
        )


async def test_a_pipeline_names_a_parameterized_model_by_id(api: AsyncIonworks) -> None:
    right = await api.parameterized_model.create(
        None, {"name": "true D_n", "model_id": "chen2020-spm", "parameters": {D_N: TRUE_D_N}}
    )
    wrong = await api.parameterized_model.create(
        None, {"name": "10x D_n", "model_id": "chen2020-spm", "parameters": {D_N: 0.1 * TRUE_D_N}}
    )
    rmse = {}
    for pm in (right, wrong):
        objective = {"type": "CurrentDriven", "data": synthetic_data()}
        config = {
            "elements": {
                "entry": {"element_type": "entry", "values": {"parameterized_model": pm.id}},
                "check": {"element_type": "validation", "objectives": {"voltage": objective}},
            }
        }
        sp = await api.simple_pipeline.create(config)
        done = await api.simple_pipeline.wait_for_completion(sp.id, **WAIT)
        assert done.result is not None
        rmse[pm.name] = done.result["summary_stats"]["voltage"]["RMSE [V]"]
    assert rmse["true D_n"] < 2e-3 < rmse["10x D_n"]  # the stored values were used


async def test_parameter_values_are_checked_against_pybamm(http: aiohttp.ClientSession) -> None:
    body = {"name": "typo", "model_id": "SPMe", "parameters": {"Negative particle difusivity [m2.s-1]": 1e-14}}  # fmt: skip
    status, error = await call(http, "POST", "/parameterized_models", json=body)
    assert status == 422
    assert "unknown parameter name(s): 'Negative particle difusivity [m2.s-1]'" in error["detail"]
    assert "did you mean 'Negative particle diffusivity [m2.s-1]'" in error["detail"]
    status, error = await call(
        http, "POST", "/parameterized_models",
        json={"name": "x", "model_id": "SPM", "parameters": {D_N: "[input]"}},
    )  # fmt: skip
    assert status == 422 and f"parameters.{D_N}" in error["detail"]
    status, error = await call(
        http, "POST", "/parameterized_models", json={"name": "x", "model_id": "SPM", "parameters": "Nope2020"}
    )  # fmt: skip
    assert status == 422 and "unknown PyBaMM parameter set 'Nope2020'" in error["detail"]
    status, error = await call(
        http, "POST", "/parameterized_models", json={"name": "x", "model_id": "NoSuchModel"}
    )
    assert status == 404 and error["detail"].startswith("model_id: model 'NoSuchModel' not found")
    status, error = await call(
        http, "POST", "/parameterized_models", json={"name": "x", "model_id": "SPM", "colour": 1}
    )
    assert status == 422 and "unknown field(s): colour" in error["detail"]


async def test_cell_specification_routes(api: AsyncIonworks, http: aiohttp.ClientSession) -> None:
    status, spec = await call(http, "POST", "/cell_specifications", json={"name": "LG M50"})
    assert status == 201
    data = {"name": "M50 SPMe", "model_id": "SPMe", "parameters": "Chen2020"}
    first = await api.parameterized_model.create(spec["id"], data)
    assert first.cell_spec_id == spec["id"]
    assert first.parameters[CAPACITY] == 5.0  # the client sends a set name as its values
    with pytest.raises(ConflictError) as raised:
        await api.parameterized_model.create(spec["id"], data)
    assert raised.value.data and raised.value.data["detail"]["existing_id"] == first.id
    assert raised.value.error_code == "CONFLICT"
    again = await api.parameterized_model.create_or_get(spec["id"], data)
    assert again.id == first.id
    listed = await api.parameterized_model.list_by_cell_specification(spec["id"])
    assert [m.id for m in listed] == [first.id] and listed.total == 1
    by_project = await api.parameterized_model.list_by_project(cell_spec_id=spec["id"])
    assert [m.id for m in by_project] == [first.id]  # no built-ins under a specification
    # the item paths: a specification that does not match is a 404
    with pytest.raises(NotFoundError, match="belongs to cell specification"):
        await api.parameterized_model.update(None, first.id, {"name": "renamed"})
    renamed = await api.parameterized_model.update(
        spec["id"], first.id, {"name": "renamed", "simulation_settings": {"var_pts": {"r_n": 8}}}
    )
    assert renamed.name == "renamed" and renamed.simulation_settings == {"var_pts": {"r_n": 8}}
    cleared = await api.parameterized_model.update(
        spec["id"], first.id, {"simulation_settings": None}
    )
    assert cleared.simulation_settings is None and cleared.name == "renamed"
    with pytest.raises(ValidationError, match="parameter values are fixed"):
        await api.parameterized_model.update(spec["id"], first.id, {"parameters": {}})
    status, _ = await call(http, "GET", f"/cells/nope/parameterized_models/{first.id}")
    assert status == 404
    assert (await api.parameterized_model.get(first.id)).name == "renamed"
    await api.parameterized_model.delete(spec["id"], first.id)
    with pytest.raises(NotFoundError):
        await api.parameterized_model.get(first.id)


async def test_lists_summaries_and_built_ins(api: AsyncIonworks) -> None:
    project = await api.project.create({"name": "pm lists"})
    pm = await api.parameterized_model.create(
        None, {"name": "listed", "model_id": "SPM", "project_id": project.id}
    )
    full = await api.parameterized_model.list_by_project(project.id)
    assert full.items[0].id == pm.id and "chen2020-spme" in {m.id for m in full}
    assert full.items[0].parameters == {}
    summary = await api.parameterized_model.list_by_project(project.id, limit=2, summary=True)
    assert set(summary.items[0].to_dict()) == {
        "id", "name", "description", "cell_spec_id", "model_id", "model_name", "created_at",
        "updated_at", "simulation_settings",
    }  # fmt: skip
    assert summary.total == full.total == len(full.items)
    with pytest.raises(IonworksError, match="read only"):
        await api.parameterized_model.delete(None, "chen2020-spme")
    await api.project.delete(project.id)  # takes its parameterized models with it
    with pytest.raises(NotFoundError):
        await api.parameterized_model.get(pm.id)


async def test_models_crud_and_filters(api: AsyncIonworks) -> None:
    model = await api.model.create(
        {"name": "thermal SPMe", "config": {"type": "SPMe", "options": {"thermal": "lumped"}}}
    )
    assert model.config == {"type": "SPMe", "options": {"thermal": "lumped"}}
    assert model.project_id and model.simulation_settings is None
    page = await api.model.list(name="thermal")
    assert [m.id for m in page] == [model.id]
    assert {m.id for m in await api.model.list()} >= {model.id, "SPM", "SPMe", "DFN"}
    assert not (await api.model.list(created_by_email="someone")).items
    settings = {"var_pts": {"r_n": 10}, "solver": {"type": "IDAKLUSolver"}}
    updated = await api.model.update(model.id, {"simulation_settings": settings})
    assert await api.model.get_simulation_settings(model.id) == settings
    assert updated.simulation_settings == settings
    assert await api.model.get_simulation_settings("SPM") == {}
    # a parameterized model on it is simulatable; deleting the model takes it along
    pm = await api.parameterized_model.create(
        None, {"name": "on my model", "model_id": model.id, "parameters": "Chen2020"}
    )
    assert pm.model_name == "thermal SPMe"
    with pytest.raises(ValidationError, match=r"cannot be changed: config"):
        await api.model.update(model.id, {"config": {"type": "DFN"}})
    with pytest.raises(ValidationError, match=r"not a model of pybamm\.lithium_ion"):
        await api.model.create({"name": "bad", "config": {"type": "os.system"}})
    with pytest.raises(ValidationError, match="options"):
        await api.model.create(
            {"name": "bad", "config": {"type": "SPM", "options": {"thermal": "hot"}}}
        )
    await api.model.delete(model.id)
    for gone in (api.model.get(model.id), api.parameterized_model.get(pm.id)):
        with pytest.raises(NotFoundError):
            await gone


async def test_uploaded_custom_model(api: AsyncIonworks, http: aiohttp.ClientSession) -> None:
    status, model = await call(
        http, "POST", "/models/upload-custom", data=model_form(decay_model_json(), chemistry="generic")
    )  # fmt: skip
    assert status == 201 and model["is_custom_model"] is True
    assert (
        model["config"] == {"type": "custom", "name": "decay"} and model["chemistry"] == "generic"
    )
    status, error = await call(
        http, "POST", "/parameterized_models", json={"name": "no k", "model_id": model["id"]}
    )
    assert status == 422 and "needs 1 parameter(s) that are not set: 'k'" in error["detail"]
    pm = await api.parameterized_model.create(
        None, {"name": "k = 2", "model_id": model["id"], "parameters": {"k": 2.0}}
    )
    assert await api.parameterized_model.get_variable_names(pm.id) == ["x"]
    assert await api.parameterized_model.get_parameter_values(pm.id) == {"k": 2.0}
    with pytest.raises(ValidationError, match=r"uploaded custom model .* simulates PyBaMM's"):
        await api.simulation.protocol(
            {
                "parameterized_model": pm.id,
                "protocol_experiment": {"protocol": SEED_SINGLE, "name": "1C"},
            }
        )
    variable = {"name": "twice x", "expression": "2 * {x}"}
    changed = await api.model.add_custom_variable(model["id"], variable)
    assert changed.custom_variables == [variable]
    await api.model.delete(model["id"])


async def test_a_subclass_from_elsewhere_loads_as_its_pybamm_base(
    api: AsyncIonworks, http: aiohttp.ClientSession
) -> None:
    document = json.loads(decay_model_json())
    document["model"]["base_class"] = "zoo_package.models.Decay"
    document["model"]["base_class_mro"].insert(0, "zoo_package.models.Decay")
    form = model_form(json.dumps(document).encode(), name="zoo decay")
    status, model = await call(http, "POST", "/models/upload-custom", data=form)
    assert status == 201, model  # PyBaMM's own fallback: the closest PyBaMM ancestor
    pm = await api.parameterized_model.create(
        None, {"name": "zoo k", "model_id": model["id"], "parameters": {"k": 1.0}}
    )
    assert await api.parameterized_model.get_variable_names(pm.id) == ["x"]
    assert "zoo_package" not in sys.modules
    await api.model.delete(model["id"])


async def test_custom_variables_are_checked(api: AsyncIonworks) -> None:
    model = await api.model.create({"name": "SPM + power", "config": {"type": "SPM"}})
    power = {"name": "Cell power [W]", "expression": "{Voltage [V]} * {Current [A]}"}
    assert (await api.model.add_custom_variable(model.id, power)).custom_variables == [power]
    squared = {"name": "Power squared", "expression": "{Cell power [W]} ** 2"}
    assert len((await api.model.add_custom_variable(model.id, squared)).custom_variables) == 2
    for data, message in (
        ({"name": "v", "expression": "{Voltag [V]}"}, r"did you mean 'Voltage \[V\]'"),
        ({"name": "v", "expression": "{Voltage [V]} +"}, "'expression'"),
        ({"name": "Voltage [V]", "expression": "1"}, "already has a variable"),
        ({"name": "v"}, "send exactly 'name' and 'expression'"),
    ):
        with pytest.raises(ValidationError, match=message):
            await api.model.add_custom_variable(model.id, data)
    with pytest.raises(IonworksError, match="read only"):
        await api.model.add_custom_variable("SPM", power)
    await api.model.delete(model.id)


async def test_serialize_says_the_ionworks_models_are_not_here(api: AsyncIonworks) -> None:
    with pytest.raises(NotFoundError, match="licensed ionworkspipeline"):
        await api.model.serialize("ECM")
    with pytest.raises(NotFoundError, match="no Ionworks model 'LumpedSPMR'"):
        await api.model.download("LumpedSPMR")


def test_only_the_repositories_write_the_model_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    db = "ionworks/server/db/"
    owners = {
        "models": db + "models.py",
        "model_documents": db + "models.py",
        "parameterized_models": db + "parameterized_models.py",
    }
    monkeypatch.setattr(scan, "OWNERS", owners)
    root = Path(__file__).resolve().parents[2]
    found = []
    for file in sorted((root / "ionworks").rglob("*.py")):
        path = file.relative_to(root).as_posix()
        found += scan.sql_writes(file.read_text(encoding="utf-8"), path)
    assert not found, "\n".join(found)
