"""ionworks: the Ionworks battery modelling API for Python.

``AsyncIonworks`` is the asyncio-first client; ``Ionworks`` is the blocking client generated
from it (``ionworks_sync``), with the same methods, arguments and defaults.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from ionworks._client import AsyncIonworks
from ionworks._version import __version__
from ionworks._waiting import WaitTimeout
from ionworks.dataframes import get_dataframe_backend, set_dataframe_backend
from ionworks.errors import IonworksError
from ionworks.models import (
    ConvertResult,
    Job,
    Measurement,
    Model,
    Page,
    ParameterizedModel,
    Pipeline,
    PipelineResult,
    Project,
    SimplePipeline,
    SimulationResponse,
    SimulationResult,
    Study,
)
from ionworks_sync import Ionworks

__all__ = [
    "AsyncIonworks",
    "ConvertResult",
    "Ionworks",
    "IonworksError",
    "Job",
    "Measurement",
    "Model",
    "Page",
    "ParameterizedModel",
    "Pipeline",
    "PipelineResult",
    "Project",
    "SimplePipeline",
    "SimulationResponse",
    "SimulationResult",
    "Study",
    "WaitTimeout",
    "__version__",
    "get_dataframe_backend",
    "set_dataframe_backend",
]
