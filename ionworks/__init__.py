"""ionworks: the Ionworks battery modelling API for Python.

``AsyncIonworks`` is the asyncio-first client; ``Ionworks`` is the blocking client generated
from it (``ionworks_sync``), with the same methods, arguments and defaults.

The names below are loaded on first use (module ``__getattr__``), so ``import ionworks`` stays
light: no aiohttp, numpy, polars, pyarrow or PyBaMM until a client or a result needs them.
This module is also where the layers meet: it registers the embedded local server as the
client's zero-config backend (:mod:`ionworks._local`): the shared local daemon of
:mod:`ionworks.server.daemon`, without the client importing the server.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from ionworks._local import set_local_server_provider
from ionworks._version import __version__

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

if TYPE_CHECKING:
    from ionworks._client import AsyncIonworks
    from ionworks._waiting import WaitTimeout
    from ionworks.cache import (
        clear_cache,
        get_cache_directory,
        get_cache_enabled,
        get_cache_ttl,
        set_cache_directory,
        set_cache_enabled,
        set_cache_ttl,
    )
    from ionworks.dataframes import get_dataframe_backend, set_dataframe_backend
    from ionworks.errors import (
        IonworksError,
        MeasurementProcessingError,
        MeasurementValidationError,
    )
    from ionworks.models import (
        ConvertResult,
        Job,
        Measurement,
        Model,
        Page,
        ParameterizedModel,
        ParsedProtocol,
        Pipeline,
        PipelineResult,
        Project,
        Protocol,
        RawData,
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
    "MeasurementProcessingError",
    "MeasurementValidationError",
    "Model",
    "Page",
    "ParameterizedModel",
    "ParsedProtocol",
    "Pipeline",
    "PipelineResult",
    "Project",
    "Protocol",
    "RawData",
    "SimplePipeline",
    "SimulationResponse",
    "SimulationResult",
    "Study",
    "WaitTimeout",
    "__version__",
    "clear_cache",
    "get_cache_directory",
    "get_cache_enabled",
    "get_cache_ttl",
    "get_dataframe_backend",
    "set_cache_directory",
    "set_cache_enabled",
    "set_cache_ttl",
    "set_dataframe_backend",
]

#: Where each public name is defined when it is not one of the response models.
_HOMES = {
    "AsyncIonworks": "ionworks._client",
    "Ionworks": "ionworks_sync",
    "IonworksError": "ionworks.errors",
    "MeasurementProcessingError": "ionworks.errors",
    "MeasurementValidationError": "ionworks.errors",
    "WaitTimeout": "ionworks._waiting",
    "clear_cache": "ionworks.cache",
    "get_cache_directory": "ionworks.cache",
    "get_cache_enabled": "ionworks.cache",
    "get_cache_ttl": "ionworks.cache",
    "set_cache_directory": "ionworks.cache",
    "set_cache_enabled": "ionworks.cache",
    "set_cache_ttl": "ionworks.cache",
    "get_dataframe_backend": "ionworks.dataframes",
    "set_dataframe_backend": "ionworks.dataframes",
}
#: Public name → the module that defines it (every other name is a model of ionworks.models).
_LAZY = {name: _HOMES.get(name, "ionworks.models") for name in __all__ if name != "__version__"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ionworks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def _local_daemon() -> tuple[str, str]:
    from ionworks.server.daemon import ensure_running

    return ensure_running()


set_local_server_provider(_local_daemon)
