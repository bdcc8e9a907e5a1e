"""Routes: projects (wire.md §2), their members and the project roles.

A key sees its own projects and the projects shared with it (``project_members``; see
:mod:`.access` for what a member may do). A member is the owner id of another API key this
server knows; the local server has no email accounts, so invitations by email are refused
with a 422 that points to ``POST /projects/{pid}/members``.
"""

from __future__ import annotations

from typing import Any, Final

import anyio.to_thread
from aiohttp import web

from ionworks.server.api.access import acting, project_in, shared_view, shown
from ionworks.server.api.http import OWNER, fail, json_response, owner, read_json, require_str
from ionworks.server.api.listing import list_window
from ionworks.server.db import jobs, members, projects, simulations, templates, uploads
from ionworks.server.db.measurements import folders_in_project
from ionworks.server.db.members import ADMIN, ROLES, VIEWER, Role
from ionworks.server.db.store import Store
from ionworks.server.state import state

__all__ = ["project_or_404", "setup"]

#: ``GET /projects?is_default=…``: the values accepted (PostgREST's ``eq.`` form too).
_BOOLEANS: Final = {"true": True, "eq.true": True, "false": False, "eq.false": False}
#: The query parameters of ``GET /projects``; any other is a 422.
LIST_PARAMS: Final = frozenset(
    {"limit", "offset", "name", "is_default", "order_by", "order"}
    | {f"{column}_{op}" for column in ("created_at", "updated_at") for op in ("gt", "lt")}
)
SORTABLE: Final = ("name", "description", "created_at", "updated_at", "id")


def _store(request: web.Request) -> Store:
    return state(request).store


def project_or_404(store: Store, owner_id: str, project_id: str) -> dict[str, Any]:
    """The owner's own project, or a 404 (routes that members may use call
    :func:`~ionworks.server.api.access.project_in` instead)."""
    project = projects.get(store, owner_id, project_id)
    if project is None:
        fail(404, f"project {project_id} not found")
    return project


def _visible_projects(request: web.Request, is_default: bool | None) -> list[dict[str, Any]]:
    """The key's projects (its default first, then oldest first) and, unless only the default
    one is asked for, the projects shared with it (oldest membership first)."""
    store, me = _store(request), request[OWNER]
    items = projects.list_for_owner(store, me, is_default=is_default)
    if is_default is not True:
        for grant in members.grants(store, me):
            project = projects.get(store, grant.owner_id, grant.project_id)
            if project is not None:
                items.append(shared_view(project, grant))
    return items


async def list_projects(request: web.Request) -> web.Response:
    """The key's projects and those shared with it. Filters: ``name`` (``eq.``/``ilike.``/a
    substring), ``is_default=true|false``, ``created_at_gt``/``_lt``, ``updated_at_gt``/``_lt``;
    ``order_by`` (one of :data:`SORTABLE`) and ``order``; any other parameter is a 422."""
    unknown = sorted(set(request.query) - LIST_PARAMS)
    if unknown:
        fail(
            422,
            f"unknown query parameter(s) for projects: {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(LIST_PARAMS))}",
        )
    only = request.query.get("is_default")
    if only is not None and only.lower() not in _BOOLEANS:
        fail(422, f"query parameter 'is_default' must be 'true' or 'false', got {only!r}")
    items = _visible_projects(request, None if only is None else _BOOLEANS[only.lower()])
    if request.query.get("order") and not request.query.get("order_by"):
        # ``order`` alone orders by creation (list_window takes its items newest first)
        items.sort(key=lambda p: str(p["created_at"]), reverse=True)
    try:
        return json_response(list_window(request, items, SORTABLE))
    except ValueError as exc:  # a LIKE pattern that ends with its escape character
        fail(422, f"filter name: {exc}")


async def create_project(request: web.Request) -> web.Response:
    body = await read_json(request)
    require_str(body, "name")
    if body.get("description") is not None and not isinstance(body["description"], str):
        fail(422, "'description' must be a string or null")
    store, me = _store(request), request[OWNER]
    pid = projects.create(store, me, body["name"], body.get("description"))
    return json_response(project_or_404(store, me, pid), status=201)


async def get_project(request: web.Request) -> web.Response:
    return json_response(project_in(request, request.match_info["pid"]))


async def update_project(request: web.Request) -> web.Response:
    store, pid = _store(request), request.match_info["pid"]
    project = project_in(request, pid, least=ADMIN)
    body = await read_json(request)
    unknown = set(body) - set(projects.UPDATABLE)
    if unknown:
        fail(422, f"unknown project field(s): {', '.join(sorted(unknown))}")
    if "name" in body and (not isinstance(body["name"], str) or not body["name"]):
        fail(422, "'name' must be a non-empty string")
    if body.get("description") is not None and not isinstance(body["description"], str):
        fail(422, "'description' must be a string or null")
    projects.update(store, project, body)
    return json_response(project_in(request, pid))


async def delete_project(request: web.Request) -> web.Response:
    """Delete a project and everything in it: its studies, simulations (their jobs and result
    files), pipelines and simple pipelines (their jobs), cell specifications and instances,
    measurements (their files), unconfirmed uploads (their files) and memberships.

    The project's running jobs are canceled through the job runner first; then every row goes
    in one SQLite transaction, and the files are deleted after it commits. Simulations of
    other projects that were in one of its studies only leave the study. Protocol templates are
    shared by every project of the key (found again by content), so they are kept, no longer
    tied to this project. The default project cannot be deleted (409): a key always has one.
    Only the owner deletes a project (a member, even an admin, gets a 403).
    """
    from ionworks.server.services.simulation_jobs import FOLDER as SIMULATIONS

    store, pid = _store(request), request.match_info["pid"]
    project = project_in(request, pid, least=ADMIN)
    if acting(request):
        fail(403, f"only the owner of project {pid} can delete it")
    owner_id = owner(request)
    if project["is_default"]:
        fail(409, "the default project cannot be deleted")
    runner = state(request).runner
    for job_id in jobs.running_of_project(store, pid, owner_id):
        runner.cancel(job_id)
    folders = [SIMULATIONS.format(sid) for sid in simulations.ids_of_project(store, pid, owner_id)]
    folders += folders_in_project(store, owner_id, pid)
    tokens = uploads.tokens_in_project(store, owner_id, pid)
    with store.transaction():
        simulations.leave_studies_of_project(store, pid, owner_id)
        jobs.delete_of_project(store, pid, owner_id)  # found through simulations and pipelines
        simulations.delete_of_project(store, pid, owner_id)
        templates.detach_project(store, pid, owner_id)
        projects.delete_rows(store, owner_id, pid)

    def remove_files() -> None:
        for folder in folders:
            store.delete_blobs(folder)
        uploads.remove_files(store, tokens)

    await anyio.to_thread.run_sync(remove_files)
    return web.Response(status=204)


# --- roles and members -------------------------------------------------------------------


async def list_roles(request: web.Request) -> web.Response:
    """The fixed project roles, highest first (a bare array, as the cloud's)."""
    return json_response([r.wire() for r in ROLES])


def _role(body: dict[str, Any]) -> Role:
    role_id = body.get("project_role_id")
    found = members.role(role_id) if isinstance(role_id, str) else None
    if found is None:
        ids = ", ".join(f"{r.id!r} ({r.name})" for r in ROLES)
        fail(
            422,
            f"'project_role_id' must be one of {ids}; got {shown(role_id)} (see GET /roles/project)",
        )
    return found


async def _member_body(request: web.Request, fields: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = await read_json(request)
    unknown = sorted(set(body) - set(fields))
    if unknown:
        fail(
            422, f"unknown field(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(fields)}"
        )
    return body


async def list_members(request: web.Request) -> web.Response:
    """Our extension: the project's members (any member may read them)."""
    pid = request.match_info["pid"]
    project_in(request, pid, least=VIEWER)
    return json_response([g.wire() for g in members.of_project(_store(request), pid)])


async def add_member(request: web.Request) -> web.Response:
    """Make another key's owner a member with a role, or change a member's role (201 when
    added, 200 when changed)."""
    store, pid = _store(request), request.match_info["pid"]
    project_in(request, pid, least=ADMIN)
    body = await _member_body(request, ("user_id", "project_role_id"))
    user_id = str(require_str(body, "user_id"))
    role = _role(body)
    if user_id == owner(request):
        fail(422, f"'user_id' {shown(user_id)} owns project {pid}; owners need no membership")
    if not members.known_owner(store, user_id):
        fail(
            422,
            f"'user_id' {shown(user_id)} is not the owner id of an API key this server knows "
            "(a key's owner id is the organization_id of its projects)",
        )
    existed = members.grant(store, pid, user_id) is not None
    members.add(store, pid, owner(request), user_id, role.id)
    grant = members.grant(store, pid, user_id)
    assert grant is not None
    return json_response(grant.wire(), status=200 if existed else 201)


async def update_member(request: web.Request) -> web.Response:
    store, pid, uid = _store(request), request.match_info["pid"], request.match_info["uid"]
    project_in(request, pid, least=ADMIN)
    role = _role(await _member_body(request, ("project_role_id",)))
    if not members.set_role(store, pid, uid, role.id):
        fail(404, f"user {shown(uid)} is not a member of project {pid}")
    grant = members.grant(store, pid, uid)
    assert grant is not None
    return json_response(grant.wire())


async def remove_member(request: web.Request) -> web.Response:
    """End a membership (an admin removes anyone; any member may leave)."""
    store, pid, uid = _store(request), request.match_info["pid"], request.match_info["uid"]
    project_in(request, pid, least=VIEWER if uid == request[OWNER] else ADMIN)
    if not members.remove(store, pid, uid):
        fail(404, f"user {shown(uid)} is not a member of project {pid}")
    return web.Response(status=204)


async def invite_member(request: web.Request) -> web.Response:
    """The body is checked as the cloud checks it; then a 422: no email accounts here."""
    pid = request.match_info["pid"]
    project_in(request, pid, least=ADMIN)
    body = await _member_body(request, ("email", "project_role_id"))
    email = str(require_str(body, "email"))
    if "@" not in email or len(email) > 320:
        fail(422, f"'email' must be an email address, got {shown(email)}")
    _role(body)
    fail(
        422,
        f"'email': the local server has no email accounts and sends no invitations; add a "
        f"member by the owner id of their API key with POST /projects/{pid}/members "
        "(client.project.add_member)",
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/projects", list_projects)
    r.add_post("/projects", create_project)
    r.add_get("/projects/{pid}", get_project)
    r.add_patch("/projects/{pid}", update_project)
    r.add_delete("/projects/{pid}", delete_project)
    r.add_get("/roles/project", list_roles)
    r.add_get("/projects/{pid}/members", list_members)
    r.add_post("/projects/{pid}/members", add_member)
    r.add_patch("/projects/{pid}/members/{uid}", update_member)
    r.add_delete("/projects/{pid}/members/{uid}", remove_member)
    r.add_post("/projects/{pid}/invites", invite_member)
