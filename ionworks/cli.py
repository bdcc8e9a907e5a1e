"""Command line: ``ionworks serve | demo | run | validate | convert``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

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


def _validate(args: argparse.Namespace) -> int:
    from ionworks import ucp

    status = 0
    for name in args.files:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            status = 2
            continue
        result = ucp.validate(text)
        if args.json:
            print(json.dumps({"file": str(path), **result}))
        elif result["valid"]:
            refs = ucp.find_input_references(text)
            extra = f" (inputs: {', '.join(refs)})" if refs else ""
            print(f"{path}: valid{extra}")
        else:
            print(f"{path}: invalid\n{result['error']}", file=sys.stderr)
        if not result["valid"]:
            status = max(status, 1)
    return status


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from ionworks.server.config import ServerConfig
    from ionworks.server.hosting import app_runner, default_data_dir
    from ionworks.server.limits import from_arguments

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    if args.executor == "dask" and not args.scheduler:
        print("ionworks serve: --executor dask needs --scheduler ADDRESS", file=sys.stderr)
        return 2
    config = ServerConfig(
        data_dir,
        api_keys=args.api_key,
        workers=args.workers,
        executor=args.executor,
        scheduler=args.scheduler,
        start_workers=True,  # a dedicated server: warm workers before the first request
        limits=from_arguments(args),
        public_url=args.public_url,
    )

    async def run() -> None:
        runner = app_runner(config)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            site = web.TCPSite(runner, args.host, args.port)
            await site.start()
            server = site._server
            port = server.sockets[0].getsockname()[1] if server else args.port  # type: ignore[attr-defined]
            auth = "API keys required" if config.api_keys else "no API key needed"
            print(
                f"ionworks server listening on http://{args.host}:{port} ({auth}; data: {data_dir})",
                flush=True,
            )
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(run())
    return 0


def _parse_params(items: Sequence[str]) -> dict[str, float]:
    params: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name] = float(value)
        except ValueError:
            raise SystemExit(f"--param {name}: {value!r} is not a number") from None
    return params


def _simulate(model: str, protocol: str, name: str, params: dict[str, float]) -> tuple[Any, Any]:
    from ionworks import Ionworks

    with Ionworks() as client:
        response = client.simulation.protocol(
            {
                "parameterized_model": model,
                "protocol_experiment": {"protocol": protocol, "name": name},
                "experiment_parameters": params,
            }
        )
        client.simulation.wait_for_completion(response.simulation_id, timeout=600, verbose=False)
        return response, client.simulation.get_result(response.simulation_id)


def _run(args: argparse.Namespace) -> int:
    path = Path(args.protocol)
    protocol = path.read_text(encoding="utf-8")
    response, result = _simulate(args.model, protocol, path.stem, _parse_params(args.param))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.time_series.write_parquet(out / "time_series.parquet")
    result.steps.write_parquet(out / "steps.parquet")
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
    print(f"simulation {response.simulation_id}: {len(result.time_series)} rows -> {out}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    response, result = _simulate(args.model, DEMO_PROTOCOL, "1C Discharge", {})
    ts = result.time_series
    print(f"1C discharge of {args.model}: simulation {response.simulation_id}")
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


def _convert(args: argparse.Namespace) -> int:
    from ionworks.ucp.export import ExportError, export

    path = Path(args.file)
    drive_cycles: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
        for item in args.drive_cycle:
            name, sep, csv_path = item.partition("=")
            if not sep or not name or not csv_path:
                print(f"--drive-cycle expects NAME=CSV, got {item!r}", file=sys.stderr)
                return 2
            drive_cycles[name] = Path(csv_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read input: {exc}", file=sys.stderr)
        return 2
    try:
        result = export(
            text,
            args.target,
            drive_cycles=drive_cycles or None,
            filename_stem=args.stem or path.stem,
            nominal_capacity_ah=args.nominal_capacity,
            verify=args.verify,
        )
    except ExportError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in [(result.primary_filename, result.primary_bytes), *result.assets]:
        (out / name).write_bytes(content)
        print(out / name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionworks", description="Ionworks battery modelling")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check UCP protocol files")
    validate.add_argument("files", nargs="+", help="UCP YAML files")
    validate.add_argument("--json", action="store_true", help="one JSON result per line")
    validate.set_defaults(func=_validate)
    serve = sub.add_parser("serve", help="run the local server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--data-dir", default=None, help="default: ~/.local/share/ionworks")
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
    from ionworks.server.limits import add_arguments

    add_arguments(serve)
    serve.set_defaults(func=_serve)
    demo = sub.add_parser("demo", help="run the 1C discharge on the embedded server")
    demo.add_argument("--model", default="chen2020-spme")
    demo.add_argument("--png", default="ionworks-demo.png")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run one simulation and write its results")
    run.add_argument("protocol", help="UCP YAML file")
    run.add_argument("--model", default="chen2020-spme")
    run.add_argument("--param", action="append", default=[], help="experiment parameter NAME=VALUE")
    run.add_argument("--out", default=".", help="output directory")
    run.set_defaults(func=_run)
    convert = sub.add_parser("convert", help="convert a UCP file to a cycler protocol file")
    convert.add_argument("file", help="UCP YAML file")
    convert.add_argument(
        "--target",
        required=True,
        choices=["maccor", "arbin", "arbin_sdx", "neware", "biologic_bttest", "novonix"],
    )
    convert.add_argument("--out", default=".", help="output directory (created if needed)")
    convert.add_argument("--nominal-capacity", type=float, default=None, help="capacity in A.h")
    convert.add_argument(
        "--drive-cycle", action="append", default=[], help="drive-cycle samples NAME=CSV"
    )
    convert.add_argument("--stem", default=None, help="output file name stem (default: FILE's)")
    convert.add_argument("--verify", action="store_true", help="re-check the written structure")
    convert.set_defaults(func=_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
