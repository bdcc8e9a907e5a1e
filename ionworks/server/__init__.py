"""The embedded local server: the Ionworks HTTP API on this machine (aiohttp + SQLite + PyBaMM).

``ionworks serve`` runs it in the foreground, ``ionworks serve --daemon`` as the shared local
daemon that clients with no API configured use (:mod:`ionworks.server.daemon`);
:class:`EmbeddedServer` runs it on a background thread of this process (tests, notebooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ionworks.server.hosting import EmbeddedServer, default_data_dir

__all__ = ["EmbeddedServer", "default_data_dir"]


def __getattr__(name: str) -> Any:
    """The names above, loaded on first use: worker processes, which import this package for
    their job functions, never load aiohttp's web server."""
    if name not in __all__:
        raise AttributeError(f"module 'ionworks.server' has no attribute {name!r}")
    from ionworks.server import hosting as embedded

    return getattr(embedded, name)
