"""Typed pipeline builders: ``import ionworks.schema as iws``.

The class and field names are those of the ``ionworks-schema`` package, restricted to what
the local server runs; every object validates at construction (a :class:`SchemaError` names
the field and what it expects) and ``to_config()`` gives the dict form of the product doc::

    import ionworks.schema as iws

    pipeline = iws.Pipeline(
        {
            "entry": iws.DirectEntry({"model": {"type": "SPM"}, "data": "db:<measurement id>"}),
            "fit": iws.DataFit(
                objectives={"voltage": iws.objectives.CurrentDriven(data_input="entry.data")},
                parameters={
                    "Negative particle diffusivity [m2.s-1]": iws.Parameter(
                        bounds=(1e-14, 1e-13), initial_value=2e-14
                    )
                },
                cost=iws.costs.RMSE(),
                optimizer=iws.optimizers.DifferentialEvolution(max_iterations=10),
            ),
        },
        name="D_n fit",
    )
    client.pipeline.create(pipeline)
"""

from __future__ import annotations

from . import (
    calculations,
    costs,
    data_fit,
    direct_entries,
    objectives,
    parameter,
    parameter_estimators,
    pipeline,
    validation,
)
from ._base import Schema, SchemaError
from .calculations import Calculation
from .data_fit import DataFit
from .direct_entries import DirectEntry
from .parameter import Parameter
from .pipeline import Pipeline, SimplePipeline
from .validation import Validation

#: ``iws.optimizers`` is ``iws.parameter_estimators``, as in ionworks-schema.
optimizers = parameter_estimators

__all__ = [
    "Calculation",
    "DataFit",
    "DirectEntry",
    "Parameter",
    "Pipeline",
    "Schema",
    "SchemaError",
    "SimplePipeline",
    "Validation",
    "calculations",
    "costs",
    "data_fit",
    "direct_entries",
    "objectives",
    "optimizers",
    "parameter",
    "parameter_estimators",
    "pipeline",
    "validation",
]
