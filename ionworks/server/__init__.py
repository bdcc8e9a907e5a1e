"""The embedded local server: the Ionworks HTTP API on this machine (aiohttp + SQLite + PyBaMM).

``ionworks serve`` runs it in the foreground; :class:`EmbeddedServer` runs it on a background
thread (used by tests and by clients with no API configured).
"""

from __future__ import annotations

from ionworks.server.embedded import EmbeddedServer, default_data_dir, shared_server

__all__ = ["EmbeddedServer", "default_data_dir", "shared_server"]
