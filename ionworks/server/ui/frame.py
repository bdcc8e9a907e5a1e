"""The frame of every web page (header, navigation, scripts) and the security headers every
``/ui`` response carries."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ionworks.server.ui.html import Safe, el, url
from ionworks.server.ui.sessions import Session

__all__ = ["HEADERS", "error_page", "html_page", "secured"]

#: No inline script or style anywhere: scripts and styles come from /ui/static only.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HTML: Final = "text/html; charset=utf-8"


def secured(response: web.StreamResponse, *, cache: bool = False) -> web.StreamResponse:
    """``response`` with the security headers (and ``no-store`` unless ``cache``)."""
    response.headers.update(HEADERS)
    response.headers.setdefault("Cache-Control", "max-age=3600" if cache else "no-store")
    return response


def _nav(session: Session | None, project_id: str | None) -> Safe:
    if session is None:
        return el("nav", None)
    links: list[Any] = [el("a", {"href": url("projects")}, "Projects")]
    if project_id:
        for name, label in (
            ("simulations", "Simulations"),
            ("measurements", "Measurements"),
            ("studies", "Studies"),
            ("pipelines", "Pipelines"),
        ):
            links.append(el("a", {"href": url("projects", project_id, name)}, label))
    links.append(el("a", {"href": url("jobs")}, "Jobs"))
    logout = el(
        "form",
        {"method": "post", "action": url("logout"), "class": "logout"},
        el("input", {"type": "hidden", "name": "csrf", "value": session.csrf}),
        el("button", {"type": "submit"}, "Log out"),
    )
    return el("nav", None, links, logout)


def html_page(
    title: str,
    body: Any,
    session: Session | None = None,
    *,
    project_id: str | None = None,
    status: int = 200,
) -> web.Response:
    """A whole page: ``body`` (built with :func:`~.html.el`) inside the common frame."""
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("meta", {"name": "csrf-token", "content": session.csrf if session else ""}),
        el("title", None, f"{title} · Ionworks local"),
        el("link", {"rel": "stylesheet", "href": url("static", "uPlot.min.css")}),
        el("link", {"rel": "stylesheet", "href": url("static", "ui.css")}),
        el("script", {"src": url("static", "uPlot.iife.min.js"), "defer": True}),
        el("script", {"src": url("static", "ui.js"), "defer": True}),
    )
    page = el(
        "html",
        {"lang": "en"},
        head,
        el(
            "body",
            None,
            el(
                "header",
                None,
                el("span", {"class": "brand"}, "Ionworks local"),
                _nav(session, project_id),
            ),
            el("main", None, el("h1", None, title), body),
        ),
    )
    response = web.Response(text="<!DOCTYPE html>" + page, status=status, content_type="text/html")
    return secured(response)  # type: ignore[return-value]


def error_page(status: int, detail: Any, session: Session | None = None) -> web.Response:
    """The page of an error: its status and the API's message."""
    titles = {401: "Not signed in", 403: "Forbidden", 404: "Not found"}
    title = titles.get(status, "Error")
    body = [el("p", {"class": "error", "data-status": status}, str(detail))]
    if status == 401:
        body.append(el("p", None, el("a", {"href": url("login")}, "Sign in")))
    return html_page(title, body, session, status=status)
