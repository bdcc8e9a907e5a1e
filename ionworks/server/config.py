"""Settings of one server instance, and the executor they choose."""

from __future__ import annotations

import os
from pathlib import Path

from ionworks.server.daemon import log_path
from ionworks.server.execution.executor import Executor, ProcessExecutor, default_workers
from ionworks.server.limits import Limits

__all__ = ["EXECUTORS", "ServerConfig", "make_executor"]


class ServerConfig:
    """Settings of one server instance."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        api_keys: list[str] | None = None,
        allow_anonymous: bool | None = None,
        workers: int | None = None,
        executor: Executor | str | None = None,
        scheduler: str | None = None,
        start_workers: bool = False,
        limits: Limits | None = None,
        public_url: str | None = None,
    ) -> None:
        """``executor``: an :class:`Executor`, ``"process"`` (default: a pool of ``workers``
        processes) or ``"dask"`` (jobs on the Dask cluster at ``scheduler``; ``workers`` is
        then how many jobs are sent to the cluster at once). ``start_workers``: start every
        worker process (and import PyBaMM in it) when the server starts, as ``ionworks serve``
        does; otherwise workers start on first use (the embedded server in a script).
        ``limits``: the resource bounds (:class:`Limits` defaults). ``public_url``: the
        origin clients reach this server at (upload URLs are built from it, never from a
        request's ``Host`` header); the listening address if not set."""
        if isinstance(executor, str) and executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
        if executor == "dask" and not scheduler:
            raise ValueError("the dask executor needs a scheduler address")
        self.data_dir = Path(data_dir)
        self.api_keys = list(api_keys or [])
        # Without configured keys, requests without a key act as the single local user.
        self.allow_anonymous = (not self.api_keys) if allow_anonymous is None else allow_anonymous
        self.workers = workers or default_workers()
        self.executor = executor
        self.scheduler = scheduler
        self.start_workers = start_workers
        self.limits = limits or Limits()
        self.public_url = public_url.rstrip("/") if public_url else None


EXECUTORS = ("process", "dask")


def make_executor(config: ServerConfig) -> Executor:
    if config.executor is not None and not isinstance(config.executor, str):
        return config.executor
    if config.executor == "dask":
        from ionworks.server.execution.executor_dask import DaskExecutor

        assert config.scheduler is not None
        return DaskExecutor(config.scheduler)
    return ProcessExecutor(
        config.workers,
        initializer="ionworks.server.engine.simulate:warm_up",
        log_path=log_path(config.data_dir),
    )
