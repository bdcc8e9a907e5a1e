"""Pages: a DOE/batch sweep (each design parameter against each metric), studies, and
pipelines and simple pipelines (status, fitted parameters, the cost trace and, when the job
recorded them, the measured-vs-model series)."""

from __future__ import annotations

import contextlib
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import HTTPError
from ionworks.server.ui.auth import SESSION, page
from ionworks.server.ui.dispatch import api_json, check_id
from ionworks.server.ui.frame import html_page
from ionworks.server.ui.html import el, json_block, table, url
from ionworks.server.ui.pages import (
    LIST_LIMIT,
    kv_table,
    plot,
    project_of,
    status_cell,
    summary,
    template_names,
)

__all__ = ["routes"]

#: Scatter plots a sweep page draws at most (parameters × metrics).
MAX_SCATTERS: Final = 24
KINDS: Final = {"pipelines": "Pipeline", "simple_pipelines": "Simple pipeline"}


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _varies(values: list[Any]) -> bool:
    """Whether a metric changes across the sweep by more than rounding noise."""
    numbers = [v for v in values if _numeric(v)]
    if len(numbers) < 2:
        return False
    return bool(max(numbers) - min(numbers) > 1e-9 * max(abs(v) for v in numbers))


@page
async def sweep_page(request: web.Request) -> web.Response:
    pid, tid = request.match_info["pid"], check_id(request.match_info["tid"], "sweep")
    await project_of(request, pid)
    listed = await api_json(
        request, "simulations", project_id=pid, experiment_template_id=tid, limit=LIST_LIMIT
    )
    sims = [s for s in listed.get("simulations", []) if s.get("design_parameters")]
    if not sims:
        raise HTTPError(404, f"sweep {tid} not found")
    params = sorted({k for s in sims for k, v in s["design_parameters"].items() if _numeric(v)})
    metrics = sorted({k for s in sims for k, v in (s.get("metrics") or {}).items() if _numeric(v)})
    done = [s for s in sims if s.get("metrics")]
    data = {
        c: [
            (s.get("design_parameters") or {}).get(c, (s.get("metrics") or {}).get(c)) for s in done
        ]
        for c in params + metrics
    }
    varying = [m for m in metrics if _varies(data[m])] or metrics
    pairs = [(p, m) for p in params for m in varying][:MAX_SCATTERS]
    name = (await template_names(request, {tid})).get(tid, tid)
    rows = [
        [
            el("a", {"href": url("simulations", s["id"])}, s["id"][:8]),
            status_cell(s.get("status")),
            *[(s["design_parameters"]).get(p) for p in params],
            *[(s.get("metrics") or {}).get(m) for m in metrics],
        ]
        for s in sims
    ]
    body = [
        el(
            "p",
            None,
            f"{len(sims)} points · {len(done)} finished · protocol ",
            el("strong", None, name),
        ),
        json_block("sweep-data", data),
        el(
            "div",
            {"class": "plots scatters"},
            [
                el(
                    "div",
                    {"class": "scatter-wrap"},
                    plot("sweep-data", p, m, len(done), f"{m} vs {p}"),
                )
                for p, m in pairs
            ],
        ),
        el("h2", None, "Points"),
        table(["Simulation", "Status", *params, *metrics], rows, table_id="sweep", sortable=True),
    ]
    return html_page(f"Sweep: {name}", body, request[SESSION], project_id=pid)


@page
async def studies_page(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    project = await project_of(request, pid)
    listed = await api_json(request, "projects", pid, "studies", limit=LIST_LIMIT)
    rows = [
        [
            el("a", {"href": url("projects", pid, "studies", s["id"])}, s.get("name") or s["id"]),
            s.get("description"),
            s.get("created_at"),
        ]
        for s in listed.get("items", [])
    ]
    body = [
        el("p", None, f"{len(rows)} studies in ", el("strong", None, project.get("name"))),
        table(["Study", "Description", "Created"], rows, table_id="studies"),
    ]
    return html_page("Studies", body, request[SESSION], project_id=pid)


@page
async def study_page(request: web.Request) -> web.Response:
    pid, sid = request.match_info["pid"], check_id(request.match_info["sid"], "study")
    study = await api_json(request, "projects", check_id(pid, "project"), "studies", sid)
    sims = (
        await api_json(request, "simulations", project_id=pid, study_id=sid, limit=LIST_LIMIT)
    ).get("simulations", [])
    measured: Any = []
    with contextlib.suppress(HTTPError):
        measured = await api_json(request, "projects", pid, "studies", sid, "measurements")
    items = measured.get("items", []) if isinstance(measured, dict) else measured
    body = [
        el("p", None, study.get("description")),
        el("h2", None, "Simulations"),
        table(
            ["Simulation", "Status", "Created"],
            [
                [
                    el("a", {"href": url("simulations", s["id"])}, s["id"]),
                    status_cell(s.get("status")),
                    s.get("created_at"),
                ]
                for s in sims
            ],
            table_id="study-simulations",
        ),
        el("h2", None, "Measurements"),
        table(
            ["Measurement", "Rows"],
            [
                [
                    el("a", {"href": url("measurements", m["id"])}, m.get("name") or m["id"]),
                    m.get("row_count"),
                ]
                for m in items
                if isinstance(m, dict) and "id" in m
            ],
            table_id="study-measurements",
        ),
    ]
    return html_page(f"Study: {study.get('name') or sid}", body, request[SESSION], project_id=pid)


@page
async def pipelines_page(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    project = await project_of(request, pid)
    body: list[Any] = [
        el("p", None, "Fits and calculations in ", el("strong", None, project.get("name")))
    ]
    for kind, label in KINDS.items():
        listed = await api_json(request, kind, project_id=pid, limit=LIST_LIMIT)
        items = listed.get("pipelines", listed.get("items", []))
        rows = [
            [
                el("a", {"href": url(kind, p["id"])}, p.get("name") or p["id"]),
                status_cell(p.get("status")),
                p.get("created_at"),
            ]
            for p in items
        ]
        body += [
            el("h2", None, f"{label}s"),
            table([label, "Status", "Created"], rows, table_id=kind),
        ]
    return html_page("Pipelines", body, request[SESSION], project_id=pid)


def _pairs(columns: list[str]) -> list[tuple[str, str | None, str]]:
    """Plots of recorded columns: ``Measured X`` with ``Model X`` on one plot, others alone."""
    out: list[tuple[str, str | None, str]] = []
    for column in columns:
        if column.startswith("Model ") and "Measured " + column[6:] in columns:
            continue
        model = "Model " + column[9:] if column.startswith("Measured ") else None
        if model in columns:
            out.append((column, model, f"measured and model {column[9:]}"))
        else:
            out.append((column, None, column))
    return out


async def _overlay(request: web.Request, job_id: str) -> list[Any]:
    """The measured-vs-model plots of the job's recorded series (none when it has none)."""
    out: list[Any] = []
    with contextlib.suppress(HTTPError):
        channels = await api_json(request, "jobs", job_id, "series", "channels")
        for index, objective in enumerate(sorted(channels)[:6]):
            data = await api_json(
                request, "jobs", job_id, "series", objective=objective, source="optimal"
            )
            block = f"overlay-{index}"
            points = len(data.get("Time [s]", []))
            plots = [
                plot(block, "Time [s]", y, points, f"{objective}: {title}", y2)
                for y, y2, title in _pairs([c for c in data if c != "Time [s]"])
            ]
            out += [json_block(block, data), el("div", {"class": "plots"}, plots[:4])]
    return out


def _element_rows(results: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            name,
            r.get("cost"),
            r.get("optimizer"),
            r.get("iterations"),
            r.get("success"),
            r.get("message"),
        ]
        for name, r in results.items()
        if isinstance(r, dict)
    ]


def _kind_page(kind: str) -> Any:
    @page
    async def pipeline_page(request: web.Request) -> web.Response:
        pid = check_id(request.match_info["id"], "pipeline")
        record = await api_json(request, kind, pid)
        body: list[Any] = [summary(record.get("status"), el("code", None, pid))]
        if record.get("error"):
            body.append(el("pre", {"class": "error"}, record["error"]))
        job_id = record.get("job_id")
        job = await api_json(request, "jobs", check_id(job_id, "job")) if job_id else {}
        found = job.get("result")
        result: dict[str, Any] = found if isinstance(found, dict) else {}
        fitted = result.get("parameter_values") or {}
        body += [el("h2", None, "Fitted parameters"), kv_table(fitted, "fitted")]
        elements = result.get("element_results") or {}
        if elements:
            body += [
                el("h2", None, "Elements"),
                table(
                    ["Element", "Cost", "Optimizer", "Iterations", "Success", "Message"],
                    _element_rows(elements),
                    table_id="elements",
                ),
            ]
        trace = [r for r in result.get("intermediate_results") or [] if isinstance(r, dict)]
        if trace:
            cost = {
                "Iteration": [r.get("iteration") for r in trace],
                "Cost": [r.get("cost") for r in trace],
                "Best cost": [r.get("best_cost") for r in trace],
            }
            body += [
                el("h2", None, "Cost trace"),
                json_block("cost-data", cost),
                el(
                    "div",
                    {"class": "plots"},
                    plot(
                        "cost-data", "Iteration", "Best cost", len(trace), "Best cost by iteration"
                    ),
                ),
            ]
        overlay = await _overlay(request, job_id) if job_id else []
        if overlay:
            body += [el("h2", None, "Measured and model"), *overlay]
        stats = {
            f"{objective}: {k}": v
            for r in elements.values()
            if isinstance(r, dict)
            for objective, values in (r.get("fit_summary_stats") or {}).items()
            for k, v in (values.items() if isinstance(values, dict) else [("", values)])
        }
        if stats:
            body += [el("h2", None, "Fit statistics"), kv_table(stats, "fit-stats")]
        return html_page(
            f"{KINDS[kind]}: {record.get('name') or pid}",
            body,
            request[SESSION],
            project_id=record.get("project_id"),
        )

    return pipeline_page


def routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ui/projects/{pid}/sweeps/{tid}", sweep_page)
    r.add_get("/ui/projects/{pid}/studies", studies_page)
    r.add_get("/ui/projects/{pid}/studies/{sid}", study_page)
    r.add_get("/ui/projects/{pid}/pipelines", pipelines_page)
    for kind in KINDS:
        r.add_get(f"/ui/{kind}/{{id}}", _kind_page(kind))
