"""Running jobs: the durable queue (jobs), the executors (worker processes, Dask), fan-out of sub-jobs and the functions workers run."""
