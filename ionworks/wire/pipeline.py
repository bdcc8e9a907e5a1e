"""The pipeline element vocabulary (wire.md §6): canonical element types and the legacy
display labels both the builders and the server accept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["LEGACY_ALIASES"]

#: Legacy labels the server also accepts in raw dict elements.
LEGACY_ALIASES: Final[Mapping[str, str]] = {
    "Direct Entry": "entry",
    "Data Fit": "data_fit",
    "datafit": "data_fit",
    "Calculation": "calculation",
    "Validation": "validation",
}
