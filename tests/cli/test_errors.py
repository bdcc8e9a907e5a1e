"""The command line's errors, in real processes: one or two lines naming the flag and what
was expected, exit 2 for usage and 1 for failures, no traceback unless ``--debug``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import SEED_INPUT_PARAMS, assert_error, client, ionworks
from tests.ucp.export_protocols import CCCV
from tests.ucp.protocols import SEED_INPUTS

pytestmark = pytest.mark.pybamm

#: Valid UCP that fails in the worker: EIS has no time-domain PyBaMM equivalent.
FAILS_IN_THE_WORKER = """
global: {initial_soc: 1}
steps:
  - Rest: {duration: 10}
  - EIS: {start_frequency: 1000, end_frequency: 1, points_per_decade: 5, amplitude: 0.01}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-files")
    (folder / "p.yaml").write_text(SEED_INPUTS)
    (folder / "eis.yaml").write_text(FAILS_IN_THE_WORKER)
    (folder / "cccv.yaml").write_text(CCCV)
    (folder / "bad.yaml").write_text("steps:\n  - Charge: {mode: Magic, value: 1, duration: 5}\n")
    return folder


def _jobs(data_dir: Path) -> int:
    with client(data_dir) as api:
        return len(api.job.list())


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ((), ["ionworks: error: the following arguments are required: COMMAND", "--help"]),
        (("run",), ["ionworks run: error: the following arguments are required: PROTOCOL"]),
        (("run", "p.yaml", "--bogus"), ["unrecognized arguments: --bogus"]),
        (("convert", "p.yaml", "--target", "excel"), ["invalid choice: 'excel'", "'maccor'"]),
        (("run", "p.yaml", "--param", "C-rate"), ["--param expects NAME=VALUE, got 'C-rate'"]),
        (
            ("run", "p.yaml", *SEED_INPUT_PARAMS, "--param", "Bogus=3"),
            ["--param 'Bogus': p.yaml has no input 'Bogus' (its inputs: 'Initial SOC', 'C-rate')"],
        ),
        (
            ("run", "p.yaml", "--param", "c-rat=1", "--param", "Initial SOC=1"),
            ["--param 'c-rat'", "did you mean 'C-rate'?"],
        ),
        (
            ("run", "p.yaml", "--param", "C-rate=1"),
            ["p.yaml needs a value for its input(s) 'Initial SOC'", "--param 'Initial SOC'=VALUE"],
        ),
        (
            ("run", "p.yaml", "--param", "C-rate=fast", "--param", "Initial SOC=1"),
            ["--param 'C-rate': expected a number, got 'fast'"],
        ),
        (
            ("run", "p.yaml", *SEED_INPUT_PARAMS, "--out", "."),
            ["--out '.' exists and is not an empty folder"],
        ),
        (
            ("run", "p.yaml", *SEED_INPUT_PARAMS, "--drive-cycle", "us06=x.csv"),
            ["--drive-cycle 'us06': p.yaml has no drive cycle 'us06' (it has no Drive step)"],
        ),
    ],
)
def test_usage_errors_exit_2_before_anything_is_submitted(
    data_dir: Path, files: Path, args: tuple[str, ...], needles: list[str]
) -> None:
    before = _jobs(data_dir)
    assert_error(ionworks(data_dir, *args, cwd=files), 2, *needles)
    assert _jobs(data_dir) == before


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("run", "missing.yaml"), ["cannot read PROTOCOL 'missing.yaml': No such file"]),
        (("run", "bad.yaml"), ["bad.yaml: invalid protocol: steps[0]", "unknown mode 'Magic'"]),
        (("convert", "missing.yaml", "--target", "maccor"), ["cannot read FILE 'missing.yaml'"]),
        (
            ("convert", "cccv.yaml", "--target", "neware", "--out", "out"),
            ["cccv.yaml: cannot export to 'neware'", "C-rate needs --nominal-capacity"],
        ),
        (
            ("convert", "cccv.yaml", "--target", "neware", "--nominal-capacity", "-1"),
            ["--nominal-capacity: capacity: must be > 0, got -1.0"],
        ),
        (("validate", "missing.yaml"), ["ionworks validate: error: cannot read FILE"]),
        (("logs", "--data-dir", "nowhere"), ["ionworks logs: error: no log yet"]),
    ],
)
def test_local_failures_exit_1(
    data_dir: Path, files: Path, args: tuple[str, ...], needles: list[str]
) -> None:
    text = assert_error(ionworks(data_dir, *args, cwd=files), 1, *needles)
    assert "nominal_capacity_ah" not in text


def test_an_unknown_model_names_close_matches(data_dir: Path, files: Path) -> None:
    args = ("run", "p.yaml", *SEED_INPUT_PARAMS)
    done = ionworks(data_dir, *args, "--model", "chen2020-spn", cwd=files)
    assert_error(done, 1, "--model 'chen2020-spn': unknown model; did you mean 'chen2020-spm'")
    done = ionworks(data_dir, *args, "--model", "zzz", cwd=files)
    assert_error(done, 1, "--model 'zzz': unknown model; available: chen2020-spm, ")


def test_an_unknown_project_is_one_line(data_dir: Path, files: Path) -> None:
    done = ionworks(data_dir, "run", "p.yaml", *SEED_INPUT_PARAMS, "--project", "nope", cwd=files)
    assert_error(done, 1, "nope", "[HTTP 404")


def test_a_failed_job_is_the_servers_message_and_code(data_dir: Path, files: Path) -> None:
    done = ionworks(data_dir, "run", "eis.yaml", cwd=files)
    text = assert_error(done, 1, "ionworks run: error: Simulation ", " failed [job_failed]: ")
    assert "EIS has no time-domain equivalent" in text and "error code: None" not in text
    assert not [p for p in files.iterdir() if p.name.startswith("eis-")]


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback(data_dir: Path, files: Path, where: str) -> None:
    args = ["run", "eis.yaml"]
    env = {"IONWORKS_DEBUG": "1"} if where == "env" else {}
    if where != "env":
        args.insert(0 if where == "before" else 2, "--debug")
    done = ionworks(data_dir, *args, cwd=files, **env)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "JobFailedError" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("ionworks run: error: Simulation ")


def test_a_local_server_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    from ionworks.server import daemon

    try:
        done = ionworks(tmp_path, "jobs", IONWORKS_LOCAL_IDLE_TIMEOUT="soon")
        assert_error(done, 1, "IONWORKS_LOCAL_IDLE_TIMEOUT must be a number")
    finally:
        daemon.stop(tmp_path, timeout=10)


def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    done = ionworks(
        tmp_path, "jobs", IONWORKS_API_URL="http://127.0.0.1:9", IONWORKS_API_KEY="k", timeout=120
    )
    assert_error(done, 1, "ionworks jobs: error: ")
