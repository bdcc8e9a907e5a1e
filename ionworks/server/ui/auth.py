"""Signing in to the web pages and the guards every ``/ui`` handler runs behind.

- ``POST /ui/login-token`` (with the API key, checked by the API's own middleware): a one-time
  login token; ``GET /ui/login?token=…`` shows a "Continue" form that posts it back (a plain
  navigation never signs in: no login CSRF); ``POST /ui/login`` with the token (same origin
  only) ends the browser's current session, opens a new one in a cookie (HttpOnly,
  SameSite=Strict, Path=/ui) and redirects to the projects. A spent, expired or unknown
  token is a 401 page.
- ``GET /ui/login`` without a token: a form that takes an API key (``POST /ui/login``).
  Failed sign-ins are limited per client address (429 once used up); a server holding as
  many sessions as it keeps answers 429 too.
- ``POST /ui/logout``: ends the session (CSRF token required).

:func:`page` and :func:`data` wrap the handlers that need a session: the session's owner takes
the place of an API key for the rest of the request (``request[OWNER]``), so the API's
scoping applies unchanged; state-changing handlers call :func:`check_csrf` first.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ionworks.server.api.app import LOCAL_OWNER
from ionworks.server.api.http import OWNER, HTTPError, json_response
from ionworks.server.state import state
from ionworks.server.ui.frame import error_page, html_page, secured
from ionworks.server.ui.html import el, url
from ionworks.server.ui.sessions import SESSION_TTL, TOKEN_TTL, Full, Session, Sessions, Throttle

__all__ = [
    "SESSION",
    "SESSIONS",
    "check_csrf",
    "data",
    "page",
    "public",
    "read_form",
    "redirect",
    "routes",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSIONS: Final = web.AppKey("ui_sessions", Sessions)
THROTTLE: Final = web.AppKey("ui_throttle", Throttle)
SESSION: Final = web.RequestKey("ui_session", Session)
COOKIE: Final = "ionworks_ui"
#: Forms of the pages are small: a longer body is refused before it is read.
MAX_FORM_BYTES: Final = 4096
EXPIRED: Final = "this login link was already used or has expired: run `ionworks ui` again"


def _session(request: web.Request) -> Session | None:
    return request.app[SESSIONS].get(request.cookies.get(COOKIE))


def _guarded(handler: Handler, *, json_errors: bool, needs_session: bool) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        session = _session(request)
        try:
            if needs_session:
                if session is None:
                    raise HTTPError(401, "sign in to see this page")
                request[SESSION] = session
                request[OWNER] = session.owner_id
            response = await handler(request)
        except HTTPError as exc:
            if json_errors:
                response = exc.response()
            elif exc.status == 401 and request.method == "GET" and needs_session:
                response = redirect(url("login"))
            else:
                response = error_page(exc.status, exc.detail, session)
        return secured(response)

    return guarded


def page(handler: Handler) -> Handler:
    """A page that needs a session (without one: to the login form); errors as pages."""
    return _guarded(handler, json_errors=False, needs_session=True)


def data(handler: Handler) -> Handler:
    """A data call of the pages' scripts: a session needed (401 otherwise); JSON errors."""
    return _guarded(handler, json_errors=True, needs_session=True)


def public(handler: Handler) -> Handler:
    """A handler without a session (login, static files): the headers and error pages."""
    return _guarded(handler, json_errors=False, needs_session=False)


async def read_form(request: web.Request) -> dict[str, str]:
    """A small ``application/x-www-form-urlencoded`` body: each field's first value."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise HTTPError(415, "send the form as application/x-www-form-urlencoded")
    try:
        raw = await _body(request)
    except (asyncio.IncompleteReadError, ConnectionError, HttpProcessingError):
        raise HTTPError(400, "the form body ended early or was malformed") from None
    try:
        fields = parse_qs(raw.decode("utf-8"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPError(400, f"the form could not be read: {exc}") from None
    return {name: values[0] for name, values in fields.items() if values}


async def _body(request: web.Request) -> bytes:
    """The whole body: exactly its declared length, else (chunked) up to the cap."""
    too_long = HTTPError(413, f"a form body may be at most {MAX_FORM_BYTES} bytes")
    length = request.content_length
    if length is not None:
        if length > MAX_FORM_BYTES:
            raise too_long
        return await request.content.readexactly(length)
    raw = b""
    while chunk := await request.content.read(MAX_FORM_BYTES + 1 - len(raw)):
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise too_long
    return raw


def _same_origin(request: web.Request) -> None:
    """403 unless the request comes from this server's own pages: a browser's
    ``Sec-Fetch-Site`` must be ``same-origin``; without it, an ``Origin`` must be this server
    (pages send ``Origin: null`` under ``Referrer-Policy: no-referrer``, so does a sandboxed
    foreign page: only the fetch metadata tells them apart). Clients that are not browsers
    send neither."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    if site is not None:
        allowed = site == "same-origin" and origin in (None, "null", own)
    else:
        allowed = origin is None or origin == own
    if not allowed:
        raise HTTPError(403, "cross-origin form posts are refused")


def check_csrf(request: web.Request, form: dict[str, str] | None = None) -> Session:
    """The session, if the request carries its CSRF token (header ``X-CSRF-Token`` or form
    field ``csrf``, compared in constant time) and no foreign ``Origin``; else a 403."""
    session = request[SESSION]
    _same_origin(request)
    sent = request.headers.get("X-CSRF-Token") or (form or {}).get("csrf") or ""
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf.encode()):
        raise HTTPError(403, "missing or wrong CSRF token: reload the page and try again")
    return session


def redirect(location: str) -> web.Response:
    """A 303 to ``location`` (a path of this package's own making)."""
    return web.Response(status=303, headers={"Location": location})


def _signed_in(request: web.Request, owner_id: str) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    sessions.close(request.cookies.get(COOKIE))
    try:
        sid, _ = sessions.open(owner_id)
    except Full:
        raise HTTPError(429, "the server has too many open sessions: try again later") from None
    response = redirect(url("projects"))
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(SESSION_TTL),
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


def _form(message: str | None = None, status: int = 200) -> web.Response:
    body = [
        el("p", {"class": "error"}, message) if message else None,
        el(
            "form",
            {"method": "post", "action": url("login"), "class": "login"},
            el("label", {"for": "api_key"}, "API key"),
            el(
                "input",
                {"type": "password", "name": "api_key", "id": "api_key", "autocomplete": "off"},
            ),
            el("button", {"type": "submit"}, "Sign in"),
        ),
        el(
            "p",
            {"class": "hint"},
            "Or run ",
            el("code", None, "ionworks ui"),
            " to sign in without typing the key.",
        ),
    ]
    return html_page("Sign in", body, status=status)


async def login_token(request: web.Request) -> web.Response:
    """``POST /ui/login-token``: a one-time login token of the API key's owner."""
    try:
        token = request.app[SESSIONS].issue_token(request[OWNER])
    except Full:
        raise HTTPError(429, "too many unused login tokens: try again in two minutes") from None
    path = url("login", token=token)
    return json_response({"token": token, "login_path": path, "expires_in": TOKEN_TTL})


def _continue(token: str) -> web.Response:
    form = el(
        "form",
        {"method": "post", "action": url("login"), "class": "login"},
        el("input", {"type": "hidden", "name": "token", "value": token}),
        el("button", {"type": "submit", "id": "continue"}, "Continue"),
    )
    return html_page("Sign in", [el("p", None, "Continue to the web pages of this server."), form])


async def login(request: web.Request) -> web.StreamResponse:
    """``GET /ui/login``: with ``?token=`` a form that posts the token (a navigation alone
    never signs in), else the API-key form."""
    if "token" not in request.query:
        return _form()
    token = request.query["token"]
    if not request.app[SESSIONS].valid(token):
        raise HTTPError(401, EXPIRED)
    return _continue(token)


async def login_form(request: web.Request) -> web.StreamResponse:
    """``POST /ui/login``: a login token, or the form's API key (empty only when the server
    allows anonymous access), opens a session; failures are limited per client address."""
    _same_origin(request)
    throttle, address = request.app[THROTTLE], request.remote or "unknown"
    if throttle.blocked(address):
        raise HTTPError(429, "too many failed sign-ins from this address: wait a minute")
    form = await read_form(request)
    server = state(request)
    owner_id: str | None
    if "token" in form:
        owner_id = request.app[SESSIONS].redeem(form["token"])
        if owner_id is None:
            throttle.failed(address)
            raise HTTPError(401, EXPIRED)
        return _signed_in(request, owner_id)
    key = form.get("api_key", "")
    if not key:
        owner_id = LOCAL_OWNER if server.config.allow_anonymous else None
    else:
        owner_id = None if len(key) > 512 else server.store.owner_for_key(key)
    if owner_id is None:
        throttle.failed(address)
        return _form("That API key is not valid on this server.", status=401)
    return _signed_in(request, owner_id)


async def logout(request: web.Request) -> web.StreamResponse:
    check_csrf(request, await read_form(request))
    request.app[SESSIONS].close(request.cookies.get(COOKIE))
    response = redirect(url("login"))
    response.del_cookie(COOKIE, path="/ui")
    return response


def routes(app: web.Application) -> None:
    app[SESSIONS] = Sessions()
    app[THROTTLE] = Throttle()
    r = app.router
    r.add_post("/ui/login-token", public(login_token))
    r.add_get("/ui/login", public(login))
    r.add_post("/ui/login", public(login_form))
    r.add_post("/ui/logout", page(logout))
