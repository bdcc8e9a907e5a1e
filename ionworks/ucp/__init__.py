"""Universal Cycler Protocol (UCP) engine: parse, validate, resolve inputs, simulate.

Typical use::

    from ionworks import ucp

    ucp.validate(text)                        # {"valid": bool, "error": str | None}
    ucp.find_input_references(text)           # ["Initial SOC", "C-rate"]
    protocol = ucp.resolve_inputs(ucp.parse(text), {"Initial SOC": 1, "C-rate": 0.5})
    plan = ucp.to_pybamm(protocol, parameter_values)       # needs the server extra
    solution = plan.solve(pybamm.lithium_ion.SPM(), parameter_values)
    steps = ucp.step_table(solution, plan)                 # pyarrow.Table

Importing this package does not import PyBaMM, numpy or pyarrow; :func:`to_pybamm` and
the result helpers import them on first use (PyBaMM with
``PYBAMM_DISABLE_TELEMETRY=true``).
"""

from __future__ import annotations

from .checks import resolve_inputs
from .errors import Issue, Origin, UCPError
from .inputs import find_input_references
from .model import (
    EIS,
    Block,
    EndCondition,
    GlobalSettings,
    InitialState,
    Item,
    Limit,
    Protocol,
    Resolution,
    SafetyLimits,
    SetVariable,
    Step,
    UnrolledStep,
    Value,
    Waveform,
)
from .parse import parse, validate
from .results import metrics, step_table, time_series_table
from .to_pybamm import PyBaMMPlan, StepLabel, to_pybamm

__all__ = [
    "EIS",
    "Block",
    "EndCondition",
    "GlobalSettings",
    "InitialState",
    "Issue",
    "Item",
    "Limit",
    "Origin",
    "Protocol",
    "PyBaMMPlan",
    "Resolution",
    "SafetyLimits",
    "SetVariable",
    "Step",
    "StepLabel",
    "UCPError",
    "UnrolledStep",
    "Value",
    "Waveform",
    "find_input_references",
    "metrics",
    "parse",
    "resolve_inputs",
    "step_table",
    "time_series_table",
    "to_pybamm",
    "validate",
]
