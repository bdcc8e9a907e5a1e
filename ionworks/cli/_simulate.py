"""``ionworks run | demo``: one simulation on the configured API (else the local server).

Everything the command can check is checked before anything is submitted (the protocol,
``--param``, ``--drive-cycle``, ``--out``). The command owns the job it submits: Ctrl-C
while it waits cancels that job and exits 130; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ionworks.cli._common import (
    CLIError,
    Interrupted,
    UsageError,
    add_drive_cycle_option,
    assignments,
    did_you_mean,
    quoted,
    read_text,
)

if TYPE_CHECKING:
    import anyio

    from ionworks import AsyncIonworks
    from ionworks.errors import APIStatusError
    from ionworks.models import SimulationResponse, SimulationResult

__all__ = ["DEMO_PROTOCOL", "add_commands"]

T = TypeVar("T")

DEMO_PROTOCOL = """\
global:
  initial_soc: 1
  temperature: 25
steps:
  - direction: Discharge
    mode: C-rate
    value: 1
    ends:
      - variable: Voltage [V]
        value: 2.5
"""
DEFAULT_MODEL = "chen2020-spme"
#: Seconds a cancel (after Ctrl-C) or a model lookup (after an error) may take.
SHORT_TIMEOUT = 10.0
POLL_INTERVAL = 0.5
INTERRUPTED_AGAIN = "ionworks: interrupted again: exiting now; see 'ionworks jobs' for the job"


def experiment_parameters(items: Sequence[str], inputs: list[str], source: str) -> dict[str, float]:
    """``--param NAME=VALUE`` values checked against the protocol's ``inputs``: every name
    known, every value a finite number, every input given (else a :class:`UsageError`)."""
    params: dict[str, float] = {}
    for name, raw in assignments(items, "--param", "NAME=VALUE"):
        if name not in inputs:
            listing = f"its inputs: {quoted(inputs)}" if inputs else "it has no inputs"
            raise UsageError(
                f"--param {name!r}: {source} has no input {name!r}"
                f"{did_you_mean(name, inputs)} ({listing})"
            )
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UsageError(f"--param {name!r}: expected a number, got {raw!r}")
        params[name] = value
    missing = [name for name in inputs if name not in params]
    if missing:
        raise UsageError(
            f"{source} needs a value for its input(s) {quoted(missing)}: give "
            f"--param {missing[0]!r}=VALUE"
        )
    return params


def _protocol(path: Path, drive_cycles: Sequence[str]) -> tuple[str, list[str]]:
    """The protocol text to submit (drive cycles inline) and its input names; the protocol is
    checked here, so a mistake costs no request."""
    from ionworks import ucp
    from ionworks.cli._drive import with_drive_cycles

    text = read_text(path, "PROTOCOL")
    try:
        protocol = ucp.parse(text)
    except ucp.UCPError as exc:
        more = len(exc.issues) - 1
        rest = f" (and {more} more; see 'ionworks validate {path}')" if more > 0 else ""
        first = str(exc.issues[0]) if exc.issues else str(exc)
        raise CLIError(f"{path}: invalid protocol: {first}{rest}") from None
    inputs = ucp.find_input_references(text)  # what the server asks values for
    return with_drive_cycles(text, protocol, drive_cycles, str(path)), inputs


class _Owner:
    """SIGINT while the command holds a job: the first sets :attr:`interrupted` and cancels
    the current :meth:`cancellable` wait; a second exits the process at once."""

    def __init__(self) -> None:
        self.interrupted = False
        self._scope: anyio.CancelScope | None = None

    @contextmanager
    def signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread
            return
        import asyncio

        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGINT)
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, previous)

    def _on_sigint(self) -> None:
        if self.interrupted:  # the second Ctrl-C: do not wait for the cancel
            sys.stdout.flush()
            print(INTERRUPTED_AGAIN, file=sys.stderr)
            sys.stderr.flush()
            os._exit(130)
        self.interrupted = True
        if self._scope is not None:
            self._scope.cancel()

    async def cancellable(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """``await work()``, or ``None`` if interrupted before or during it."""
        import anyio

        if self.interrupted:
            return None
        try:
            with anyio.CancelScope() as self._scope:
                return await work()
            return None
        finally:
            self._scope = None


async def _cancel(client: AsyncIonworks, response: SimulationResponse) -> Interrupted:
    """Cancel the interrupted command's job; what to say about it."""
    import anyio

    from ionworks.errors import IonworksError

    sid = response.simulation_id
    outcome = "the server did not answer in time"
    with anyio.move_on_after(SHORT_TIMEOUT):
        try:
            outcome = (await client.job.cancel(response.job_id)).status
        except IonworksError as exc:
            outcome = str(exc.message)
    if outcome == "canceled":
        return Interrupted(f"canceled simulation {sid}")
    if outcome in ("completed", "failed"):
        return Interrupted(f"simulation {sid} had already {outcome}")
    return Interrupted(
        f"could not cancel simulation {sid} ({outcome}); 'ionworks cancel {sid}' cancels it"
    )


async def _model_error(
    client: AsyncIonworks, model: str, project: str | None, exc: APIStatusError
) -> CLIError | None:
    """A one-line error for an unknown ``--model`` (close matches of the server's models),
    or ``None`` when ``exc`` is about something else."""
    import anyio

    from ionworks.errors import IonworksError

    text = str(exc.message)
    if exc.error_code != "unknown_model" and "parameterized model" not in text:
        return None
    names: list[str] = []
    with anyio.move_on_after(SHORT_TIMEOUT):
        try:
            names = [item.id for item in await client.parameterized_model.list(project)]
        except IonworksError:
            pass
    if model in names:
        return None
    if not names:  # the server's own words, first clause
        return CLIError(f"--model {model!r}: {text.split(';')[0]}")
    hint = did_you_mean(model, names) or f"; available: {', '.join(names)}"
    return CLIError(f"--model {model!r}: unknown model{hint}")


async def _simulate(
    args: argparse.Namespace, protocol: str, name: str, params: dict[str, float]
) -> tuple[str, SimulationResult]:
    """Submit, wait and fetch the result; Ctrl-C cancels the submitted job."""
    from ionworks import AsyncIonworks
    from ionworks.errors import APIStatusError

    config: dict[str, Any] = {
        "parameterized_model": args.model,
        "protocol_experiment": {"protocol": protocol, "name": name},
        "experiment_parameters": params,
    }
    if args.project:
        config["project_id"] = args.project
    owner = _Owner()
    async with AsyncIonworks() as client:
        with owner.signals():
            try:  # not interruptible: once the job exists, it is canceled
                response = await client.simulation.protocol(config)
            except APIStatusError as exc:
                error = await _model_error(client, args.model, args.project, exc)
                if error is None:
                    raise
                raise error from None
            sid = response.simulation_id
            await owner.cancellable(
                lambda: client.simulation.wait_for_completion(
                    sid, timeout=None, poll_interval=POLL_INTERVAL, verbose=False
                )
            )
            result = await owner.cancellable(lambda: client.simulation.get_result(sid))
            if owner.interrupted or result is None:
                raise await _cancel(client, response)
    return sid, result


def _run_simulation(
    args: argparse.Namespace, protocol: str, name: str, params: dict[str, float]
) -> tuple[str, SimulationResult]:
    import asyncio

    return asyncio.run(_simulate(args, protocol, name, params))


def _free_folder(path: Path) -> Path:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"--out {str(path)!r} exists and is not an empty folder")
    return path


def _run(args: argparse.Namespace) -> int:
    path = Path(args.protocol)
    text, inputs = _protocol(path, args.drive_cycle)
    params = experiment_parameters(args.param, inputs, str(path))
    if args.out is not None:
        _free_folder(Path(args.out))
    sid, result = _run_simulation(args, text, path.stem, params)
    out = _free_folder(Path(args.out if args.out is not None else f"{path.stem}-{sid[:8]}"))
    out.mkdir(parents=True, exist_ok=True)
    result.time_series.write_parquet(out / "time_series.parquet")
    result.steps.write_parquet(out / "steps.parquet")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
    print(f"simulation {sid}: {len(result.time_series)} rows -> {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    sid, result = _run_simulation(args, DEMO_PROTOCOL, "1C Discharge", {})
    ts = result.time_series
    print(f"1C discharge of {args.model}: simulation {sid}")
    print(f"  duration   {ts['Time [s]'].max():.0f} s")
    print(f"  voltage    {ts['Voltage [V]'].max():.3f} V -> {ts['Voltage [V]'].min():.3f} V")
    for key, value in sorted(result.metrics.items()):
        if isinstance(value, int | float):
            print(f"  {key:<32} {value:.6g}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install the plot extra to write a PNG: pip install 'ionworks[plot]')")
        return 0
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ts["Time [s]"].to_numpy(), ts["Voltage [V]"].to_numpy())
    ax.set(xlabel="Time [s]", ylabel="Voltage [V]", title=f"1C discharge ({args.model})")
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)
    print(f"  plot       {args.png}")
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="parameterized model: a built-in id or a model ID"
    )
    parser.add_argument(
        "--project", default=None, metavar="ID", help="project (default: the API's default)"
    )


def add_commands(sub: Any) -> None:
    """The ``run`` and ``demo`` subcommands."""
    demo = sub.add_parser("demo", help="run a 1C discharge and summarise it")
    _add_common(demo)
    demo.add_argument("--png", default="ionworks-demo.png", help="where to write the plot")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run one simulation and write its results")
    run.add_argument("protocol", metavar="PROTOCOL", help="UCP YAML file")
    _add_common(run)
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="value of the protocol's input NAME (repeatable; every input needs one)",
    )
    add_drive_cycle_option(run)
    run.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="new or empty folder for the results (default: ./PROTOCOL-SIMID, after the "
        "protocol file's name and the simulation's ID)",
    )
    run.set_defaults(func=_run)
