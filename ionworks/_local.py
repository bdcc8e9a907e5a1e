"""How the client reaches the zero-config local server, without importing the server.

The client asks :func:`local_server` for ``(url, api_key)`` when no API is configured. The
provider behind it is registered by the package's top level (``ionworks/__init__.py`` wires
the embedded server of :mod:`ionworks.server.hosting`), so the client layer never imports
the server and a different host (a test, a notebook extension) can register its own.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LocalServerProvider", "local_server", "set_local_server_provider"]

#: Returns ``(url, api_key)`` of a running local server, starting it if needed; raises
#: ``RuntimeError`` with a user-facing reason if it cannot.
LocalServerProvider = Callable[[], tuple[str, str]]

_provider: LocalServerProvider | None = None


def set_local_server_provider(provider: LocalServerProvider | None) -> None:
    """Register the provider :func:`local_server` uses (``None`` removes it)."""
    global _provider
    _provider = provider


def local_server() -> tuple[str, str]:
    """``(url, api_key)`` of the local server (blocking: call it in a worker thread)."""
    if _provider is None:
        raise RuntimeError("no local server is available in this installation")
    return _provider()
