"""The one way to import PyBaMM: telemetry off first (servers and CI have no stdin)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["import_pybamm"]


def import_pybamm() -> Any:
    """Import PyBaMM with telemetry disabled (CI and servers have no stdin)."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pybamm

    return pybamm
