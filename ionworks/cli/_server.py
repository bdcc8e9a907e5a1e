"""``ionworks serve | stop | logs | jobs | cancel``: the server and its queue."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ionworks.cli._common import CLIError, UsageError, data_dir, with_client

if TYPE_CHECKING:
    from ionworks import AsyncIonworks
    from ionworks.models import Job

__all__ = ["add_commands"]

DATA_DIR_HELP = "data directory (default: $IONWORKS_DATA_DIR or ~/.local/share/ionworks)"


def _serve(args: argparse.Namespace) -> int:
    from ionworks.server import daemon
    from ionworks.server.config import ServerConfig, make_executor
    from ionworks.server.limits import from_arguments

    folder = data_dir(args)
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS")
    idle_timeout = args.idle_timeout
    api_keys = list(args.api_key)
    if args.daemon:  # the shared local daemon (see ionworks.server.daemon)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        api_keys = [daemon.local_key(folder), *api_keys]
        if idle_timeout is None:
            idle_timeout = daemon.idle_timeout()
    elif idle_timeout is not None and idle_timeout <= 0:
        idle_timeout = None
    _log_to_stderr()
    config = ServerConfig(
        folder,
        api_keys=api_keys,
        workers=args.workers,
        executor=args.executor,
        scheduler=args.scheduler,
        start_workers=True,  # a dedicated server: warm workers before the first request
        limits=from_arguments(args),
        public_url=args.public_url,
    )

    # The workers start first: they import PyBaMM while this process imports the server
    # (their log is in the data directory, which may not exist yet).
    folder.mkdir(parents=True, exist_ok=True)
    config.executor = make_executor(config)
    start = getattr(config.executor, "start", None)
    if callable(start):
        start()
    from ionworks.server.hosting import serve

    def announce(url: str) -> None:
        auth = "API keys required" if config.api_keys else "no API key needed"
        idle = f"; stops after {idle_timeout:.0f} s idle" if idle_timeout else ""
        print(f"ionworks server listening on {url} ({auth}; data: {folder}{idle})", flush=True)

    serve(
        config,
        args.host,
        args.port,
        daemon=args.daemon,
        idle_timeout=idle_timeout,
        announce=announce,
    )
    return 0


def _log_to_stderr() -> None:
    """The server's log records on stderr (for the daemon: its log file)."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ionworks.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _stop(args: argparse.Namespace) -> int:
    from ionworks.server import daemon

    folder = data_dir(args)
    info = daemon.stop(folder, timeout=args.timeout)
    if info is None:
        print(f"no local server is running for {folder}")
    else:
        print(f"stopped the local server at {info.url} (pid {info.pid})")
    return 0


def _logs(args: argparse.Namespace) -> int:
    from ionworks.server import daemon

    path = daemon.log_path(data_dir(args))
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        raise CLIError(f"no log yet: {path}") from None
    for line in lines[-args.lines :] if args.lines > 0 else lines:
        print(line)
    return 0


async def _open_jobs(client: AsyncIonworks) -> list[Job]:
    """Queued and running jobs, oldest first (the server lists all, newest first)."""
    return [job for job in reversed(await client.job.list()) if not job.is_terminal]


def _subject(job: Job) -> str:
    """``simulation <id>`` / ``pipeline <id>``: what the job computes, if it says."""
    params = job.extra.get("params")
    if isinstance(params, dict):
        for kind in ("simulation", "pipeline"):
            if params.get(f"{kind}_id"):
                return f"{kind} {params[f'{kind}_id']}"
    return ""


def _when(value: Any) -> str:
    return str(value).replace("T", " ")[:19] if value else "-"


def _jobs(args: argparse.Namespace) -> int:
    async def fetch(client: AsyncIonworks) -> list[Job]:
        return await client.job.list(limit=args.limit) if args.all else await _open_jobs(client)

    jobs = with_client(fetch)
    if not jobs:
        print("no jobs" if args.all else "no queued or running jobs")
        return 0
    rows = [("JOB", "TYPE", "STATUS", "CREATED", "STARTED", "FOR")]
    rows += [
        (
            job.job_id,
            job.job_type,
            job.status,
            _when(job.created_at),
            _when(job.extra.get("started_at")),
            _subject(job),
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


async def _job_of(client: AsyncIonworks, ident: str) -> Job | None:
    """The job with id ``ident``, else the job of simulation ``ident``."""
    from ionworks.errors import NotFoundError

    try:
        return await client.job.get(ident)
    except NotFoundError:
        pass
    try:
        simulation = await client.simulation.get(ident)
    except NotFoundError:
        return None
    return await client.job.get(str(simulation["job_id"]))


def _cancel(args: argparse.Namespace) -> int:
    if bool(args.ids) == args.all:
        raise UsageError("give job or simulation IDs, or --all (not both)")

    async def cancel(client: AsyncIonworks) -> list[str]:
        missing = []
        if args.all:
            targets = await _open_jobs(client)
            if not targets:
                print("no queued or running jobs")
        else:
            targets = []
            for ident in args.ids:
                job = await _job_of(client, ident)
                if job is None:
                    missing.append(ident)
                else:
                    targets.append(job)
        for job in targets:
            what = f"job {job.job_id}" + (f" ({_subject(job)})" if _subject(job) else "")
            if job.is_terminal:
                print(f"{what} had already {job.status}")
                continue
            done = await client.job.cancel(job.job_id)
            print(f"canceled {what}" if done.status == "canceled" else f"{what}: {done.status}")
        return missing

    missing = with_client(cancel)
    if missing:
        raise CLIError(f"no job or simulation with id {', '.join(missing)}")
    return 0


def add_commands(sub: Any) -> None:
    """The ``serve``, ``stop``, ``logs``, ``jobs`` and ``cancel`` subcommands."""
    serve = sub.add_parser("serve", help="run the local server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free)")
    serve.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    serve.add_argument(
        "--api-key", action="append", default=[], help="accept this key (repeatable)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="simulation worker processes, started with the server (default: one per core; "
        "with --executor dask: jobs sent to the cluster at once)",
    )
    serve.add_argument(
        "--executor",
        choices=("process", "dask"),
        default="process",
        help="where simulations run: a local process pool (default) or a Dask cluster",
    )
    serve.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --executor dask)",
    )
    serve.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the origin clients reach this server at (behind a TLS proxy: https://host); "
        "upload URLs are built from it (default: http://HOST:PORT)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long with no request and no queued or running job "
        "(default: never; with --daemon: $IONWORKS_LOCAL_IDLE_TIMEOUT or 900)",
    )
    serve.add_argument("--daemon", action="store_true", help=argparse.SUPPRESS)
    from ionworks.server.limits import add_arguments

    add_arguments(serve)
    serve.set_defaults(func=_serve)
    stop = sub.add_parser("stop", help="stop the shared local server of a data directory")
    stop.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    stop.set_defaults(func=_stop)
    logs = sub.add_parser("logs", help="show the shared local server's log")
    logs.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    logs.add_argument("-n", "--lines", type=int, default=50, help="last N lines (0: all)")
    logs.set_defaults(func=_logs)
    jobs = sub.add_parser("jobs", help="list queued and running jobs")
    jobs.add_argument("--all", action="store_true", help="the newest jobs, finished ones too")
    jobs.add_argument("--limit", type=int, default=50, help="with --all: at most N jobs")
    jobs.set_defaults(func=_jobs)
    cancel = sub.add_parser("cancel", help="cancel queued or running jobs")
    cancel.add_argument("ids", nargs="*", metavar="ID", help="job IDs (or simulation IDs)")
    cancel.add_argument("--all", action="store_true", help="every queued and running job")
    cancel.set_defaults(func=_cancel)
