"""The server's logger, ``ionworks.server``.

It has a :class:`logging.NullHandler`, so a server running inside the user's process
(:class:`~ionworks.server.hosting.EmbeddedServer`) never prints through logging's last-resort
handler to the user's stderr: the server's records go where the application's logging
configuration sends them (``ionworks serve`` sends them to its log file). Tracebacks of failed
jobs are logged here at DEBUG; they never reach a job's ``error``.
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["LOGGER_NAME", "log"]

LOGGER_NAME: Final = "ionworks.server"

log = logging.getLogger(LOGGER_NAME)
if not any(isinstance(handler, logging.NullHandler) for handler in log.handlers):
    log.addHandler(logging.NullHandler())
