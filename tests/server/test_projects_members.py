"""Integration: project members on the local server (a member is another key's owner), on both
clients: what a member sees and may do per role, and that non-members still see nothing."""

from __future__ import annotations

from typing import Any

import pytest

from ionworks import AsyncIonworks
from ionworks.errors import NotFoundError, PermissionDeniedError, ValidationError
from tests.server.conftest import all_not_found, user_id
from tests.ucp.protocols import SEED_SINGLE

WAIT = {"timeout": 120, "poll_interval": 0.1, "verbose": False}
FAILING = {"elements": {"x": {"element_type": "nope"}}}  # accepted, fails in its job
NAMES = ["Project Admin", "Project Contributor", "Project Viewer"]


async def test_roles_are_the_three_fixed_ones(owner_api: Any) -> None:
    roles = await owner_api.project.roles()
    assert [r.name for r in roles] == NAMES
    assert len({r.id for r in roles}) == 3 and all(r.description for r in roles)


async def test_contributor_reads_and_writes_the_project(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, other, member = shared
    await all_not_found(
        lambda: member_api.project.get(pid),
        lambda: member_api.study.list(project_id=pid),
    )
    assert not await member_api.pipeline.list(project_id=pid)  # its own records: none there
    await owner_api.project.add_member(pid, member)  # the default role: contributor
    listed = {p.id: p for p in await member_api.project.list()}
    assert pid in listed and other not in listed
    assert listed[pid].role_name == "Project Contributor" and listed[pid].is_default is False
    assert (await member_api.project.get(pid)).name == "team"
    study = await member_api.study.create({"name": "by member"}, project_id=pid)
    assert [s.id for s in await owner_api.study.list(project_id=pid)] == [study.id]
    pipeline = await member_api.pipeline.create(FAILING, project_id=pid, name="by member")
    done = await member_api.pipeline.wait_for_completion(
        pipeline.id, raise_on_failure=False, **WAIT
    )
    assert done.is_failed
    assert (await owner_api.pipeline.get(pipeline.id)).name == "by member"
    assert [p.id for p in await member_api.pipeline.list(project_id=pid)] == [pipeline.id]
    job_id = (await member_api.pipeline.elements(pipeline.id))[0].job_id
    assert (await member_api.job.get(job_id)).is_failed
    assert await member_api.job.get_series_channels(job_id) == {}
    # the owner's other project stays private: by name and by record
    private = await owner_api.pipeline.create(FAILING, project_id=other)
    private_job = (await owner_api.pipeline.elements(private.id))[0].job_id
    await all_not_found(
        lambda: member_api.project.get(other),
        lambda: member_api.study.list(project_id=other),
        lambda: member_api.pipeline.get(private.id),
        lambda: member_api.job.get(private_job),
        lambda: member_api.study.create({"name": "x"}, project_id=other),
    )
    assert private.id not in {p.id for p in await member_api.pipeline.list(limit=100)}
    assert not await member_api.pipeline.list(project_id=other)
    # nor its measurements, through a data reference in a pipeline of the shared project
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {"Time [s]": [0.0, 1.0], "Current [A]": [1.0, 1.0], "Voltage [V]": [4.0, 3.9]}
    )
    measured = await owner_api.cell_measurement.upload(frame, name="private data")
    check = {"element_type": "validation", "objectives": {"v": {"data": f"db:{measured.id}"}}}
    with pytest.raises(NotFoundError, match=f"measurement '{measured.id}' not found"):
        await member_api.simple_pipeline.create({"elements": {"check": check}}, project_id=pid)
    await owner_api.study.assign_measurement(study.id, measured.id, pid)  # the owner may
    assert (await owner_api.study.list_measurements(study.id, pid))["total"] == 1
    assert (await member_api.study.list_measurements(study.id, pid))["items"] == []
    await owner_api.cell_measurement.delete(measured.id)


async def test_viewer_reads_only_and_admin_manages(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    study = await owner_api.study.create({"name": "owner's"}, project_id=pid)
    await owner_api.project.add_member(pid, member, "project viewer")  # any case
    assert [s.id for s in await member_api.study.list(project_id=pid)] == [study.id]
    for write in (
        lambda: member_api.study.create({"name": "no"}, project_id=pid),
        lambda: member_api.study.update(study.id, {"name": "no"}, project_id=pid),
        lambda: member_api.project.update(pid, {"name": "no"}),
        lambda: member_api.project.add_member(pid, member, "Project Admin"),
    ):
        with pytest.raises(PermissionDeniedError, match="'Project Viewer'"):
            await write()
    with pytest.raises(ValueError, match=r"Access denied.*'Project Viewer'"):  # as official
        await member_api.pipeline.create(FAILING, project_id=pid)
    roles = {r.name: r.id for r in await owner_api.project.roles()}
    await owner_api.project.update_member(pid, member, roles["Project Admin"])  # by id
    assert (await member_api.project.update(pid, {"name": "renamed"})).name == "renamed"
    await member_api.project.update_member(pid, member, "Project Contributor")
    with pytest.raises(PermissionDeniedError):
        await member_api.project.update(pid, {"name": "again"})
    await owner_api.project.update_member(pid, member, "Project Admin")
    with pytest.raises(PermissionDeniedError, match="only the owner"):
        await member_api.project.delete(pid)


async def test_removed_member_sees_nothing_again(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    await owner_api.project.add_member(pid, member, "Project Contributor")
    study = await member_api.study.create({"name": "kept"}, project_id=pid)
    pipeline = await member_api.pipeline.create(FAILING, project_id=pid)
    await owner_api.project.remove_member(pid, member)
    await all_not_found(
        lambda: member_api.project.get(pid),
        lambda: member_api.study.get(study.id, project_id=pid),
        lambda: member_api.pipeline.get(pipeline.id),
        lambda: member_api.project.remove_member(pid, member),
    )
    assert pid not in {p.id for p in await member_api.project.list()}
    assert (await owner_api.study.get(study.id, project_id=pid)).name == "kept"
    # a member may leave on their own, whatever their role
    await owner_api.project.add_member(pid, member, "Project Viewer")
    await member_api.project.remove_member(pid, member)
    with pytest.raises(NotFoundError):
        await member_api.project.get(pid)


async def test_member_requests_are_checked(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, _, member = shared
    owner_id = await user_id(owner_api)
    with pytest.raises(
        ValueError, match=r"Unknown project role 'Boss'\. Choose one of: 'Project Admin'"
    ):
        await owner_api.project.add_member(pid, member, "Boss")
    with pytest.raises(ValidationError, match="'user_id' 'org-nobody' is not the owner id"):
        await owner_api.project.add_member(pid, "org-nobody")
    with pytest.raises(ValidationError, match="owns project"):
        await owner_api.project.add_member(pid, owner_id)
    with pytest.raises(NotFoundError, match="not a member"):
        await owner_api.project.update_member(pid, member, "Project Viewer")
    with pytest.raises(ValidationError, match=r"'email'.*no email accounts"):
        await owner_api.project.invite_member(pid, "someone@example.com")
    with pytest.raises(NotFoundError):  # not B's project: no member routes either
        await member_api.project.add_member(pid, member)


async def test_deleting_a_project_ends_its_memberships(owner_api: Any, member_api: Any) -> None:
    project = await owner_api.project.create({"name": "short-lived team"})
    await owner_api.project.add_member(project.id, await user_id(member_api))
    assert project.id in {p.id for p in await member_api.project.list()}
    await owner_api.project.delete(project.id)
    assert project.id not in {p.id for p in await member_api.project.list()}


async def test_project_list_filters(api: AsyncIonworks) -> None:
    first = await api.project.create({"name": "Filter alpha"})
    second = await api.project.create({"name": "filter beta"})
    try:
        names = [
            p.name for p in await api.project.list(name="FILTER", order_by="name", order="desc")
        ]
        assert names == ["filter beta", "Filter alpha"]
        assert [p.id for p in await api.project.list(name_exact="filter beta")] == [second.id]
        after = await api.project.list(created_after=first.created_at, name="filter")
        assert [p.id for p in after] == [second.id]
        before = await api.project.list(created_before=second.created_at, name="filter")
        assert [p.id for p in before] == [first.id]
        await api.project.update(first.id, {"description": "touched"})
        touched = await api.project.get(first.id)
        changed = await api.project.list(updated_after=second.updated_at, name="filter")
        assert [p.id for p in changed] == [first.id] and touched.updated_at > second.updated_at
        newest = await api.project.list(1, order="desc")
        assert newest[0].id == second.id and newest.total >= 3
        with pytest.raises(ValidationError, match="order_by must be one of"):
            await api.project.list(order_by="colour")
    finally:
        await api.project.delete(first.id)
        await api.project.delete(second.id)


async def test_create_and_update_without_data(api: AsyncIonworks) -> None:
    with pytest.raises(ValidationError, match="'name' must be a non-empty string"):
        await api.project.create()
    project = await api.project.create({"name": "no data"})
    try:
        assert (await api.project.update(project.id)).name == "no data"
    finally:
        await api.project.delete(project.id)


async def test_member_simulates_with_the_projects_protocols(
    owner_api: Any, member_api: Any, shared: tuple[str, str, str]
) -> None:
    pid, other, member = shared
    await owner_api.project.add_member(pid, member, "Project Contributor")
    submitted = await member_api.simulation.protocol(
        {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": SEED_SINGLE, "name": "member run"},
            "project_id": pid,
        }
    )
    protocol = await member_api.protocol.get(submitted.protocol_id)
    assert protocol.project_id == pid
    assert [p.id for p in await owner_api.protocol.list(project_id=pid)] == [protocol.id]
    done = await member_api.simulation.wait_for_completion(submitted.simulation_id, **WAIT)
    assert done["project_id"] == pid
    result = await member_api.simulation.get_result(submitted.simulation_id)
    assert len(result.time_series) > 2
    listed = await member_api.simulation.list(project_id=pid)
    assert [s["id"] for s in listed] == [submitted.simulation_id]
    assert (await owner_api.simulation.get(submitted.simulation_id))["project_id"] == pid
    # the owner's simulation in the other project: not by id, not in statuses, not in a study
    private = await owner_api.simulation.protocol(
        {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": SEED_SINGLE, "name": "private run"},
            "project_id": other,
        }
    )
    study = await member_api.study.create({"name": "mixed"}, project_id=pid)
    await all_not_found(
        lambda: member_api.simulation.get(private.simulation_id),
        lambda: member_api.protocol.get(private.protocol_id),
        lambda: member_api.study.assign_simulation(study.id, private.simulation_id, pid),
    )
    statuses = await member_api.simulation.get_statuses(
        [submitted.simulation_id, private.simulation_id]
    )
    assert [s["simulation_id"] for s in statuses] == [submitted.simulation_id]
    await member_api.study.assign_simulation(study.id, submitted.simulation_id, pid)
    # the owner's stored parameterized model of the other project: not in a batch, not in a fit
    pm = await owner_api.parameterized_model.create(
        None, {"name": "private cell", "model_id": "chen2020-spm", "project_id": other}
    )
    run = {"parameterized_model": pm.id, "protocol_id": protocol.id, "project_id": pid}
    fit = {"element_type": "entry", "values": {"parameterized_model": pm.id}}
    for call in (
        lambda: member_api.simulation.protocol(run),
        lambda: member_api.simple_pipeline.create({"elements": {"e": fit}}, project_id=pid),
    ):
        with pytest.raises(NotFoundError, match=f"parameterized model '{pm.id}' not found"):
            await call()
    await owner_api.parameterized_model.delete(None, pm.id)
    with pytest.raises(NotFoundError):  # the owner's protocol of another project
        await member_api.simulation.protocol(
            {
                "parameterized_model": "chen2020-spm",
                "protocol_id": private.protocol_id,
                "project_id": pid,
            }
        )
    await owner_api.project.remove_member(pid, member)
    await all_not_found(
        lambda: member_api.simulation.get(submitted.simulation_id),
        lambda: member_api.protocol.get(protocol.id),
    )
    assert not await member_api.simulation.list(project_id=pid)
    await owner_api.simulation.wait_for_completion(private.simulation_id, **WAIT)
