"""``client.project``: projects scope studies, pipelines, models and measurements; members
share a project with other keys (on the local server, another configured API key's owner)."""

from __future__ import annotations

import builtins
from typing import Any

from ionworks.models import InviteResult, Page, Project, ProjectRoleInfo, structure
from ionworks.resources._base import AsyncResource, expect, filters_of, seg

__all__ = ["AsyncProjects"]

DEFAULT_ROLE = "Project Contributor"


class AsyncProjects(AsyncResource):
    """Projects visible to this key, and their members."""

    async def get(self, project_id: str) -> Project:
        """One project."""
        return structure(
            await self._api.get(f"/projects/{seg(project_id)}"), Project, what="project"
        )

    async def list(
        self,
        limit: int | None = None,
        offset: int | None = None,
        *,
        name: str | None = None,
        name_exact: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        order_by: str | None = None,
        order: str | None = None,
    ) -> Page[Project]:
        """Projects, filtered like the other lists: ``name`` (case-insensitive substring),
        ``name_exact``, ISO timestamps ``created_after`` … ``updated_before``, ``order_by``
        (``name``, ``created_at``, ``updated_at`` …) and ``order`` (``asc``/``desc``).
        Without ``limit``: all of them."""
        params = {
            "limit": limit,
            "offset": offset,
            **filters_of(locals()),
        }
        return await self._list("/projects", params, Project, what="project list")

    async def create(self, data: dict[str, Any] | None = None) -> Project:
        """Create a project from ``{name, description?}`` (the server names a missing field)."""
        return structure(await self._api.post("/projects", data), Project, what="project")

    async def update(self, project_id: str, data: dict[str, Any] | None = None) -> Project:
        """Change ``name`` and/or ``description`` of a project."""
        result = await self._api.patch(f"/projects/{seg(project_id)}", data or {})
        return structure(result, Project, what="project")

    async def delete(self, project_id: str) -> None:
        """Delete a project."""
        await self._api.delete(f"/projects/{seg(project_id)}")

    async def roles(self) -> builtins.list[ProjectRoleInfo]:
        """The roles a project member can have: ``"Project Admin"``, ``"Project
        Contributor"`` and ``"Project Viewer"``, with their ids."""
        data = expect(await self._api.get("/roles/project"), list, what="project roles")
        return [structure(item, ProjectRoleInfo, what="project role") for item in data]

    async def _role_id(self, role: str) -> str:
        """The id of a role given by id, name or case-insensitive name (``ValueError``
        before any write for an unknown one)."""
        roles = await self.roles()
        for known in roles:
            if role in (known.id, known.name) or str(role).lower() == known.name.lower():
                return known.id
        names = ", ".join(repr(known.name) for known in roles)
        raise ValueError(f"Unknown project role {role!r}. Choose one of: {names}.")

    async def add_member(self, project_id: str, user_id: str, role: str = DEFAULT_ROLE) -> None:
        """Give ``user_id`` a role in the project (or change the role of a member). On the
        local server a user id is the owner id of another configured API key."""
        body = {"user_id": user_id, "project_role_id": await self._role_id(role)}
        await self._api.post(f"/projects/{seg(project_id)}/members", body)

    async def invite_member(
        self, project_id: str, email: str, role: str = DEFAULT_ROLE
    ) -> InviteResult:
        """Invite someone to the project by email. The local server has no email accounts and
        answers 422: add the member by user id with :meth:`add_member`."""
        body = {"email": email, "project_role_id": await self._role_id(role)}
        data = await self._api.post(f"/projects/{seg(project_id)}/invites", body)
        return structure(data, InviteResult, what="invite result")

    async def update_member(self, project_id: str, user_id: str, role: str) -> None:
        """Change a member's role."""
        body = {"project_role_id": await self._role_id(role)}
        await self._api.patch(f"/projects/{seg(project_id)}/members/{seg(user_id)}", body)

    async def remove_member(self, project_id: str, user_id: str) -> None:
        """Remove a member from the project (their records there stay in the project)."""
        await self._api.delete(f"/projects/{seg(project_id)}/members/{seg(user_id)}")
