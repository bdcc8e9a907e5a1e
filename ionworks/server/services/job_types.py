"""The registry of job types: every kind of job the server runs, named explicitly.

Adding a kind of job means adding it here (its worker function, payload builder and result
handler); the job runner looks job rows up by their ``job_type``.
"""

from __future__ import annotations

from ionworks.server.execution.jobs import JobType

__all__ = ["job_types"]


def job_types() -> dict[str, JobType]:
    """``job_type`` → :class:`JobType` of every job the server runs."""
    from ionworks.server.execution.worker import run_simulation_job
    from ionworks.server.fitting import job as pipeline
    from ionworks.server.services import simulation_jobs as simulation

    kinds = (
        JobType(
            "simulation",
            run_simulation_job,
            simulation.build_payload,
            simulation.store_result,
            store_group=simulation.store_results,
        ),
        JobType("pipeline", pipeline.run_pipeline, pipeline.build_payload, pipeline.store_result),
    )
    return {kind.name: kind for kind in kinds}
