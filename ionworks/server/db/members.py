"""The ``project_members`` table: projects shared with other keys' owners, and the fixed roles.

A member is the owner id of another API key this data directory knows (``key_owners``). A
membership row names the project, its owner (the owner of every record in it) and the
member's role; the api layer (:func:`ionworks.server.api.http.enter_project`) lets the member
act on the project's records as its owner, within what the role allows. Rows go with the
project (:func:`delete_in_project`, and ``ON DELETE CASCADE``).
"""

from __future__ import annotations

import sqlite3
from typing import Final

import attrs

from ionworks.server.db.store import Store, now_iso

__all__ = [
    "ADMIN",
    "CONTRIBUTOR",
    "ROLES",
    "VIEWER",
    "Grant",
    "Role",
    "add",
    "delete_in_project",
    "grant",
    "grants",
    "job_project",
    "known_owner",
    "of_project",
    "remove",
    "role",
    "set_role",
]


@attrs.frozen
class Role:
    """A project role; ``rank`` orders them (a higher rank can do all a lower one can)."""

    id: str
    name: str
    description: str
    rank: int

    def wire(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "description": self.description}


VIEWER: Final = Role("project-viewer", "Project Viewer", "Reads the project's records.", 1)
CONTRIBUTOR: Final = Role(
    "project-contributor",
    "Project Contributor",
    "Reads the project's records and creates, changes and deletes records in it.",
    2,
)
ADMIN: Final = Role(
    "project-admin",
    "Project Admin",
    "A contributor who can also rename the project and manage its members.",
    3,
)
#: The roles of ``GET /roles/project``, highest first.
ROLES: Final = (ADMIN, CONTRIBUTOR, VIEWER)


def role(role_id: str) -> Role | None:
    """The role with this id, or None."""
    return next((r for r in ROLES if r.id == role_id), None)


@attrs.frozen
class Grant:
    """One membership: ``member_id`` has ``role`` in ``project_id``, owned by ``owner_id``."""

    project_id: str
    owner_id: str
    member_id: str
    role: Role
    created_at: str
    updated_at: str

    def wire(self) -> dict[str, str]:
        return {
            "user_id": self.member_id,
            "project_id": self.project_id,
            "project_role_id": self.role.id,
            "role_name": self.role.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _grant(row: sqlite3.Row) -> Grant:
    return Grant(
        project_id=row["project_id"],
        owner_id=row["owner_id"],
        member_id=row["member_id"],
        role=role(row["role_id"]) or VIEWER,  # an unknown stored role grants the least
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def known_owner(store: Store, owner_id: str) -> bool:
    """Whether ``owner_id`` is the owner of an API key this data directory has known."""
    row = store.one("SELECT 1 FROM key_owners WHERE owner_id = ? LIMIT 1", (owner_id,))
    return row is not None


def grant(store: Store, project_id: str, member_id: str) -> Grant | None:
    """The member's grant in the project, or None."""
    row = store.one(
        "SELECT * FROM project_members WHERE project_id = ? AND member_id = ?",
        (project_id, member_id),
    )
    return None if row is None else _grant(row)


def grants(store: Store, member_id: str) -> list[Grant]:
    """Every project shared with ``member_id``, oldest grant first."""
    rows = store.query(
        "SELECT * FROM project_members WHERE member_id = ? ORDER BY created_at, rowid",
        (member_id,),
    )
    return [_grant(r) for r in rows]


def of_project(store: Store, project_id: str) -> list[Grant]:
    """The project's members, oldest first."""
    rows = store.query(
        "SELECT * FROM project_members WHERE project_id = ? ORDER BY created_at, rowid",
        (project_id,),
    )
    return [_grant(r) for r in rows]


def add(store: Store, project_id: str, owner_id: str, member_id: str, role_id: str) -> None:
    """Make ``member_id`` a member with ``role_id``, or change the role of a member."""
    ts = now_iso()
    store.execute(
        "INSERT INTO project_members(project_id, owner_id, member_id, role_id, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(project_id, member_id) "
        "DO UPDATE SET role_id = excluded.role_id, updated_at = excluded.updated_at",
        (project_id, owner_id, member_id, role_id, ts, ts),
    )


def set_role(store: Store, project_id: str, member_id: str, role_id: str) -> bool:
    """Change a member's role; False if ``member_id`` is no member."""
    changed = store.execute(
        "UPDATE project_members SET role_id = ?, updated_at = ? "
        "WHERE project_id = ? AND member_id = ?",
        (role_id, now_iso(), project_id, member_id),
    )
    return bool(changed)


def remove(store: Store, project_id: str, member_id: str) -> bool:
    """End a membership; False if there was none."""
    removed = store.execute(
        "DELETE FROM project_members WHERE project_id = ? AND member_id = ?",
        (project_id, member_id),
    )
    return bool(removed)


def delete_in_project(store: Store, project_id: str) -> None:
    """End every membership of the project (call with the project's deletion)."""
    store.execute("DELETE FROM project_members WHERE project_id = ?", (project_id,))


def job_project(store: Store, job_id: str) -> str | None:
    """The project of the simulation or pipeline a job runs for (None for neither)."""
    row = store.one(
        "SELECT project_id FROM simulations WHERE job_id = ? UNION ALL "
        "SELECT project_id FROM pipelines WHERE job_id = ? LIMIT 1",
        (job_id, job_id),
    )
    return None if row is None else row["project_id"]
