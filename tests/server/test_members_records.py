"""Integration: project members and the records a project holds besides studies, simulations,
protocols and pipelines — cell specifications and instances, measurements (the whole upload),
models and parameterized models — on both clients: a contributor creates and reads them, a
viewer only reads, a non-member (or a removed member) gets 404, and the owner's other projects
stay private."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ionworks.errors import NotFoundError, PermissionDeniedError, ValidationError
from tests.server.conftest import all_not_found

pl = pytest.importorskip("polars")

SPMe = {"type": "SPMe"}
PARAMETERS = "Chen2020"


def frame(rows: int = 5) -> Any:
    t = [float(i) for i in range(rows)]
    return pl.DataFrame(
        {"Time [s]": t, "Current [A]": [1.0] * rows, "Voltage [V]": [4.0 - i / 100 for i in t]}
    )


async def records(api: Any, pid: str, tag: str) -> dict[str, Any]:
    """A cell specification, instance, measurement, model and parameterized model in ``pid``
    (created by ``api``), by kind."""
    spec = await api.post("/cell_specifications", {"name": f"spec {tag}", "project_id": pid})
    instance = await api.post(
        f"/cell_specifications/{spec['id']}/cell_instances", {"name": f"cell {tag}"}
    )
    measured = await api.cell_measurement.upload(
        frame(), name=f"data {tag}", cell_instance_id=instance["id"]
    )
    model = await api.model.create({"name": f"model {tag}", "config": SPMe, "project_id": pid})
    pm = await api.parameterized_model.create(
        spec["id"], {"name": f"pm {tag}", "model_id": model.id, "parameters": PARAMETERS}
    )
    return {"spec": spec, "instance": instance, "measurement": measured, "model": model, "pm": pm}


def reads(api: Any, pid: str, made: dict[str, Any]) -> list[Callable[[], Awaitable[Any]]]:
    """Every read of ``made`` (see :func:`records`), by id and by project."""
    spec, ci = made["spec"]["id"], made["instance"]["id"]
    mid, model, pm = made["measurement"].id, made["model"].id, made["pm"].id
    return [
        lambda: api.get(f"/cell_specifications/{spec}"),
        lambda: api.get(f"/cell_specifications?project_id={pid}"),
        lambda: api.get(f"/cell_specifications/{spec}/cell_instances"),
        lambda: api.get(f"/cell_instances/{ci}"),
        lambda: api.get(f"/cell_instances?project_id={pid}"),
        lambda: api.cell_measurement.list(ci),
        lambda: api.cell_measurement.list_by_project(pid),
        lambda: api.cell_measurement.get(mid),
        lambda: api.cell_measurement.time_series(mid),
        lambda: api.model.get(model),
        lambda: api.model.list(project_id=pid),
        lambda: api.parameterized_model.get(pm),
        lambda: api.parameterized_model.list_by_project(pid),
        lambda: api.parameterized_model.list_by_cell_specification(spec),
    ]


def writes(api: Any, pid: str, made: dict[str, Any]) -> list[Callable[[], Awaitable[Any]]]:
    """A write of each kind of ``made`` (see :func:`records`)."""
    spec, ci = made["spec"]["id"], made["instance"]["id"]
    mid, model, pm = made["measurement"].id, made["model"].id, made["pm"].id
    return [
        lambda: api.post("/cell_specifications", {"name": "no", "project_id": pid}),
        lambda: api.post(f"/cell_specifications/{spec}/cell_instances", {"name": "no"}),
        lambda: api.cell_measurement.upload(frame(), name="no", cell_instance_id=ci),
        lambda: api.cell_measurement.update(mid, {"notes": "no"}),
        lambda: api.cell_measurement.delete(mid),
        lambda: api.model.create({"name": "no", "config": SPMe, "project_id": pid}),
        lambda: api.model.update(model, {"name": "no"}),
        lambda: api.model.delete(model),
        lambda: api.parameterized_model.create(spec, {"name": "no", "model_id": "SPMe"}),
        lambda: api.parameterized_model.create(
            None, {"name": "no", "model_id": "SPMe", "project_id": pid}
        ),
        lambda: api.parameterized_model.update(spec, pm, {"name": "no"}),
        lambda: api.parameterized_model.delete(spec, pm),
    ]


async def pending(api: Any, instance_id: str) -> str:
    """The confirm-upload path of a measurement ``api`` initiated (nothing uploaded yet)."""
    path = f"/cell_instances/{instance_id}/cell_measurements/initiate-upload"
    body = await api.post(path, {"measurement": {"name": "pending"}})
    return f"/cell_measurements/{body['measurement_id']}/confirm-upload"


async def discard(api: Any, confirm: str) -> None:
    """Confirm nothing uploaded: the 422 that discards the upload (still ``api``'s)."""
    with pytest.raises(ValidationError, match=r"time_series\.parquet was not uploaded"):
        await api.post(confirm, {})


async def test_contributor_creates_and_reads_the_projects_records(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    await owner_api.project.add_member(pid, member, "Project Contributor")
    made = await records(member_api, pid, "by member")
    for read in reads(member_api, pid, made):
        assert await read() is not None
    spec, ci, measured = made["spec"], made["instance"], made["measurement"]
    assert spec["project_id"] == ci["project_id"] == measured.project_id == pid
    assert (await member_api.cell_measurement.time_series(measured.id)).height == 5
    assert [m.id for m in await member_api.cell_measurement.list(ci["id"])] == [measured.id]
    found = await member_api.resolve_measurement(
        "spec by member", "cell by member", "data by member", project_id=pid
    )
    assert found.id == measured.id
    # the project's default cell instance, as upload(project_id=…) finds it
    default = await member_api.cell_measurement.upload(frame(3), name="default", project_id=pid)
    assert (await owner_api.cell_measurement.get(default.id)).project_id == pid
    # everything belongs to the project's owner, in the project
    assert (await owner_api.get(f"/cell_instances/{ci['id']}"))["name"] == "cell by member"
    assert (await owner_api.model.get(made["model"].id)).project_id == pid
    owner_pms = await owner_api.parameterized_model.list_by_project(pid, cell_spec_id=spec["id"])
    assert [p.id for p in owner_pms] == [made["pm"].id]
    listed = await member_api.model.list(project_id=pid)
    assert made["model"].id in {m.id for m in listed} and "SPMe" in {m.id for m in listed}
    values = await member_api.parameterized_model.get_parameter_values(made["pm"].id)
    assert values["Nominal cell capacity [A.h]"] == 5.0
    # the built-in models stay readable
    assert (await member_api.model.get("SPMe")).is_builtin
    assert (await member_api.parameterized_model.get("chen2020-spm")).is_builtin
    # a contributor changes and deletes them
    assert (await member_api.cell_measurement.update(measured.id, {"notes": "n"})).notes == "n"
    await member_api.parameterized_model.delete(spec["id"], made["pm"].id)
    await member_api.model.delete(made["model"].id)
    await member_api.cell_measurement.delete(measured.id)
    await all_not_found(lambda: owner_api.cell_measurement.get(measured.id))


async def test_the_owners_other_projects_stay_private(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, other, member = shared
    private = await records(owner_api, other, "private")
    await owner_api.project.add_member(pid, member, "Project Contributor")
    await all_not_found(*reads(member_api, other, private), *writes(member_api, other, private))
    # nor through the shared project: a stored model named as the base of a new one
    base = {"name": "on private", "model_id": private["model"].id, "project_id": pid}
    with pytest.raises(NotFoundError, match=f"model '{private['model'].id}' not found"):
        await member_api.parameterized_model.create(None, base)
    spec = await member_api.post("/cell_specifications", {"name": "shared", "project_id": pid})
    with pytest.raises(NotFoundError):
        await member_api.parameterized_model.create(spec["id"], base)
    # nor the owner's pending upload of the other project
    confirm = await pending(owner_api, private["instance"]["id"])
    with pytest.raises(NotFoundError, match="no pending upload"):
        await member_api.post(confirm, {})
    await discard(owner_api, confirm)


async def test_viewer_reads_the_records_and_writes_none(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    await owner_api.project.add_member(pid, member, "Project Viewer")
    made = await records(owner_api, pid, "owner's")  # the owner's, in the shared project
    for read in reads(member_api, pid, made):
        assert await read() is not None
    for write in writes(member_api, pid, made):
        with pytest.raises(PermissionDeniedError, match="'Project Viewer'"):
            await write()
    # nor confirm the owner's upload in the project
    confirm = await pending(owner_api, made["instance"]["id"])
    with pytest.raises(PermissionDeniedError, match="'Project Viewer'"):
        await member_api.post(confirm, {})
    await discard(owner_api, confirm)
    assert (await owner_api.cell_measurement.get(made["measurement"].id)).notes is None


async def test_non_members_and_removed_members_get_404(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    made = await records(owner_api, pid, "team")
    await all_not_found(*reads(member_api, pid, made), *writes(member_api, pid, made))
    await owner_api.project.add_member(pid, member, "Project Contributor")
    kept = await records(member_api, pid, "kept")
    await owner_api.project.remove_member(pid, member)
    for made_by in (made, kept):
        await all_not_found(*reads(member_api, pid, made_by), *writes(member_api, pid, made_by))
    # what the member created stays in the project, the owner's
    assert (await owner_api.cell_measurement.get(kept["measurement"].id)).project_id == pid
    assert (await owner_api.parameterized_model.get(kept["pm"].id)).name == "pm kept"
