"""``client.project`` against a mocked API, on both clients: the official signatures, the list
filters, ``data=None`` and the member methods (role by id or case-insensitive name)."""

from __future__ import annotations

import inspect

import pytest

from ionworks import AsyncIonworks, Ionworks
from ionworks.errors import ValidationError
from ionworks.models import InviteResult, Project, ProjectRoleInfo
from tests.helpers import API, assert_no_requests, last_request, requests_to, url_re

PROJECT = {"id": "p1", "name": "Cells", "organization_id": "org-1"}
ROLES = [
    {"id": "r-admin", "name": "Project Admin", "description": "all"},
    {"id": "r-contrib", "name": "Project Contributor"},
    {"id": "r-view", "name": "Project Viewer", "description": None},
]
#: The official signatures (ionworks-api 0.38.0), as (name, kind, default).
OFFICIAL = {
    "create": [("data", "POSITIONAL_OR_KEYWORD", None)],
    "update": [
        ("project_id", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("data", "POSITIONAL_OR_KEYWORD", None),
    ],
    "roles": [],
    "add_member": [
        ("project_id", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("user_id", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("role", "POSITIONAL_OR_KEYWORD", "Project Contributor"),
    ],
    "invite_member": [
        ("project_id", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("email", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("role", "POSITIONAL_OR_KEYWORD", "Project Contributor"),
    ],
    "update_member": [
        (name, "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty)
        for name in ("project_id", "user_id", "role")
    ],
    "remove_member": [
        (name, "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty)
        for name in ("project_id", "user_id")
    ],
}
LIST_KEYWORDS = (
    "name", "name_exact", "created_after", "created_before", "updated_after", "updated_before",
    "order_by", "order",
)  # fmt: skip


def test_signatures_are_the_official_ones() -> None:
    with Ionworks(api_key="k", api_url="http://127.0.0.1:9") as sync_client:
        for resource in (
            AsyncIonworks(api_key="k", api_url="http://127.0.0.1:9").project,
            sync_client.project,
        ):
            for method, expected in OFFICIAL.items():
                params = inspect.signature(getattr(resource, method)).parameters.values()
                assert [(p.name, p.kind.name, p.default) for p in params] == expected, method
            listed = list(inspect.signature(resource.list).parameters.values())
            assert [p.name for p in listed] == ["limit", "offset", *LIST_KEYWORDS]
            assert all(p.kind is p.KEYWORD_ONLY for p in listed[2:])


async def test_list_maps_the_official_filters(any_client, mock_api) -> None:
    mock_api.get(url_re("/projects"), payload={"items": [PROJECT], "total": 1})
    page = await any_client.project.list(
        5,
        created_after="2025-01-01",
        created_before="2026-01-01",
        updated_after="2025-02-01",
        updated_before="2025-03-01",
        name_exact="Cells",
        order_by="name",
    )
    assert page.total == 1 and page[0] == Project("p1", "Cells", "org-1")
    assert last_request(mock_api, "GET", "/projects").params == [
        ("limit", "5"),
        ("name", "eq.Cells"),
        ("created_at_gt", "2025-01-01"),
        ("created_at_lt", "2026-01-01"),
        ("updated_at_gt", "2025-02-01"),
        ("updated_at_lt", "2025-03-01"),
        ("order_by", "name"),
    ]


async def test_create_and_update_without_data(any_client, mock_api) -> None:
    mock_api.post(
        f"{API}/projects", status=422, payload={"detail": "'name' must be a non-empty string"}
    )
    mock_api.patch(f"{API}/projects/p1", payload=PROJECT)
    with pytest.raises(ValidationError, match="'name'"):
        await any_client.project.create()
    assert last_request(mock_api, "POST", "/projects").json == {}
    assert (await any_client.project.update("p1")).id == "p1"
    assert last_request(mock_api, "PATCH", "/projects/p1").json == {}


async def test_roles(any_client, mock_api) -> None:
    mock_api.get(f"{API}/roles/project", payload=ROLES)
    roles = await any_client.project.roles()
    assert roles == [
        ProjectRoleInfo("r-admin", "Project Admin", "all"),
        ProjectRoleInfo("r-contrib", "Project Contributor"),
        ProjectRoleInfo("r-view", "Project Viewer"),
    ]


@pytest.mark.parametrize(
    ("role", "role_id"),
    [
        (None, "r-contrib"),  # the default
        ("Project Viewer", "r-view"),
        ("project ADMIN", "r-admin"),
        ("r-view", "r-view"),
    ],
)
async def test_add_member_resolves_the_role(any_client, mock_api, role, role_id) -> None:
    mock_api.get(f"{API}/roles/project", payload=ROLES)
    mock_api.post(f"{API}/projects/p%2F1/members", status=201, payload={"user_id": "u"})
    args = ("p/1", "org-2") if role is None else ("p/1", "org-2", role)
    assert await any_client.project.add_member(*args) is None
    sent = last_request(mock_api, "POST", "/projects/p%2F1/members")
    assert sent.json == {"user_id": "org-2", "project_role_id": role_id}


async def test_unknown_role_is_refused_before_any_write(any_client, mock_api) -> None:
    mock_api.get(f"{API}/roles/project", payload=ROLES, repeat=True)
    message = "Unknown project role 'Boss'. Choose one of: 'Project Admin', 'Project Contributor', 'Project Viewer'."
    for call in (
        lambda: any_client.project.add_member("p1", "u", "Boss"),
        lambda: any_client.project.invite_member("p1", "a@b.c", role="Boss"),
        lambda: any_client.project.update_member("p1", "u", "Boss"),
    ):
        with pytest.raises(ValueError) as caught:
            await call()
        assert str(caught.value) == message
    assert len(requests_to(mock_api, "GET", "/roles/project")) == 3
    assert not requests_to(mock_api, "POST", "/projects/p1/members")


async def test_invite_update_remove(any_client, mock_api) -> None:
    mock_api.get(f"{API}/roles/project", payload=ROLES, repeat=True)
    mock_api.post(
        f"{API}/projects/p1/invites",
        payload={"user_id": "u9", "invite_sent": True, "role_name": "Member", "seat": 3},
    )
    mock_api.patch(f"{API}/projects/p1/members/u%2F9", payload={})
    mock_api.delete(f"{API}/projects/p1/members/u%2F9", status=204)
    invited = await any_client.project.invite_member("p1", "a@b.c")
    assert invited == InviteResult("u9", True, False, "Member") and invited.seat == 3
    assert last_request(mock_api, "POST", "/projects/p1/invites").json == {
        "email": "a@b.c",
        "project_role_id": "r-contrib",
    }
    assert await any_client.project.update_member("p1", "u/9", "project viewer") is None
    assert last_request(mock_api, "PATCH", "/projects/p1/members/u%2F9").json == {
        "project_role_id": "r-view"
    }
    assert await any_client.project.remove_member("p1", "u/9") is None


async def test_member_ids_are_checked_locally(any_client, mock_api) -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        await any_client.project.remove_member("p1", "..")
    assert_no_requests(mock_api)
