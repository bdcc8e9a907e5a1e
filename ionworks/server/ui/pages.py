"""Pages: projects, a project's simulations (live statuses, search) and one simulation."""

from __future__ import annotations

import contextlib
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import HTTPError
from ionworks.server.ui import tables
from ionworks.server.ui.auth import SESSION, page
from ionworks.server.ui.dispatch import api_json, api_path, check_id
from ionworks.server.ui.frame import html_page
from ionworks.server.ui.html import Safe, el, fmt, json_block, table, url

__all__ = ["plot", "project_of", "routes", "status_cell", "summary", "template_names"]

#: Simulations a list page shows (newest first).
LIST_LIMIT: Final = 500
TIME: Final = "Time [s]"
PLOTS: Final = (
    ("Voltage [V]", "Voltage"),
    ("Current [A]", "Current"),
    ("Temperature [°C]", "Temperature"),
    ("Capacity [A.h]", "Capacity"),
)
TERMINAL: Final = frozenset({"completed", "failed", "canceled", "cancelled"})


async def project_of(request: web.Request, project_id: str) -> dict[str, Any]:
    """The project the path names, as the API shows it to the session's key (404 else)."""
    project: dict[str, Any] = await api_json(request, "projects", check_id(project_id, "project"))
    return project


def status_cell(status: Any) -> Safe:
    return el(
        "span", {"class": f"status status-{fmt(status)}", "data-status": fmt(status)}, fmt(status)
    )


def summary(status: Any, *details: Any, poll: str | None = None) -> Safe:
    """The line under a record's title: its status, then ``details``; ``poll``: the API path
    the page's script polls until the record is finished (then it reloads the page)."""
    return el(
        "p",
        {"id": "summary", "data-poll": poll},
        "Status ",
        status_cell(status),
        [(" · ", detail) for detail in details],
    )


def plot(source: str, x: str, y: str, points: int, title: str, y2: str | None = None) -> Safe:
    """A plot of column ``y`` (and ``y2``, dashed, on the same axes) against ``x`` of the JSON
    block ``source`` (drawn by ui.js)."""
    attrs = {"class": "plot", "data-source": source, "data-x": x, "data-y": y, "data-y2": y2}
    return el(
        "figure", None, el("div", {**attrs, "data-points": points}), el("figcaption", None, title)
    )


def kv_table(values: dict[str, Any], table_id: str | None = None) -> Safe:
    return table(["Name", "Value"], sorted(values.items()), table_id=table_id)


async def template_names(request: web.Request, ids: set[str]) -> dict[str, str]:
    """Protocol (template) names by id, for at most 50 ids; unknown ones are left out."""
    names: dict[str, str] = {}
    for tid in sorted(ids)[:50]:
        with contextlib.suppress(HTTPError):
            found = await api_json(request, "experiment_templates", tid)
            names[tid] = str(found.get("name") or tid)
    return names


@page
async def projects_page(request: web.Request) -> web.Response:
    listed = await api_json(request, "projects", limit=LIST_LIMIT)
    rows = [
        [
            el("a", {"href": url("projects", p["id"], "simulations")}, p.get("name") or p["id"]),
            p.get("description"),
            p.get("role_name") or ("owner" if not p.get("is_default") else "owner (default)"),
            Safe(
                " · ".join(
                    el("a", {"href": url("projects", p["id"], name)}, name)
                    for name in ("measurements", "studies", "pipelines")
                )
            ),
        ]
        for p in listed.get("items", [])
    ]
    body = table(["Project", "Description", "Role", "Also"], rows, table_id="projects")
    return html_page("Projects", body, request[SESSION])


def _search_text(sim: dict[str, Any], name: str) -> str:
    params = {**(sim.get("experiment_parameters") or {}), **(sim.get("design_parameters") or {})}
    return " ".join([name, sim["id"], *(f"{k}={fmt(v)}" for k, v in params.items())]).lower()


@page
async def simulations_page(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    project = await project_of(request, pid)
    listed = await api_json(request, "simulations", project_id=pid, limit=LIST_LIMIT)
    sims: list[dict[str, Any]] = listed.get("simulations", [])
    names = await template_names(
        request, {s["experiment_template_id"] for s in sims if s.get("experiment_template_id")}
    )
    rows = []
    sweeps: dict[str, int] = {}
    for sim in sims:
        tid = sim.get("experiment_template_id") or ""
        name = names.get(tid, tid)
        if sim.get("design_parameters"):
            sweeps[tid] = sweeps.get(tid, 0) + 1
        params = {
            **(sim.get("experiment_parameters") or {}),
            **(sim.get("design_parameters") or {}),
        }
        cells = [
            el("a", {"href": url("simulations", sim["id"])}, name),
            status_cell(sim.get("status")),
            sim.get("parameterized_model_id"),
            ", ".join(f"{k} = {fmt(v)}" for k, v in params.items()),
            sim.get("created_at"),
        ]
        rows.append(
            el(
                "tr",
                {"data-id": sim["id"], "data-search": _search_text(sim, name)},
                [el("td", None, c) for c in cells],
            )
        )
    sweep_links = [
        el(
            "li",
            None,
            el(
                "a",
                {"href": url("projects", pid, "sweeps", tid)},
                f"{names.get(tid, tid)} ({count} points)",
            ),
        )
        for tid, count in sweeps.items()
        if count > 1
    ]
    head = el(
        "tr",
        None,
        [el("th", None, h) for h in ("Name", "Status", "Model", "Parameters", "Created")],
    )
    body = [
        el(
            "p",
            None,
            f"{listed.get('total', len(sims))} simulations in ",
            el("strong", None, project.get("name")),
        ),
        el("h2", None, "Sweeps") if sweep_links else None,
        el("ul", {"class": "sweeps"}, sweep_links) if sweep_links else None,
        el(
            "input",
            {
                "type": "search",
                "id": "filter",
                "placeholder": "Search by name, id or parameter",
                "aria-label": "Search",
            },
        ),
        el(
            "table",
            {
                "id": "simulations",
                "class": "live",
                "data-poll": api_path("simulations", project_id=pid, limit=LIST_LIMIT),
            },
            el("thead", None, head),
            el("tbody", None, rows),
        ),
    ]
    return html_page("Simulations", body, request[SESSION], project_id=pid)


async def _text(request: web.Request, *segments: str) -> str | None:
    with contextlib.suppress(HTTPError):
        return str(await api_json(request, *segments))
    return None


@page
async def simulation_page(request: web.Request) -> web.Response:
    sid = check_id(request.match_info["id"], "simulation")
    sim = await api_json(request, "simulations", sid)
    tid = sim.get("experiment_template_id")
    name = (await template_names(request, {tid})).get(tid, sid) if tid else sid
    body: list[Any] = [
        summary(
            sim.get("status"),
            ("model ", el("code", None, sim.get("parameterized_model_id"))),
            el("code", None, sid),
            poll=None if sim.get("status") in TERMINAL else api_path("simulations", sid),
        ),
    ]
    if sim.get("error"):
        body.append(el("pre", {"class": "error"}, sim["error"]))
    if sim.get("storage_folder"):
        ts_path = api_path("simulations", sid, "time_series", "download")
        data = await tables.series(request, ts_path, [TIME, *(c for c, _ in PLOTS)])
        steps = await tables.head(request, api_path("simulations", sid, "steps", "download"))
        points = len(data.get(TIME, []))
        body += [
            json_block("series-data", data),
            el(
                "div",
                {"class": "plots"},
                [
                    plot("series-data", TIME, col, points, title)
                    for col, title in PLOTS
                    if col in data
                ],
            ),
            el("h2", None, "Downloads"),
            el(
                "p",
                None,
                el(
                    "a",
                    {
                        "href": url("api", "simulations", sid, "time_series", "download"),
                        "download": f"{sid}-time_series.parquet",
                    },
                    "time series (parquet)",
                ),
                " · ",
                el(
                    "a",
                    {
                        "href": url("api", "simulations", sid, "steps", "download"),
                        "download": f"{sid}-steps.parquet",
                    },
                    "steps (parquet)",
                ),
            ),
            el("h2", None, "Steps"),
            table(*tables.table_rows(steps), table_id="steps"),
        ]
    body += [el("h2", None, "Metrics"), kv_table(sim.get("metrics") or {}, "metrics")]
    params = {
        "Parameterized model": sim.get("parameterized_model_id"),
        **(sim.get("experiment_parameters") or {}),
        **(sim.get("design_parameters") or {}),
    }
    body += [el("h2", None, "Parameters"), kv_table(params, "parameters")]
    if tid:
        source = await _text(request, "experiment_templates", tid, "source_protocol")
        readable = await _text(request, "experiment_templates", tid, "human_readable")
        body += [
            el("h2", None, "Protocol"),
            el("pre", {"id": "protocol"}, source) if source else None,
            el("pre", {"id": "protocol-readable"}, readable) if readable else None,
        ]
    return html_page(name, body, request[SESSION], project_id=sim.get("project_id"))


def routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ui", page(_home))
    r.add_get("/ui/", page(_home))
    r.add_get("/ui/projects", projects_page)
    r.add_get("/ui/projects/{pid}/simulations", simulations_page)
    r.add_get("/ui/simulations/{id}", simulation_page)


async def _home(request: web.Request) -> web.Response:
    from ionworks.server.ui.auth import redirect

    return redirect(url("projects"))
