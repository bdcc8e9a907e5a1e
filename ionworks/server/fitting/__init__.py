"""Server-side parameter fitting: pipeline configs run as jobs in worker processes.

- :mod:`.config` — element types (legacy aliases normalised), references between elements;
- :mod:`.data` — measured data (inline columns, ``db:`` measurements) as arrays;
- :mod:`.model` — model selection, base parameters, simulators built once with inputs;
- :mod:`.optimize` — fit parameters (log scaling), costs, scipy optimizers, the trace and
  checkpoints; :mod:`.sampler` — posterior sampling (emcee) of sampler fits;
- :mod:`.expressions` — the safe arithmetic of calculation elements;
- :mod:`.runner` — the element runners; :mod:`.job` — the job (driver, payload, result);
- :mod:`.distributed` — elements and population chunks as sub-jobs on the executor's workers.

Importing this package does not import PyBaMM.
"""

from __future__ import annotations

from .config import CANONICAL_TYPES, DISPLAY_LABELS, check_simple_pipeline, element_type
from .job import run_pipeline_job

__all__ = [
    "CANONICAL_TYPES",
    "DISPLAY_LABELS",
    "check_simple_pipeline",
    "element_type",
    "run_pipeline_job",
]
