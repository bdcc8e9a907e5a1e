"""Checks of ``client.model`` and ``client.parameterized_model``: the OFFICIAL client against our
server (run by ``drive_official.py``; see its ``EXTRA_CHECKS``)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = (Path(__file__).resolve().parents[1] / "data" / "protocols" / "seed_single.yaml").read_text(
    encoding="utf-8"
)
CAPACITY = "Nominal cell capacity [A.h]"
D_N = "Negative particle diffusivity [m2.s-1]"
WAIT = 180


def _decay(pybamm: Any, cls: Any = None) -> Any:
    """A tiny custom PyBaMM model: ``dx/dt = -k x``."""
    model = (cls or pybamm.BaseModel)(name="decay")
    x, k = pybamm.Variable("x"), pybamm.Parameter("k")
    model.rhs, model.initial_conditions, model.variables = {x: -k * x}, {x: 1}, {"x": x}
    return model


def _refused(call: Callable[[], Any], status: int, text: str) -> str:
    """``call`` raises the official ``IonworksError`` with ``status`` and ``text``."""
    from ionworks.errors import IonworksError

    try:
        call()
    except IonworksError as exc:
        assert exc.status_code == status, f"status {exc.status_code}: {exc}"
        assert text in str(exc), f"{text!r} not in {exc}"
        return str(exc)
    raise AssertionError(f"no error (expected {status})")


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    def client() -> Any:
        driver.need("project_id")
        return driver.require_client()

    def spec_id() -> str:
        if "models_spec" not in driver.state:
            driver.state["models_spec"] = client().cell_spec.create({"name": "models spec"}).id
        return str(driver.state["models_spec"])

    def model_crud() -> str:
        c = client()
        model = c.model.create({"name": "official SPMe", "config": {"type": "SPMe"}})
        assert model.config == {"type": "SPMe"} and model.project_id, model
        assert c.model.get(model.id).name == "official SPMe"
        assert [m.id for m in c.model.list(name="official SPMe")] == [model.id]
        assert {"SPM", "SPMe", "DFN"} <= {m.id for m in c.model.list()}
        settings = {"var_pts": {"r_n": 12}}
        updated = c.model.update(model.id, {"simulation_settings": settings})
        assert updated.simulation_settings == settings
        assert c.model.get_simulation_settings(model.id) == settings
        assert c.model.update(model.id, {"simulation_settings": None}).simulation_settings is None
        assert c.model.get_simulation_settings(model.id) == {}
        driver.state["models_model"] = model.id
        return f"model {model.id}"

    def upload_and_variables() -> str:
        import pybamm

        c = client()
        model = c.model.upload_custom(_decay(pybamm), name="decay", chemistry="generic")
        assert model.is_custom_model is True and model.config == {"type": "custom", "name": "decay"}
        variable = {"name": "twice x", "expression": "2 * {x}"}
        changed = c.model.add_custom_variable(model.id, variable)
        assert changed.custom_variables == [variable], changed
        _refused(
            lambda: c.model.add_custom_variable(model.id, {"name": "y", "expression": "{z}"}),
            422, "unknown variable",
        )  # fmt: skip
        pm = c.parameterized_model.create(
            None, {"name": "k = 2", "model_id": model.id, "parameters": {"k": 2.0}}
        )
        assert c.parameterized_model.get_variable_names(pm.id) == ["x"]
        _refused(
            lambda: c.simulation.protocol(
                {"parameterized_model": pm.id, "protocol_experiment": {"protocol": SEED, "name": "x"}}
            ),
            422, "custom model",
        )  # fmt: skip
        c.model.delete(model.id)  # takes its parameterized model along
        _refused(lambda: c.parameterized_model.get(pm.id), 404, "not found")
        return f"custom model {model.id}"

    def from_zoo() -> str:
        import pybamm

        class ZooDecay(pybamm.BaseModel):  # type: ignore[misc]
            @property
            def default_parameter_values(self) -> Any:
                return pybamm.ParameterValues({"k": 1.0})

        entry = types.SimpleNamespace(
            name="ZooDecay", summary="decays", load=lambda: lambda options=None: _decay(pybamm, ZooDecay)
        )  # fmt: skip
        zoo = types.ModuleType("pybamm_model_zoo")
        zoo.info = lambda name: entry  # type: ignore[attr-defined]
        sys.modules["pybamm_model_zoo"] = zoo
        try:
            c = client()
            made = c.model.create_from_zoo("ZooDecay", cell_spec_id=spec_id())
            assert made.model.is_custom_model and made.parameterized_model.name == "ZooDecay"
            assert c.parameterized_model.get_parameter_values(made.parameterized_model.id) == {
                "k": 1.0
            }
            before = {m.id for m in c.model.list()}
            _refused(
                lambda: c.model.create_from_zoo("ZooDecay", parameter_values={"kk": 1.0}),
                422, "did you mean 'k'",
            )  # fmt: skip
            assert {m.id for m in c.model.list()} == before, "the refused import left its model"
        finally:
            del sys.modules["pybamm_model_zoo"]
        return f"model {made.model.id}, parameterized model {made.parameterized_model.id}"

    def serialize_download() -> str:
        c = client()
        message = _refused(lambda: c.model.serialize("ECM"), 404, "licensed ionworkspipeline")
        _refused(lambda: c.model.download("LumpedSPMR"), 404, "no Ionworks model")
        return message[:60]

    def simulate_by_id() -> str:
        c = client()
        pm = c.parameterized_model.create(
            None,
            {"name": "half capacity", "model_id": "chen2020-spm", "parameters": {CAPACITY: 2.5}},
        )
        sim = c.simulation.protocol(
            {"parameterized_model": pm.id, "protocol_experiment": {"protocol": SEED, "name": "1C"}}
        )
        c.simulation.wait_for_completion(sim.simulation_id, timeout=WAIT, verbose=False)
        current = list(c.simulation.get_result(sim.simulation_id).time_series["Current [A]"])
        assert abs(max(current) - 2.5) < 1e-6, f"current {max(current)} A, want 2.5 A"
        values = c.parameterized_model.get_parameter_values(pm.id)
        assert values[CAPACITY] == 2.5 and D_N in values
        assert "Voltage [V]" in c.parameterized_model.get_variable_names(pm.id)
        driver.state["models_pm"] = pm.id
        return f"simulation {sim.simulation_id} of {pm.id}: 1C = 2.5 A"

    def cell_spec_routes() -> str:
        c = client()
        spec = spec_id()
        data = {"name": "M50", "model_id": "SPMe", "parameters": "Chen2020"}
        pm = c.parameterized_model.create(spec, data)
        assert pm.cell_spec_id == spec and pm.parameters[CAPACITY] == 5.0
        assert c.parameterized_model.create_or_get(spec, data).id == pm.id
        listed = c.parameterized_model.list_by_cell_specification(spec)
        assert pm.id in [m.id for m in listed]
        renamed = c.parameterized_model.update(spec, pm.id, {"name": "M50 v2"})
        assert renamed.name == "M50 v2"
        _refused(lambda: c.parameterized_model.update(None, pm.id, {"name": "x"}), 404, "not found")
        _refused(lambda: c.parameterized_model.delete(None, pm.id), 404, "not found")
        c.parameterized_model.delete(spec, pm.id)
        _refused(lambda: c.parameterized_model.get(pm.id), 404, "not found")
        return f"spec {spec}: create/create_or_get/list/update/delete"

    def project_lists() -> str:
        c = client()
        (pm_id,) = driver.need("models_pm")
        full = c.parameterized_model.list_by_project()
        assert pm_id in [m.id for m in full] and "chen2020-spme" in [m.id for m in full]
        summary = c.parameterized_model.list_by_project(limit=5, summary=True)
        keys = set(summary.items[0].model_dump()) if summary.items else set()
        assert "parameters" not in keys and {"id", "name", "model_id"} <= keys, keys
        _refused(
            lambda: c.parameterized_model.create(
                None, {"name": "typo", "model_id": "SPM", "parameters": {"Negative particle difusivity [m2.s-1]": 1}}
            ),
            422, f"did you mean '{D_N}'",
        )  # fmt: skip
        c.parameterized_model.delete(None, pm_id)
        (model_id,) = driver.need("models_model")
        c.model.delete(model_id)
        _refused(lambda: c.model.get(model_id), 404, "not found")
        return f"{full.total} parameterized model(s) in the project"

    return [
        ("model.create/get/list/update/get_simulation_settings", model_crud),
        ("model.upload_custom/add_custom_variable/delete (custom model)", upload_and_variables),
        ("model.create_from_zoo (stand-in zoo module)", from_zoo),
        ("model.serialize/download (clear 404: no licensed models)", serialize_download),
        ("parameterized_model.create + simulation.protocol by its id", simulate_by_id),
        (
            "parameterized_model under a cell spec (create_or_get, list, update, delete)",
            cell_spec_routes,
        ),
        ("parameterized_model.list_by_project(summary) + close matches", project_lists),
    ]
