"""The platform routes on the real local server: ``/users/me``, ``/discovery/*`` and the
cell-specification list (hostile inputs: tests/faults/test_platform_routes.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pybamm
import pytest

from ionworks import AsyncIonworks
from ionworks.errors import AuthenticationError, NotFoundError
from ionworks.server.engine.safe_pybamm import MODEL_MODULES, model_class_of
from ionworks.ucp.json_schema import protocol_schema
from tests.server.conftest import KEY_A, KEY_B


@pytest.fixture
async def api_b(server_url: str) -> AsyncIterator[AsyncIonworks]:
    async with AsyncIonworks(api_key=KEY_B, api_url=server_url) as client:
        yield client


# --- /users/me -------------------------------------------------------------------------------


async def test_users_me_is_the_keys_owner_stable_and_without_an_email(
    api: AsyncIonworks, api_b: AsyncIonworks, server_url: str
) -> None:
    me = await api.get("/users/me")
    assert me["email"] is None
    assert isinstance(me["name"], str) and me["name"]
    assert me["authorized_organization"]["id"] == me["id"]
    assert me["organizations"] == [me["authorized_organization"]]
    project = (await api.project.list())[0]
    assert project.organization_id == me["id"]  # the owner of the key's records
    async with AsyncIonworks(api_key=KEY_A, api_url=server_url) as again:
        assert (await again.get("/users/me"))["id"] == me["id"]
    assert (await api_b.get("/users/me"))["id"] != me["id"]


async def test_users_me_needs_a_valid_key(server_url: str) -> None:
    async with AsyncIonworks(api_key="not-a-key", api_url=server_url) as client:
        with pytest.raises(AuthenticationError):
            await client.get("/users/me")


# --- capabilities and schemas ----------------------------------------------------------------


async def test_capabilities_point_at_schemas_that_exist(api: AsyncIonworks) -> None:
    caps = await api.get("/discovery/capabilities")
    assert {"domain_context", "schemas", "openapi_spec", "authentication"} <= set(caps)
    assert "Discharge" in caps["domain_context"]["step_types"]
    assert set(caps["schemas"]) == {"data", "protocol"}
    for path in caps["schemas"].values():
        assert isinstance(await api.get(path), dict)
    assert caps["authentication"]["whoami"] == "/users/me"


async def test_the_protocol_schema_is_the_generated_one(api: AsyncIonworks) -> None:
    served = await api.get("/discovery/schemas/protocol")
    assert served == json.loads(json.dumps(protocol_schema()))
    assert served["$schema"].endswith("2020-12/schema")
    assert served["required"] == ["steps"]


async def test_the_data_schema_describes_the_hierarchy(api: AsyncIonworks) -> None:
    data = await api.get("/discovery/schemas/data")
    names = [level["name"] for level in data["hierarchy"]]
    assert names[:3] == ["cell_specification", "cell_instance", "cell_measurement"]
    assert data["time_series"]["required_columns"] == ["Time [s]", "Current [A]", "Voltage [V]"]
    for level in data["hierarchy"]:
        assert level["parent"] is None or level["parent"] in names


async def test_an_unknown_schema_is_a_404_naming_the_known_ones(api: AsyncIonworks) -> None:
    with pytest.raises(NotFoundError, match="data, protocol"):
        await api.get("/discovery/schemas/materials")


# --- PyBaMM models ---------------------------------------------------------------------------


async def test_pybamm_models_lists_exactly_what_the_allow_list_accepts(api: AsyncIonworks) -> None:
    listing = await api.get("/discovery/pybamm_models")
    assert set(listing["pybamm_models"]) == set(MODEL_MODULES)
    assert {"SPM", "SPMe", "DFN"} <= set(listing["pybamm_models"]["lithium_ion"])
    for module, names in listing["pybamm_models"].items():
        namespace = vars(vars(pybamm)[module])
        for name in names:
            model_class_of(module, name)  # raises if listed but refused
        refused = [n for n, v in namespace.items() if isinstance(v, type) and n not in names]
        for name in refused:
            with pytest.raises(Exception, match="not a model"):
                model_class_of(module, name)
    assert "lumped" in listing["options"]["thermal"]
    assert listing["pybamm_version"] == pybamm.__version__
    assert "chen2020-spm" in listing["catalog"]["parameterized_models"]
    assert listing["ionworks_models"] == {}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"pybamm_model": "DFN", "options": {"thermal": "lumped"}}, {"valid": True}),
        ({"pybamm_model": "SPM"}, {"valid": True}),
        ({"pybamm_model": "LOQS", "module": "lead_acid", "options": {}}, {"valid": True}),
        ({"pybamm_model": "Thevenin", "module": "equivalent_circuit"}, {"valid": True}),
    ],
)
async def test_buildable_models_are_valid(
    api: AsyncIonworks, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert await api.post("/discovery/pybamm_models/validate", body) == expected


@pytest.mark.parametrize(
    ("body", "error_type", "words"),
    [
        ({"pybamm_model": "DFN", "options": {"thermal": "bogus"}}, "OptionError", "bogus"),
        ({"pybamm_model": "DFN", "options": {"no such option": "x"}}, "OptionError", "no such"),
        ({"pybamm_model": "MSMR"}, "OptionError", "MSMR"),
        ({"pybamm_model": "Nope"}, "UnknownModelError", "'Nope' is not a model"),
        ({"pybamm_model": "DFN", "module": "os"}, "UnknownModelError", "expected one of"),
        ({"pybamm_model": "__class__"}, "UnknownModelError", "is not a model"),
        ({"pybamm_model": "Symbol", "module": "lithium_ion"}, "UnknownModelError", "not a model"),
    ],
)
async def test_unbuildable_models_are_invalid_with_the_error_and_its_type(
    api: AsyncIonworks, body: dict[str, Any], error_type: str, words: str
) -> None:
    answer = await api.post("/discovery/pybamm_models/validate", body)
    assert answer["valid"] is False and answer["error_type"] == error_type
    assert words in answer["error"]


# --- GET /cell_specifications ----------------------------------------------------------------


async def test_cell_specifications_list_filters_by_project_and_name_and_owner(
    api: AsyncIonworks, api_b: AsyncIonworks
) -> None:
    project = await api.project.create({"name": "specs list"})
    other = await api.project.create({"name": "specs list (other)"})
    spec = await api.post("/cell_specifications", {"name": "Spec X", "project_id": project.id})
    await api.post("/cell_specifications", {"name": "Spec Y", "project_id": project.id})
    await api.post("/cell_specifications", {"name": "Spec X", "project_id": other.id})
    page = await api.get(f"/cell_specifications?project_id={project.id}&name=eq.Spec%20X")
    assert [s["id"] for s in page["items"]] == [spec["id"]] and page["total"] == 1
    assert page["items"][0]["project_id"] == project.id
    named = await api.get("/cell_specifications?name=eq.Spec%20X")
    assert {s["project_id"] for s in named["items"]} >= {project.id, other.id}
    ordered = await api.get(f"/cell_specifications?project_id={project.id}&order_by=name")
    assert [s["name"] for s in ordered["items"]] == ["Spec X", "Spec Y"]
    assert (await api_b.get("/cell_specifications?name=eq.Spec%20X"))["total"] == 0
    with pytest.raises(NotFoundError):
        await api_b.get(f"/cell_specifications?project_id={project.id}")
