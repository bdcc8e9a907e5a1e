"""The simulation engine of the local server: what a worker process runs.

- :mod:`.catalog` — built-in parameterized models (PyBaMM parameter sets × SPM/SPMe/DFN),
  :func:`~.catalog.model_from_spec` for a request's ``parameterized_model``,
  :func:`~.catalog.parameter_values` and :func:`~.catalog.build_model`;
- :mod:`.quick` — the quick model (a Thevenin ECM sized from capacity and chemistry);
- :mod:`.simulate` — :func:`~.simulate.run_simulation` (UCP protocol → PyBaMM → parquet);
- :mod:`.builder` — the per-process cache of built simulations;
- :mod:`.parameter_check` — a new parameterized model's values checked against PyBaMM;
  :mod:`.stored` — a key's stored parameterized models as catalog specs (server process only:
  it reads the store; neither is imported here).

Importing this package does not import PyBaMM (``simulate.warm_up()`` does).
"""

from __future__ import annotations

from .catalog import (
    BUILTIN_MODELS,
    BuiltinModel,
    ModelSpec,
    build_model,
    model_from_spec,
    parameter_values,
)
from .errors import EngineError, UnknownModelError
from .simulate import SimulationOutput, SimulationRequest, run_simulation, warm_up

__all__ = [
    "BUILTIN_MODELS",
    "BuiltinModel",
    "EngineError",
    "ModelSpec",
    "SimulationOutput",
    "SimulationRequest",
    "UnknownModelError",
    "build_model",
    "model_from_spec",
    "parameter_values",
    "run_simulation",
    "warm_up",
]
