"""Official-client checks of ``client.cell_spec`` and ``client.cell_instance`` against our
server (issue 18): create, ``create_or_get`` on a 409 naming the existing record, get, list
filters, update, ``related_specs``, ``detail`` and delete (a specification with instances is
a 409). Loaded by ``drive_official.py`` in the official client's venv."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _common import status_of


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state

    client = driver.require_client

    def cell_specs() -> str:
        c = client()
        (pid,) = driver.need("project_id")
        suffix = str(int(time.time() * 1000))
        graphite, nmc = f"graphite-{suffix}", f"nmc-{suffix}"
        spec = c.cell_spec.create(
            {
                "name": f"official spec {suffix}",
                "project_id": pid,
                "form_factor": "pouch",
                "anode": {"material_id": graphite},
                "cathode": {"material_id": nmc},
            }
        )
        assert spec.name == f"official spec {suffix}" and spec.project_id == pid
        again = c.cell_spec.create_or_get({"name": spec.name, "project_id": pid})
        assert again.id == spec.id, again
        assert status_of(lambda: c.cell_spec.create({"name": spec.name, "project_id": pid})) == 409
        assert c.cell_spec.get(spec.id).anode == {"material_id": graphite}
        listed = c.cell_spec.list(name_exact=spec.name, project_id=pid)
        assert [s.id for s in listed] == [spec.id], listed
        assert [s.id for s in c.cell_spec.list(form_factor="pouch", name=suffix)] == [spec.id]
        sibling = c.cell_spec.create(
            {
                "name": f"official sibling {suffix}",
                "project_id": pid,
                "anode": {"material_id": graphite},
            }
        )
        related = c.cell_spec.related_specs(spec.id)
        assert [s.id for s in related] == [sibling.id], related
        assert list(c.cell_spec.related_specs(spec.id, slots=["cathode"])) == []
        with_self = c.cell_spec.related_specs(spec.id, slots=["anode"], exclude_self=False)
        assert {s.id for s in with_self} == {spec.id, sibling.id}
        full = c.cell_spec.list(include_components=True, material_id=graphite, project_id=pid)
        assert {s.id for s in full} == {spec.id, sibling.id}
        updated = c.cell_spec.update(spec.id, {"nominal_capacity": 5.0})
        assert updated.nominal_capacity == 5.0 and updated.form_factor == "pouch"
        state["cell_spec"], state["cell_sibling"] = spec.id, sibling.id
        return f"specs {spec.id}, {sibling.id}"

    def cell_instances() -> str:
        c = client()
        spec_id, sibling_id = driver.need("cell_spec", "cell_sibling")
        cell = c.cell_instance.create(spec_id, {"name": "Cell 001", "notes": "n"})
        assert cell.cell_specification_id == spec_id and cell.batch_id is None
        assert c.cell_instance.create_or_get(spec_id, {"name": "Cell 001"}).id == cell.id
        assert status_of(lambda: c.cell_instance.create(spec_id, {"name": "Cell 001"})) == 409
        try:
            c.cell_instance.create(spec_id, {"name": "x", "batch": "LOT"})
        except ValueError:
            pass
        else:
            raise AssertionError("the removed 'batch' field was accepted")
        second = c.cell_instance.create(spec_id, {"name": "Cell 002"})
        assert c.cell_instance.get(second.id).name == "Cell 002"
        names = [i.name for i in c.cell_instance.list(spec_id, order_by="name", order="asc")]
        assert names == ["Cell 001", "Cell 002"], names
        assert [i.id for i in c.cell_instance.list(spec_id, name_exact="Cell 002")] == [second.id]
        assert c.cell_instance.update(cell.id, {"notes": "m"}).notes == "m"
        assert status_of(lambda: c.cell_instance.update(cell.id, {"name": "Cell 002"})) == 409
        detail = c.cell_instance.detail(cell.id)
        assert detail.instance.id == cell.id and detail.specification_id == spec_id
        assert detail.measurements == []
        assert status_of(lambda: c.cell_spec.delete(spec_id)) == 409  # it has instances
        for instance in (cell, second):
            c.cell_instance.delete(instance.id)
        assert status_of(lambda: c.cell_instance.get(cell.id)) == 404
        for sid in (spec_id, sibling_id):
            c.cell_spec.delete(sid)
        assert status_of(lambda: c.cell_spec.get(spec_id)) == 404
        return f"instances {cell.id}, {second.id}; specs deleted"

    return [("cell_spec methods", cell_specs), ("cell_instance methods", cell_instances)]
