"""Access to projects shared with a key: the one place a request becomes a project member.

Every record belongs to an owner and every query filters by it (``owner(request)``). A project
shared with another key (``project_members``, :mod:`ionworks.server.db.members`) keeps all its
records under the project's owner: a member who enters the project — by naming it
(:func:`project_in`) or one of its records (:func:`find_shared`) — acts as that owner for the
rest of the request (``owner(request)`` answers the project's owner), within two bounds:

- only the projects shared with the key: a record of the owner's other projects is a 404, as
  for any other key (:func:`visible`, :func:`find_shared`);
- the role: a ``Project Viewer`` only reads, a ``Project Contributor`` also writes the project's
  records, a ``Project Admin`` also renames the project and manages its members (403 naming the
  role otherwise). Only the owner deletes a project.

A request acts for one owner: once inside a shared project, the key's own projects are not
visible in the same request. Every record type a project holds is shared this way; the id
lookups of cell specifications, instances, measurements and uploads, which several route
modules share, are here (:func:`cell_specification`, :func:`cell_instance`,
:func:`measurement`, :func:`enter_upload`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
from aiohttp import web

from ionworks.server.api.http import ACTING, OWNER, fail, owner
from ionworks.server.db import (
    cells,
    measurements,
    members,
    models,
    parameterized_models,
    projects,
    uploads,
)
from ionworks.server.db.members import CONTRIBUTOR, VIEWER, Grant, Role
from ionworks.server.db.store import Store
from ionworks.server.state import state

__all__ = [
    "acting",
    "cell_instance",
    "cell_specification",
    "check_references",
    "enter_if_shared",
    "enter_upload",
    "find_shared",
    "measurement",
    "project_in",
    "readable_owners",
    "record_in",
    "shared_view",
    "shown",
    "visible",
]

T = TypeVar("T")


@attrs.frozen
class Scope:
    """The owner a request acts for and the projects of that owner shared with its key."""

    owner_id: str
    grants: dict[str, Grant]


SCOPE = web.RequestKey("project_scope", Scope)


def shown(value: Any) -> str:
    """``repr(value)`` cut to 80 characters: messages never echo a whole hostile value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def acting(request: web.Request) -> bool:
    """Whether the request acts inside a project shared with its key."""
    return SCOPE in request


def _least(request: web.Request, least: Role | None) -> Role:
    """The role an action needs: ``least``, else reading for GET/HEAD and writing otherwise."""
    if least is not None:
        return least
    return VIEWER if request.method in ("GET", "HEAD") else CONTRIBUTOR


def _allow(grant: Grant, needed: Role) -> None:
    if grant.role.rank < needed.rank:
        fail(
            403,
            f"your role in project {grant.project_id} is {grant.role.name!r}; this needs "
            f"{needed.name!r} or higher",
        )


def _scope(owner_id: str, grants: list[Grant]) -> Scope:
    """The projects of ``owner_id`` among the key's grants."""
    return Scope(owner_id, {g.project_id: g for g in grants if g.owner_id == owner_id})


def _enter(request: web.Request, scope: Scope) -> None:
    request[SCOPE] = scope
    request[ACTING] = scope.owner_id


def _granted(
    request: web.Request,
    scope: Scope,
    record: T | None,
    project_of: Callable[[T], Any],
    least: Role | None,
) -> T | None:
    """``record`` if it lies in one of the scope's projects (403 below the role needed)."""
    grant = None if record is None else scope.grants.get(project_of(record))
    if grant is None:
        return None
    _allow(grant, _least(request, least))
    return record


def shared_view(project: dict[str, Any], grant: Grant) -> dict[str, Any]:
    """A project as a member sees it: never their default project, with their role."""
    return {
        **project,
        "is_default": False,
        "project_role_id": grant.role.id,
        "role_name": grant.role.name,
    }


def project_in(
    request: web.Request, project_id: Any, *, least: Role | None = None
) -> dict[str, Any]:
    """The project the request names, its own or one shared with its key (then the request
    acts as the project's owner from here on), or a 404; a 403 if the key's role is below
    ``least`` (default: reading for GET/HEAD, writing otherwise)."""
    if not isinstance(project_id, str) or not project_id:
        fail(404, f"project {shown(project_id)} not found")
    store = state(request).store
    if not acting(request):
        project = projects.get(store, request[OWNER], project_id)
        if project is not None:
            return project
        grant = members.grant(store, project_id, request[OWNER])
        if grant is None:
            fail(404, f"project {shown(project_id)} not found")
        _enter(request, _scope(grant.owner_id, members.grants(store, request[OWNER])))
    scope = request[SCOPE]
    grant = scope.grants.get(project_id)
    found = None if grant is None else projects.get(store, scope.owner_id, project_id)
    if grant is None or found is None:
        fail(404, f"project {shown(project_id)} not found")
    _allow(grant, _least(request, least))
    return shared_view(found, grant)


def enter_if_shared(request: web.Request, project_id: Any, *, least: Role | None = None) -> None:
    """For a list filtered by ``project_id``: enter the project if it is shared with the key
    (see :func:`project_in`); any other id filters the key's own records, as it always did
    (an unknown project lists nothing)."""
    store = state(request).store
    shared = isinstance(project_id, str) and members.grant(store, project_id, request[OWNER])
    if acting(request) or shared:
        project_in(request, project_id, least=least)


def visible(request: web.Request, project_id: Any) -> bool:
    """Whether a record of ``owner(request)`` in ``project_id`` may be shown: always for the
    key's own records, only in the shared projects once the request acts inside one."""
    return not acting(request) or project_id in request[SCOPE].grants


def find_shared(
    request: web.Request,
    find: Callable[[str], T | None],
    project_of: Callable[[T], Any],
    *,
    least: Role | None = None,
) -> T | None:
    """A record found by ``find(owner_id)``: the key's own, or one in a project shared with
    the key (the request then acts as its owner; 403 below ``least``, see :func:`project_in`).
    None if neither: the caller answers 404."""
    if acting(request):
        scope = request[SCOPE]
        return _granted(request, scope, find(scope.owner_id), project_of, least)
    record = find(request[OWNER])
    if record is not None:
        return record
    grants = members.grants(state(request).store, request[OWNER])
    for owner_id in dict.fromkeys(g.owner_id for g in grants):
        scope = _scope(owner_id, grants)
        record = _granted(request, scope, find(owner_id), project_of, least)
        if record is not None:
            _enter(request, scope)
            return record
    return None


Find = Callable[[Store, str, str], sqlite3.Row | None]


def record_in(
    request: web.Request, what: str, find: Find, record_id: str, *, least: Role | None = None
) -> sqlite3.Row:
    """The record ``find(store, owner_id, record_id)`` answers, the key's own or one in a
    project shared with the key (see :func:`find_shared`), or a 404 ``{what} '{id}' not found``."""
    store = state(request).store
    row = find_shared(
        request, lambda owner_id: find(store, owner_id, record_id), _project_of, least=least
    )
    if row is None:
        fail(404, f"{what} {shown(record_id)} not found")
    return row


def _project_of(row: sqlite3.Row) -> Any:
    return row["project_id"]


def cell_specification(request: web.Request, spec_id: str) -> sqlite3.Row:
    """The path's cell specification (:func:`record_in`)."""
    return record_in(request, "cell specification", cells.get_specification, spec_id)


def cell_instance(request: web.Request, instance_id: str) -> sqlite3.Row:
    """The path's cell instance (:func:`record_in`)."""
    return record_in(request, "cell instance", cells.get_instance, instance_id)


def measurement(request: web.Request, measurement_id: str) -> sqlite3.Row:
    """The path's measurement (:func:`record_in`)."""
    return record_in(request, "measurement", measurements.get, measurement_id)


def enter_upload(request: web.Request, measurement_id: str) -> None:
    """For ``confirm-upload``: enter the project of a measurement being uploaded (a writer's
    role needed) if it lies in a project shared with the key; a no-op for the key's own (or
    unknown) uploads, which the caller looks up as before."""
    store = state(request).store
    find_shared(request, lambda owner_id: uploads.project_of(store, owner_id, measurement_id), str)


def _named(tree: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """Every string in a JSON tree with the key it sits under."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from _named(value, str(name))
    elif isinstance(tree, list):
        for item in tree:
            yield from _named(item, key)
    elif isinstance(tree, str):
        yield key, tree


def check_references(request: web.Request, tree: Any) -> None:
    """Once the request acts inside a shared project, every measurement (``"db:<id>"``),
    stored parameterized model (``"parameterized_model": "<id>"``) and stored model
    (``"model_id": "<id>"``) that ``tree`` (a request body or pipeline config) names must lie in
    a shared project: the owner's others are a 404, as for any key. A no-op for the key's own
    records."""
    if not acting(request):
        return
    store, owner_id = state(request).store, owner(request)
    for key, value in _named(tree):
        if value.startswith("db:"):
            row, what = measurements.get(store, owner_id, value[3:]), "measurement"
        elif key == "parameterized_model":
            row, what = parameterized_models.get(store, owner_id, value), "parameterized model"
        elif key == "model_id":
            row, what = models.get(store, owner_id, value), "model"
        else:
            continue
        if row is not None and not visible(request, row["project_id"]):
            fail(404, f"{what} {shown(row['id'])} not found")


def readable_owners(request: web.Request) -> list[tuple[str, frozenset[str] | None]]:
    """Whose records a request that names no project may read, as ``(owner, projects)``
    (``None``: all of them): the key's own, and each owner's projects shared with the key."""
    if acting(request):
        scope = request[SCOPE]
        return [(scope.owner_id, frozenset(scope.grants))]
    out: list[tuple[str, frozenset[str] | None]] = [(owner(request), None)]
    by_owner: dict[str, set[str]] = {}
    for grant in members.grants(state(request).store, request[OWNER]):
        by_owner.setdefault(grant.owner_id, set()).add(grant.project_id)
    out += [(owner_id, frozenset(pids)) for owner_id, pids in by_owner.items()]
    return out
