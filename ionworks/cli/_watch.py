"""``ionworks watch FOLDER --cell-instance ID``: cycler exports dropped into a folder become
measurements of a cell instance (:mod:`ionworks.folder_watch`). One line per file on stdout;
with ``--once`` one pass, exit 1 if a file could not be imported."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ionworks.cli._common import CLIError, UsageError, with_client

if TYPE_CHECKING:
    from ionworks import AsyncIonworks
    from ionworks.folder_watch import Event, Summary

__all__ = ["add_commands"]

MAX_INTERVAL = 3600.0
MAX_CONCURRENCY = 16


def _report(event: Event) -> None:
    print(event.line(), flush=True)


def _checked(args: argparse.Namespace) -> Path:
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise UsageError(f"FOLDER {str(folder)!r} is not a folder")
    if not 0 < args.interval <= MAX_INTERVAL:
        raise UsageError(f"--interval must be above 0 and at most {MAX_INTERVAL:g} seconds")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}")
    if any(not p.strip() for p in args.pattern):
        raise UsageError("--pattern must not be empty")
    return folder


def _watch(args: argparse.Namespace) -> int:
    folder = _checked(args)

    async def work(client: AsyncIonworks) -> Summary:
        import anyio

        from ionworks.folder_watch import (
            PATTERNS,
            FolderWatcher,
            ImportLog,
            client_importer,
            default_log_path,
        )

        instance = await client.cell_instance.get(args.cell_instance)
        project_id = args.project or instance.project_id
        if instance.project_id and project_id != instance.project_id:
            raise UsageError(
                f"--project {project_id} is not the project of cell instance {instance.id} "
                f"({instance.project_id})"
            )
        if not project_id:
            raise CLIError(f"cell instance {instance.id} names no project; pass --project")
        state = Path(args.state_file) if args.state_file else default_log_path(folder, instance.id)
        log = await anyio.to_thread.run_sync(ImportLog.load, state, folder)
        patterns = tuple(args.pattern) or PATTERNS
        watcher = FolderWatcher(
            folder,
            client_importer(client, instance.id, project_id),
            log,
            patterns=patterns,
            interval=args.interval,
            concurrency=args.concurrency,
            recursive=args.recursive,
            report=_report,
        )
        if not args.once:
            print(
                f"watching {folder} for {' '.join(patterns)} -> cell instance {instance.id} "
                "(Ctrl-C to stop)",
                flush=True,
            )
        return await watcher.run(once=args.once)

    summary = with_client(work)
    print(
        f"{summary.imported} imported, {summary.taken} skipped (name taken), "
        f"{summary.failed + summary.retry} failed, {summary.changing} still changing",
        flush=True,
    )
    if not summary.ok:
        raise CLIError(f"{summary.failed + summary.retry} file(s) could not be imported")
    return 0


def add_commands(sub: Any) -> None:
    """The ``watch`` subcommand."""
    watch = sub.add_parser(
        "watch",
        help="import cycler exports dropped into a folder as measurements",
        description="Poll FOLDER and import each new or changed cycler export (once its size "
        "and modification time stop changing) as a measurement of the cell instance. What was "
        "imported is remembered, so a restart imports nothing twice.",
    )
    watch.add_argument("folder", metavar="FOLDER", help="the folder to watch")
    watch.add_argument("--cell-instance", required=True, metavar="ID", help="cell instance ID")
    watch.add_argument(
        "--project",
        default=None,
        metavar="ID",
        help="project of the raw files (default: the cell instance's)",
    )
    watch.add_argument(
        "--pattern",
        action="append",
        default=[],
        metavar="GLOB",
        help="file names to import, case-insensitive (repeatable; default: the vendor "
        "exports the server reads: .mpr .mpt .nda .ndax .csv .txt .res .NNN)",
    )
    watch.add_argument("--once", action="store_true", help="one pass, then exit")
    watch.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between polls"
    )
    watch.add_argument(
        "--concurrency", type=int, default=2, metavar="N", help="files imported at once"
    )
    watch.add_argument("--recursive", action="store_true", help="also watch sub-folders")
    watch.add_argument(
        "--state-file",
        default=None,
        metavar="PATH",
        help="where to remember what was imported (default: a file per folder and cell "
        "instance under $IONWORKS_STATE_DIR or ~/.local/state/ionworks/folder-watch)",
    )
    watch.set_defaults(func=_watch)
