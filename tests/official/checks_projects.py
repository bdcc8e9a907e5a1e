"""Official-client checks of ``client.project`` (filters, ``data=None``, roles and members) and
``client.pipeline`` (``job_id`` arguments, named list filters, element metadata and series,
the typed result's ``series``) against our server (issue 17).

Members need a second key: ``nox -s official`` starts the server with two and passes the
second in ``OFFICIAL_MEMBER_KEY``. Loaded by ``drive_official.py`` in the official client's venv.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from _common import status_of

WAIT = 180
ROLES = ["Project Admin", "Project Contributor", "Project Viewer"]


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    state = driver.state

    client = driver.require_client

    def member() -> Any:
        if "member" not in state:
            from ionworks import Ionworks

            key = os.environ.get("OFFICIAL_MEMBER_KEY")
            assert key, "OFFICIAL_MEMBER_KEY is not set (nox -s official sets it)"
            state["member"] = Ionworks(api_key=key, api_url=driver.url)
        return state["member"]

    def project_crud() -> str:
        c = client()
        suffix = str(int(time.time() * 1000))
        first = c.project.create({"name": f"official team {suffix}", "description": "d"})
        time.sleep(0.01)
        second = c.project.create({"name": f"official solo {suffix}"})
        state["team"], state["solo"] = first.id, second.id
        assert status_of(lambda: c.project.create()) == 422
        assert c.project.update(first.id).name == first.name  # data=None: nothing changes
        assert c.project.update(first.id, {"description": "shared"}).description == "shared"
        assert c.project.get(first.id).organization_id == first.organization_id
        created_at = c.project.get(first.id).created_at
        after = c.project.list(created_after=created_at, name=suffix)
        assert [p.id for p in after] == [second.id], after
        before = c.project.list(created_before=c.project.get(second.id).created_at, name=suffix)
        assert [p.id for p in before] == [first.id], before
        ordered = c.project.list(name=suffix, order_by="name", order="desc")  # team > solo
        assert [p.id for p in ordered] == [first.id, second.id], ordered
        updated = c.project.list(updated_after=created_at, name_exact=first.name)
        assert [p.id for p in updated] == [first.id], updated
        assert status_of(lambda: c.project.list(order_by="colour")) == 422
        return f"projects {first.id}, {second.id}"

    def roles_and_members() -> str:
        c, m = client(), member()
        team, solo = driver.need("team", "solo")
        assert [r.name for r in c.project.roles()] == ROLES
        member_id = next(p for p in m.project.list() if p.is_default).organization_id
        state["member_id"] = member_id
        assert status_of(lambda: m.project.get(team)) == 404
        c.project.add_member(team, member_id, "project viewer")  # case-insensitive name
        assert m.project.get(team).name.startswith("official team")
        assert status_of(lambda: m.project.update(team, {"name": "x"})) == 403
        c.project.update_member(team, member_id, "Project Contributor")
        study = m.study.create({"name": "member study"}, project_id=team)
        assert study.id in [s.id for s in c.study.list(project_id=team)]
        assert status_of(lambda: m.project.get(solo)) == 404
        try:
            c.project.add_member(team, member_id, "Boss")
        except ValueError as exc:
            assert "Choose one of: 'Project Admin'" in str(exc), exc
        else:
            raise AssertionError("an unknown role was accepted")
        err = status_of(lambda: c.project.invite_member(team, "someone@example.com"))
        assert err == 422, err
        assert status_of(lambda: c.project.add_member(team, "org-nobody")) == 422
        c.project.remove_member(team, member_id)
        assert status_of(lambda: m.project.get(team)) == 404
        c.project.add_member(team, member_id)  # the default role, for the pipeline checks
        return f"member {member_id} added, changed, removed and added again"

    def _validation_config() -> dict[str, Any]:
        objective = {
            "type": "CurrentDriven",
            "data": driver._fit_data(),
            "options": {"model": {"type": "SPM"}},
        }
        return {
            "elements": {
                "entry": {"element_type": "entry", "values": {"Ambient temperature [K]": 298.15}},
                "check": {"element_type": "validation", "objectives": {"voltage": objective}},
            }
        }

    def pipeline_methods() -> str:
        c, m = client(), member()
        team, _ = driver.need("team", "member_id")
        p = m.pipeline.create(_validation_config(), project_id=team, name="official series")
        done = m.pipeline.wait_for_completion(p.id, timeout=WAIT, poll_interval=1, verbose=False)
        assert done.status == "completed", f"{done.status}: {done.error}"
        assert c.pipeline.get(job_id=p.id).name == "official series"
        result = m.pipeline.result(job_id=p.id)
        assert "check" in result.element_results
        listed = c.pipeline.list(team, 10, 0, p.id, "ilike.%official%", None, "completed")
        assert [x.id for x in listed] == [p.id], listed
        named = c.pipeline.list(project_id=team, order_by="name", order="asc", status="completed")
        assert p.id in [x.id for x in named]
        renamed = c.pipeline.update(p.id, name="official series", description="renamed")
        assert renamed.description == "renamed", renamed
        after = c.pipeline.cancel(p.id)  # finished: the record comes back as it is
        assert after.status == "completed", after.status
        state["series_pipeline"] = p.id
        return f"pipeline {p.id} in the shared project"

    def element_series() -> str:
        c = client()
        (pid,) = driver.need("series_pipeline")
        metadata = c.pipeline.get_element_metadata(pid, "check")
        assert "element_results" in metadata, sorted(metadata)
        channels = c.pipeline.get_element_series_channels(pid, "check")
        assert channels == {
            "voltage": {"optimal": ["Time [s]", "Measured voltage [V]", "Model voltage [V]"]}
        }, channels
        series = c.pipeline.get_element_series(pid, "check", "voltage", max_points=50, x_min=100)
        assert len(series["Time [s]"]) <= 50 and min(series["Time [s]"]) >= 100, series.keys()
        job_id = c.get(f"/pipelines/{pid}/elements")[1]["job_id"]
        assert c.job.get_series_channels(job_id) == channels
        whole = c.job.get_series(job_id, "voltage", columns=["Model voltage [V]"])
        assert list(whole) == ["Time [s]", "Model voltage [V]"], list(whole)
        assert status_of(lambda: c.job.get_series(job_id, "voltage", source="baseline")) == 404
        typed = c.pipeline.result(pid).element("check").series
        assert typed["voltage"]["optimal"]["Model voltage [V]"], typed.keys()
        return f"{len(whole['Time [s]'])} points; typed .series of {sorted(typed)}"

    def cleanup() -> str:
        c = client()
        team, solo = driver.need("team", "solo")
        for pid in (team, solo):
            c.project.delete(pid)
        assert status_of(lambda: member().project.get(team)) == 404
        return "projects deleted"

    return [
        ("project.create/update (data=None)/get/list filters", project_crud),
        ("project.roles/add_member/update_member/invite_member/remove_member", roles_and_members),
        ("pipeline.get/result(job_id)/list/update/cancel (member)", pipeline_methods),
        ("pipeline.get_element_* and job.get_series*", element_series),
        ("project.delete ends memberships", cleanup),
    ]
