"""The web pages of the local server at ``/ui`` (``ionworks ui`` opens them).

Server-rendered HTML (:mod:`.html` escapes every value) with a little JavaScript from
``static/`` (uPlot for the plots, vendored; no CDN, no inline script). Pages read the JSON API
through its own handlers for the signed-in key's owner (:mod:`.dispatch`), so they show what
the API shows that key; sign-in and sessions are in :mod:`.auth`.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the ``/ui`` routes to the server's application."""
    from ionworks.server.ui import auth, pages, pages_data, pages_fits, static, tables

    auth.routes(app)
    tables.routes(app)
    static.routes(app)
    pages.routes(app)
    pages_data.routes(app)
    pages_fits.routes(app)
