"""Records of project membership: the roles a project grants and the outcome of an invite."""

from __future__ import annotations

from attrs import frozen

from ionworks.models._base import _Extra

__all__ = ["InviteResult", "ProjectRoleInfo"]


@frozen
class ProjectRoleInfo(_Extra):
    """A project role (``GET /roles/project``): ``"Project Admin"``, ``"Project Contributor"``
    or ``"Project Viewer"``."""

    id: str
    name: str
    description: str | None = None


@frozen
class InviteResult(_Extra):
    """``POST /projects/{id}/invites``: the invited user and whether an email was sent."""

    user_id: str
    invite_sent: bool
    already_member: bool = False
    role_name: str | None = None
