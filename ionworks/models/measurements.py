"""Measurement records: a tag used in a project and how many measurements carry it; a
measurement's steps and cycles."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from ionworks.models._base import _Extra

__all__ = ["MeasurementTagUsage", "StepsAndCycles"]


@frozen
class MeasurementTagUsage(_Extra):
    """One item of ``GET /cell_measurements/tags``: a tag (in its project spelling) and the
    number of the project's measurements that carry it."""

    tag: str
    usage_count: int


@frozen
class StepsAndCycles:
    """``cell_measurement.steps_and_cycles``: the measurement's step table and cycle metrics
    as DataFrames (polars, or pandas with the pandas backend)."""

    steps: Any = field(eq=False)
    cycles: Any = field(eq=False)
