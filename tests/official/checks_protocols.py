"""Official-client checks of saved protocols (issue 17): ``protocol.list``, ``get``,
``create``, ``create_or_get``, ``find_by_name``, ``update``, ``delete``, ``human_readable``,
``source_protocol``, ``parse_file``, and a resubmitted simulation answered with
``already_existed``, against our server.

Loaded by ``drive_official.py`` (which runs ``checks(driver)`` after its own checks), in the
venv of the official ``ionworks-api`` client.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SEEDS = Path(__file__).resolve().parents[1] / "data" / "protocols"
CCCV = (_SEEDS / "seed_convert.yaml").read_text(encoding="utf-8")
INPUTS = (_SEEDS / "seed_inputs.yaml").read_text(encoding="utf-8")
#: A soak step of this run's own length: the protocols are new to the server each run.
STAMP = int(time.time()) % 100_000 + 1


def _soak(seconds: int) -> str:
    return CCCV + f"  - Soak:\n      - Rest: {{duration: {seconds}}}\n"


def _raises(fn: Callable[[], Any], kind: type[BaseException]) -> Any:
    """The ``kind`` error ``fn()`` raises (an AssertionError if it raises none)."""
    caught: list[BaseException] = []
    try:
        fn()
    except kind as exc:
        caught.append(exc)
    assert caught, f"expected {kind.__name__}"
    return caught[0]


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    client = driver.require_client  # the official client (Skip when it was not constructed)

    def name(suffix: str) -> str:
        return f"official {STAMP} {suffix}"

    def create() -> str:
        import yaml

        c, text = client(), _soak(STAMP)
        saved = c.protocol.create(name("cccv"), text, description="from the official client")
        assert saved.name == name("cccv") and saved.organization_id, saved
        assert saved.protocol_config == yaml.safe_load(text), saved.protocol_config
        assert saved.source_protocol == text and saved.parameters_schema == {}, saved
        (project_id,) = driver.need("project_id")
        assert saved.project_id == project_id, saved.project_id
        driver.state["protocol"] = saved
        return f"protocol {saved.id}"

    def dedup() -> str:
        from ionworks.errors import IonworksError

        c = client()
        (saved,) = driver.need("protocol")
        again = c.protocol.create_or_get("another name", saved.protocol_config)
        assert again.id == saved.id and again.name == saved.name, again
        err = _raises(
            lambda: c.protocol.create(saved.name, saved.protocol_config, force_create=True),
            IonworksError,
        )
        assert err.status_code == 409 and err.error_code == "CONFLICT", str(err)
        assert err.data["detail"]["existing_id"] == saved.id, err.data
        return f"same content → {again.id}; force_create → {err}"

    def read() -> str:
        c = client()
        (saved,) = driver.need("protocol")
        got = c.protocol.get(saved.id)
        assert got.protocol_config == saved.protocol_config and got.source_protocol, got
        listed = {p.id: p for p in c.protocol.list()}
        assert saved.id in listed and listed[saved.id].protocol_config is None, "not light"
        page = c.protocol.list(include=["protocol_config"], name_exact=saved.name, limit=5)
        assert page.total == 1 and page[0].protocol_config == saved.protocol_config, page
        assert c.protocol.find_by_name(saved.name).id == saved.id
        assert c.protocol.find_by_name(name("missing")) is None
        c.protocol.create(name("twin"), _soak(STAMP + 1))
        c.protocol.create(name("twin"), _soak(STAMP + 2))
        err = _raises(lambda: c.protocol.find_by_name(name("twin")), ValueError)
        assert "not unique" in str(err), str(err)
        return f"{len(listed)} protocol(s) listed"

    def texts() -> str:
        from ionworks.errors import IonworksError

        c = client()
        (saved,) = driver.need("protocol")
        human = c.protocol.human_readable(saved.id)
        lines = human.splitlines()
        assert lines[0] == "Initial state: SOC 100 %" and "Charge at 1C" in human, human
        assert lines[-1].startswith("  4. Rest for"), lines
        assert c.protocol.source_protocol(saved.id) == saved.source_protocol
        from_dict = c.protocol.create(name("from dict"), {"steps": [{"Rest": {"duration": STAMP}}]})
        err = _raises(lambda: c.protocol.source_protocol(from_dict.id), IonworksError)
        assert err.status_code == 404, str(err)
        return f"{len(lines)} line(s): {lines[-1].strip()!r}"

    def update() -> str:
        c = client()
        (saved,) = driver.need("protocol")
        renamed = c.protocol.update(saved.id, name=name("renamed"))
        assert renamed.name == name("renamed") and renamed.description == saved.description
        described = c.protocol.update(saved.id, description="changed")
        assert described.name == name("renamed") and described.description == "changed"
        return renamed.name

    def parse_file() -> str:
        from ionworks.errors import IonworksError

        c = client()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cccv.yaml"
            path.write_text(CCCV, encoding="utf-8")
            parsed = c.protocol.parse_file(path)
            maccor = Path(tmp) / "procedure.000"
            maccor.write_bytes(b"<?xml version='1.0'?><MaccorTestProcedure/>")
            err = _raises(lambda: c.protocol.parse_file(maccor), IonworksError)
        assert parsed.ucp == CCCV and parsed.human_readable.startswith("Initial state"), parsed
        assert c.protocol.parse_file(io.BytesIO(CCCV.encode())).ucp == CCCV
        assert err.status_code == 422 and "UCP" in str(err), str(err)
        return f"{len(parsed.human_readable.splitlines())} line(s); vendor file → 422"

    def delete() -> str:
        from ionworks.errors import IonworksError

        c = client()
        (saved,) = driver.need("protocol")
        (project_id,) = driver.need("project_id")
        sim = c.simulation.protocol(
            {
                "parameterized_model": "chen2020-spm",
                "protocol_id": saved.id,
                "project_id": project_id,
            }
        )
        err = _raises(lambda: c.protocol.delete(saved.id), IonworksError)
        assert err.status_code == 409 and err.error_code == "CONFLICT", str(err)
        c.simulation.delete(sim.simulation_id)
        c.protocol.delete(saved.id)
        err404 = _raises(lambda: c.protocol.get(saved.id), IonworksError)
        assert err404.status_code == 404, str(err404)
        return f"in use → {err.message!r}; then deleted"

    def resubmission() -> str:
        c = client()
        soc = 0.5 + (STAMP % 400) / 1000  # this run's own point
        cfg = {
            "parameterized_model": "chen2020-spm",
            "protocol_experiment": {"protocol": INPUTS, "name": name("resubmitted")},
            "experiment_parameters": {"Initial SOC": soc, "C-rate": 1.0},
        }
        first = c.simulation.protocol(cfg)
        again = c.simulation.protocol(cfg)
        assert not first.already_existed and again.already_existed, (first, again)
        assert (again.simulation_id, again.job_id) == (first.simulation_id, first.job_id)
        c.simulation.wait_for_completion(first.simulation_id, timeout=180, verbose=False)
        done = c.simulation.protocol(cfg)
        assert done.already_existed and done.simulation_id == first.simulation_id, done
        changed = c.simulation.protocol(
            {**cfg, "experiment_parameters": {"Initial SOC": soc, "C-rate": 0.9}}
        )
        assert not changed.already_existed and changed.simulation_id != first.simulation_id
        assert first.protocol_id in {p.id for p in c.protocol.list()}, "inline template not listed"
        return f"{first.simulation_id} again → already_existed=True; changed C-rate → new run"

    return [
        ("protocol.create (YAML text, source kept)", create),
        ("protocol.create_or_get / force_create (content dedup, 409 CONFLICT)", dedup),
        ("protocol.get / list (include) / find_by_name", read),
        ("protocol.human_readable / source_protocol", texts),
        ("protocol.update (name, description)", update),
        ("protocol.parse_file (UCP file; vendor file → 422)", parse_file),
        ("protocol.delete (409 while a simulation uses it)", delete),
        ("simulation.protocol resubmitted → already_existed", resubmission),
    ]
