"""Pages: a project's measurements, one measurement (time series, steps and cycles), and the
jobs (queued, running, finished) with their cancel buttons."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from ionworks.server.api.http import json_response
from ionworks.server.ui import tables
from ionworks.server.ui.auth import SESSION, check_csrf, page, read_form, redirect
from ionworks.server.ui.dispatch import api_json, api_path, check_id, inner_request, run
from ionworks.server.ui.frame import html_page
from ionworks.server.ui.html import el, json_block, table, url
from ionworks.server.ui.pages import LIST_LIMIT, TIME, plot, project_of, status_cell, summary

__all__ = ["routes"]

MEASURED: Final = (
    ("Voltage [V]", "Voltage"),
    ("Current [A]", "Current"),
    ("Temperature [degC]", "Temperature"),
)
JOB_LIMIT: Final = 200


def columns_table(columns: Any, table_id: str) -> Any:
    """A table from ``{column: [values]}`` (at most :data:`tables.MAX_ROWS` rows)."""
    if not isinstance(columns, dict) or not columns:
        return el("p", {"class": "empty"}, "none")
    headers = [str(h) for h in columns]
    values = [v if isinstance(v, list) else [] for v in columns.values()]
    count = min(tables.MAX_ROWS, max(len(v) for v in values))
    rows = [[v[i] if i < len(v) else None for v in values] for i in range(count)]
    return table(headers, rows, table_id=table_id)


@page
async def measurements_page(request: web.Request) -> web.Response:
    pid = request.match_info["pid"]
    project = await project_of(request, pid)
    listed = await api_json(request, "cell_measurements", project_id=pid, limit=LIST_LIMIT)
    rows = [
        [
            el("a", {"href": url("measurements", m["id"])}, m.get("name") or m["id"]),
            status_cell(m.get("processing_status")),
            m.get("row_count"),
            ", ".join(m.get("tags") or []),
            m.get("created_at"),
        ]
        for m in listed.get("items", [])
    ]
    body = [
        el("p", None, f"{len(rows)} measurements in ", el("strong", None, project.get("name"))),
        table(["Name", "Status", "Rows", "Tags", "Created"], rows, table_id="measurements"),
    ]
    return html_page("Measurements", body, request[SESSION], project_id=pid)


@page
async def measurement_page(request: web.Request) -> web.Response:
    mid = check_id(request.match_info["id"], "measurement")
    record = await api_json(request, "cell_measurements", mid)
    body: list[Any] = [
        summary(
            record.get("processing_status"),
            f"{record.get('row_count')} rows",
            el("code", None, mid),
        )
    ]
    if record.get("processing_status") == "ready":
        ts_path = api_path("cell_measurements", mid, "time_series", "download")
        data = await tables.series(request, ts_path, [TIME, *(c for c, _ in MEASURED)])
        points = len(data.get(TIME, []))
        found = await api_json(request, "cell_measurements", mid, "steps_and_cycles")
        body += [
            json_block("series-data", data),
            el(
                "div",
                {"class": "plots"},
                [plot("series-data", TIME, c, points, t) for c, t in MEASURED if c in data],
            ),
            el(
                "p",
                None,
                el(
                    "a",
                    {
                        "href": url("api", "cell_measurements", mid, "time_series", "download"),
                        "download": f"{mid}-time_series.parquet",
                    },
                    "time series (parquet)",
                ),
            ),
            el("h2", None, "Steps"),
            columns_table(found.get("steps"), "steps"),
            el("h2", None, "Cycles"),
            columns_table(found.get("cycles"), "cycles"),
        ]
    return html_page(
        record.get("name") or mid, body, request[SESSION], project_id=record.get("project_id")
    )


def _job_row(job: dict[str, Any], csrf: str) -> Any:
    cancel = None
    if not job.get("is_terminal"):
        cancel = el(
            "form",
            {"method": "post", "action": url("jobs", job["id"], "cancel"), "class": "cancel"},
            el("input", {"type": "hidden", "name": "csrf", "value": csrf}),
            el("button", {"type": "submit"}, "Cancel"),
        )
    cells = [
        el("code", None, job["id"]),
        job.get("job_type"),
        status_cell(job.get("status")),
        job.get("created_at"),
        job.get("started_at"),
        job.get("finished_at"),
        job.get("error"),
        cancel,
    ]
    return el("tr", {"data-id": job["id"]}, [el("td", None, c) for c in cells])


@page
async def jobs_page(request: web.Request) -> web.Response:
    jobs: list[dict[str, Any]] = await api_json(request, "jobs", limit=JOB_LIMIT)
    csrf = request[SESSION].csrf
    headers = ("Job", "Type", "Status", "Created", "Started", "Finished", "Error", "")
    head = el("tr", None, [el("th", None, h) for h in headers])
    counts = {s: sum(1 for j in jobs if j.get("status") == s) for s in ("pending", "running")}
    poll = api_path("jobs", limit=JOB_LIMIT)
    groups = (
        ("open-jobs", "Queued and running", [j for j in jobs if not j.get("is_terminal")]),
        ("done-jobs", "Finished", [j for j in jobs if j.get("is_terminal")]),
    )
    body: list[Any] = [
        el(
            "p",
            {"id": "counts"},
            f"{counts['pending']} queued · {counts['running']} running · newest {len(jobs)} jobs shown",
        )
    ]
    for table_id, title, group in groups:
        rows = [_job_row(j, csrf) for j in group]
        attrs = {"id": table_id, "class": "live", "data-poll": poll}
        body += [
            el("h2", None, title),
            el("table", attrs, el("thead", None, head), el("tbody", None, rows)),
        ]
    return html_page("Jobs", body, request[SESSION])


@page
async def cancel_job(request: web.Request) -> web.StreamResponse:
    """``POST /ui/jobs/{id}/cancel`` (CSRF token in ``X-CSRF-Token`` or the form): the API's
    cancel for the session's owner; JSON for the script, else back to the jobs page."""
    job_id = check_id(request.match_info["id"], "job")
    inner = inner_request(request, api_path("jobs", job_id, "cancel"), method="POST")
    scripted = "X-CSRF-Token" in request.headers
    check_csrf(request, None if scripted else await read_form(request))
    response = await run(request, inner)
    if scripted and isinstance(response, web.Response) and isinstance(response.body, bytes):
        return json_response(json.loads(response.body))
    return redirect(url("jobs"))


def routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ui/projects/{pid}/measurements", measurements_page)
    r.add_get("/ui/measurements/{id}", measurement_page)
    r.add_get("/ui/jobs", jobs_page)
    r.add_post("/ui/jobs/{id}/cancel", cancel_job)
