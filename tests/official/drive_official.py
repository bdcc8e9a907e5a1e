"""Drive the OFFICIAL ``ionworks-api`` client against our local server.

Not a pytest module (pytest only collects ``test_*.py``). It must run in a venv
that has ``ionworks-api`` installed and NOT this repository's ``ionworks``
package (both are imported as ``ionworks``)::

    python tests/official/drive_official.py http://127.0.0.1:PORT API_KEY

``nox -s official`` builds both venvs, starts the server and runs this script.
Each check prints ``PASS name`` or ``FAIL name: reason``; the last line is
``N passed, M failed`` and the exit status is 1 if anything failed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import itertools
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

MODEL = "chen2020-spm"
LONG_MODEL = "chen2020-dfn"
WAIT = 180  # seconds for wait_for_completion
D_N = "Negative particle diffusivity [m2.s-1]"

# The product doc's seeds (python-api.md), shared with tests/ucp/protocols.py.
_SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "protocols"
SEED_PROTOCOL = (_SEED_DIR / "seed_single.yaml").read_text(encoding="utf-8")
INPUT_PROTOCOL = (_SEED_DIR / "seed_inputs.yaml").read_text(encoding="utf-8")
CONVERT_PROTOCOL = (_SEED_DIR / "seed_convert.yaml").read_text(encoding="utf-8")
# ~200 cycles on the DFN: long enough to still be running when we cancel it.
LONG_PROTOCOL = (_SEED_DIR / "long_cycling_with_rest.yaml").read_text(encoding="utf-8")


# ucp.md §13 E13: unknown mode -> invalid.
INVALID_PROTOCOL = """
steps:
  - Charge: {mode: Magic, value: 1, ends: ["Voltage > 4.2"]}
"""

THICKNESS = "Positive electrode thickness [m]"


class Skip(Exception):
    """A prerequisite check failed; this one cannot run."""


class Driver:
    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.passed: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.state: dict[str, Any] = {}
        self.client: Any = None

    # -- bookkeeping -----------------------------------------------------------------------

    def check(self, name: str, fn: Callable[[], str | None]) -> None:
        started = time.monotonic()
        try:
            note = fn()
        except Skip as exc:
            self.failed.append((name, f"not run: {exc}"))
            print(f"FAIL {name}: not run: {exc}", flush=True)
            return
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}".replace("\n", " | ")
            self.failed.append((name, reason))
            print(f"FAIL {name}: {reason}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return
        self.passed.append(name)
        extra = f" ({note})" if note else ""
        print(f"PASS {name} [{time.monotonic() - started:.1f}s]{extra}", flush=True)

    def need(self, *keys: str) -> list[Any]:
        missing = [k for k in keys if k not in self.state]
        if missing:
            raise Skip(f"missing {', '.join(missing)} from an earlier check")
        return [self.state[k] for k in keys]

    # -- setup -----------------------------------------------------------------------------

    def check_is_official_client(self) -> str:
        import ionworks

        version = importlib.metadata.version("ionworks-api")
        repo_pkg = Path(__file__).resolve().parents[2] / "ionworks"
        where = Path(ionworks.__file__).resolve()
        assert version == "0.38.0", f"ionworks-api {version} installed, want 0.38.0"
        assert where.parent != repo_pkg, f"imported our own package from {where}"
        assert "site-packages" in where.parts, f"ionworks imported from {where}"
        try:
            ours = importlib.metadata.version("ionworks")
        except importlib.metadata.PackageNotFoundError:
            ours = None
        assert ours is None, f"our own distribution 'ionworks' {ours} is also installed"
        return f"ionworks-api {version} from {where.parent}"

    def check_project_id(self) -> str:
        resp = requests.get(f"{self.url}/projects", headers={"X-API-Key": self.key}, timeout=10)
        resp.raise_for_status()
        items = resp.json()["items"]
        assert items, "GET /projects returned no projects"
        self.state["project_id"] = items[0]["id"]
        return f"project {items[0]['id']}"

    def check_client(self) -> str:
        (project_id,) = self.need("project_id")
        from ionworks import Ionworks

        self.client = Ionworks(api_key=self.key, api_url=self.url, project_id=project_id)
        health = self.client.health_check()
        assert isinstance(health, dict), f"health_check returned {type(health).__name__}"
        return f"healthz {health}"

    def check_project_list(self) -> str:
        self.require_client()
        projects = self.client.project.list()
        ids = [p.id for p in projects]
        (project_id,) = self.need("project_id")
        assert project_id in ids, f"default project {project_id} not in {ids}"
        return f"{len(ids)} project(s)"

    def require_client(self) -> Any:
        """The official client (``Skip`` if an earlier check could not build it)."""
        if self.client is None:
            raise Skip("client not constructed")
        return self.client

    # -- simulations -----------------------------------------------------------------------

    def check_protocol_seed(self) -> str:
        c = self.require_client()
        resp = c.simulation.protocol(
            {
                "parameterized_model": MODEL,
                "protocol_experiment": {"protocol": SEED_PROTOCOL, "name": "1C Discharge"},
            }
        )
        assert resp.simulation_id and resp.job_id, f"bad response {resp!r}"
        assert resp.protocol_id, "protocol_id (template id) not set"
        self.state["seed"] = resp
        return f"simulation {resp.simulation_id} job {resp.job_id}"

    def check_wait_single(self) -> str:
        c = self.require_client()
        (seed,) = self.need("seed")
        sim = c.simulation.wait_for_completion(seed.simulation_id, timeout=WAIT, verbose=False)
        assert isinstance(sim, dict), f"returned {type(sim).__name__}"
        assert sim.get("storage_folder") or sim.get("simulation_data"), "no storage_folder"
        self.state["seed_done"] = sim
        return f"storage_folder={sim.get('storage_folder')!r}"

    def _result(self, simulation_id: str) -> Any:
        c = self.require_client()
        res = c.simulation.get_result(simulation_id)
        ts, steps, metrics = res.time_series, res.steps, res.metrics
        cols = list(ts.columns)
        for col in ("Time [s]", "Voltage [V]", "Current [A]"):
            assert col in cols, f"time_series lacks {col!r}; has {cols}"
        assert len(ts) > 2, f"time_series has {len(ts)} rows"
        volts = list(ts["Voltage [V]"])
        times = list(ts["Time [s]"])
        assert volts[0] > volts[-1], f"voltage does not fall: {volts[0]} -> {volts[-1]}"
        assert all(b >= a for a, b in itertools.pairwise(times)), "time not monotonic"
        assert len(steps) > 0, "steps has no rows"
        assert isinstance(metrics, dict) and metrics, f"metrics empty/not dict: {metrics!r}"
        return times[-1], volts, len(ts), len(steps), metrics

    def check_get_result(self) -> str:
        self.need("seed_done")
        (seed,) = self.need("seed")
        t_end, volts, n_ts, n_steps, metrics = self._result(seed.simulation_id)
        self.state["seed_duration"] = t_end
        return (
            f"{n_ts} rows, {n_steps} step row(s), V {volts[0]:.3f}->{volts[-1]:.3f}, "
            f"t_end {t_end:.0f}s, {len(metrics)} metric(s)"
        )

    def check_protocol_inputs(self) -> str:
        c = self.require_client()
        resp = c.simulation.protocol(
            {
                "parameterized_model": MODEL,
                "protocol_experiment": {
                    "protocol": INPUT_PROTOCOL,
                    "name": "Parameterized Discharge",
                },
                "experiment_parameters": {"Initial SOC": 1.0, "C-rate": 0.5},
                "design_parameters": {THICKNESS: 75e-6},
            }
        )
        sim = c.simulation.wait_for_completion(resp.simulation_id, timeout=WAIT, verbose=False)
        assert sim.get("storage_folder") or sim.get("simulation_data"), "no storage_folder"
        t_end, *_ = self._result(resp.simulation_id)
        self.state["inputs"] = resp
        note = f"t_end {t_end:.0f}s"
        seed_t = self.state.get("seed_duration")
        if seed_t:
            # 0.5C from the same SOC must take clearly longer than 1C.
            assert t_end > 1.5 * seed_t, f"0.5C run {t_end:.0f}s not > 1.5 x 1C run {seed_t:.0f}s"
            note += f" vs 1C {seed_t:.0f}s"
        return note

    def check_protocol_batch(self) -> str:
        c = self.require_client()
        values = [50e-6, 75e-6, 100e-6]
        resps = c.simulation.protocol_batch(
            {
                "parameterized_model": MODEL,
                "protocol_experiment": {"protocol": SEED_PROTOCOL, "name": "Thickness sweep"},
                "design_parameters_doe": {
                    "sampling": "grid",
                    "rows": [{"type": "discrete", "name": THICKNESS, "values": values}],
                },
            }
        )
        assert len(resps) == 3, f"{len(resps)} responses, want 3"
        ids = [r.simulation_id for r in resps]
        assert len(set(ids)) == 3, f"simulation ids not distinct: {ids}"
        assert all(r.job_id for r in resps), "a response has no job_id"
        self.state["batch"] = resps
        return ", ".join(ids)

    def check_wait_list(self) -> str:
        c = self.require_client()
        (batch,) = self.need("batch")
        ids = [r.simulation_id for r in batch]
        sims = c.simulation.wait_for_completion(ids, timeout=WAIT, verbose=False)
        assert isinstance(sims, list), f"returned {type(sims).__name__}"
        assert len(sims) == 3, f"{len(sims)} completed of 3"
        assert all(s.get("storage_folder") or s.get("simulation_data") for s in sims)
        # Thicker positive electrode -> more capacity -> longer 1C discharge? At a fixed
        # C-rate the current scales too, so only check each result is well formed.
        for sid in ids:
            self._result(sid)
        self.state["batch_done"] = True
        return f"{len(sims)} completed"

    def check_simulation_get(self) -> str:
        c = self.require_client()
        (seed,) = self.need("seed")
        sim = c.simulation.get(seed.simulation_id)
        assert isinstance(sim, dict), f"returned {type(sim).__name__}"
        assert sim.get("job_id") == seed.job_id, f"job_id {sim.get('job_id')} != {seed.job_id}"
        sim_id = sim.get("id", sim.get("simulation_id"))
        assert sim_id == seed.simulation_id, f"id {sim_id!r} != {seed.simulation_id}"
        return f"keys {sorted(sim)}"

    def check_simulation_list(self) -> str:
        c = self.require_client()
        (seed, batch) = self.need("seed", "batch")
        want = {seed.simulation_id, *(r.simulation_id for r in batch)}
        sims = c.simulation.list(parameterized_model_id=MODEL)
        assert isinstance(sims, list), f"returned {type(sims).__name__}"
        got = {s.get("id", s.get("simulation_id")) for s in sims}
        assert want <= got, f"missing {want - got}"
        # paginated form
        page = c.simulation.list(parameterized_model_id=MODEL, limit=2, offset=0)
        assert len(page) <= 2, f"limit=2 gave {len(page)} items"
        assert page.total >= len(want), f"total {page.total} < {len(want)}"
        # protocol (experiment template) scope
        by_proto = c.simulation.list(protocol_id=seed.protocol_id)
        got_p = {s.get("id", s.get("simulation_id")) for s in by_proto}
        assert seed.simulation_id in got_p, "seed not listed under its protocol_id"
        # state filter + summary
        done = c.simulation.list(parameterized_model_id=MODEL, state="completed", summary=True)
        got_d = {s.get("id", s.get("simulation_id")) for s in done}
        assert want <= got_d, f"state=completed misses {want - got_d}"
        return f"{len(sims)} listed, page total {page.total}, {len(by_proto)} for protocol"

    def check_get_statuses(self) -> str:
        c = self.require_client()
        (seed, batch) = self.need("seed", "batch")
        ids = [seed.simulation_id, *(r.simulation_id for r in batch)]
        statuses = c.simulation.get_statuses([*ids, "no-such-simulation"])
        assert isinstance(statuses, list), f"returned {type(statuses).__name__}"
        by_id = {s["simulation_id"]: s for s in statuses}
        assert set(by_id) == set(ids), f"ids {sorted(by_id)} != {sorted(ids)}"
        for s in statuses:
            for key in ("simulation_id", "status", "error", "error_code", "updated_at"):
                assert key in s, f"item lacks {key!r}: {s}"
            assert s["status"] == "completed", f"status {s['status']!r}"
        return f"{len(statuses)} statuses"

    # -- jobs ------------------------------------------------------------------------------

    def check_job_get(self) -> str:
        c = self.require_client()
        (seed,) = self.need("seed")
        self.need("seed_done")
        job = c.job.get(seed.job_id)
        assert job.job_id == seed.job_id, f"job_id {job.job_id}"
        assert job.status == "completed", f"status {job.status!r}"
        assert job.is_terminal and not job.is_failed, f"flags {job.is_terminal}/{job.is_failed}"
        return f"{job.job_type} {job.status}"

    def check_job_list(self) -> str:
        c = self.require_client()
        (seed,) = self.need("seed")
        jobs = c.job.list()
        ids = {j.job_id for j in jobs}
        assert seed.job_id in ids, f"{seed.job_id} not in job.list() ({len(ids)} jobs)"
        return f"{len(jobs)} jobs"

    def check_job_cancel(self) -> str:
        c = self.require_client()
        resp = c.simulation.protocol(
            {
                "parameterized_model": LONG_MODEL,
                "protocol_experiment": {"protocol": LONG_PROTOCOL, "name": "200 cycles"},
            }
        )
        # Give it a chance to start so we cancel a running job, not just a queued one.
        deadline = time.monotonic() + 60
        status = c.job.get(resp.job_id).status
        while status not in ("processing", "running") and time.monotonic() < deadline:
            assert status not in ("completed", "failed", "canceled"), f"ended early: {status}"
            time.sleep(0.5)
            status = c.job.get(resp.job_id).status
        before = status
        job = c.job.cancel(resp.job_id)
        deadline = time.monotonic() + 60
        while job.status != "canceled" and time.monotonic() < deadline:
            time.sleep(0.5)
            job = c.job.get(resp.job_id)
        assert job.status == "canceled", f"status {job.status!r} after cancel"
        assert job.is_terminal and job.is_failed, f"flags {job.is_terminal}/{job.is_failed}"
        # wait_for_completion must see the failure: raising and non-raising forms.
        from ionworks import IonworksError

        try:
            c.simulation.wait_for_completion(resp.simulation_id, timeout=30, verbose=False)
        except IonworksError as exc:
            assert "canceled" in str(exc), f"error does not say canceled: {exc}"
        else:
            raise AssertionError("wait_for_completion did not raise for a canceled simulation")
        out = c.simulation.wait_for_completion(
            resp.simulation_id, timeout=30, verbose=False, raise_on_failure=False
        )
        assert out.get("status") == "canceled", f"non-raising wait returned {out}"
        st = c.simulation.get_statuses([resp.simulation_id])
        assert st and st[0]["status"] == "canceled", f"get_statuses says {st}"
        # "failed" includes canceled runs (SimulationClient.list docstring).
        failed = c.simulation.list(parameterized_model_id=LONG_MODEL, state="failed")
        ids = {s.get("id", s.get("simulation_id")) for s in failed}
        assert resp.simulation_id in ids, "canceled run not listed under state='failed'"
        # The worker must not overwrite the cancel when it notices it.
        time.sleep(3)
        job = c.job.get(resp.job_id)
        assert job.status == "canceled", f"status became {job.status!r} after cancel"
        self.state["canceled"] = resp
        return f"was {before!r} when canceled"

    # -- protocols -------------------------------------------------------------------------

    def check_validate(self) -> str:
        c = self.require_client()
        ok = c.protocol.validate(SEED_PROTOCOL)
        assert isinstance(ok, dict), f"returned {type(ok).__name__}: {ok!r}"
        assert ok.get("valid") is True, f"seed protocol judged invalid: {ok}"
        bad = c.protocol.validate(INVALID_PROTOCOL)
        assert isinstance(bad, dict), f"returned {type(bad).__name__}: {bad!r}"
        assert bad.get("valid") is False, f"invalid protocol judged valid: {bad}"
        assert isinstance(bad.get("error"), str) and bad["error"], f"no error text: {bad}"
        return f"invalid -> {bad['error'][:80]!r}"

    def check_find_input_references(self) -> str:
        c = self.require_client()
        refs = c.protocol.find_input_references(INPUT_PROTOCOL)
        assert refs == ["Initial SOC", "C-rate"], f"got {refs!r}"
        none = c.protocol.find_input_references(SEED_PROTOCOL)
        assert none == [], f"seed protocol refs {none!r}"
        return f"{refs}"

    def check_convert(self) -> str:
        c = self.require_client()
        out = []
        for target, stem, kwargs in (
            ("maccor", "protocol.000", {}),
            ("neware", None, {"nominal_capacity_ah": 5.0}),
            ("biologic_bttest", None, {"nominal_capacity_ah": 5.0}),
        ):
            result = c.protocol.convert(CONVERT_PROTOCOL, target, **kwargs)
            assert result.primary_bytes, f"{target}: empty file"
            if stem:
                assert result.primary_filename == stem, result.primary_filename
            with tempfile.TemporaryDirectory() as tmp:
                paths = result.save(tmp)
                assert Path(paths[0]).read_bytes() == result.primary_bytes
            out.append(f"{target}:{result.primary_filename}")
        return ", ".join(out)

    # -- errors and delete -----------------------------------------------------------------

    def check_not_found(self) -> str:
        c = self.require_client()
        from ionworks import IonworksError

        try:
            c.simulation.get("no-such-simulation")
        except IonworksError as exc:
            assert exc.status_code == 404, f"status_code {exc.status_code}: {exc}"
            return str(exc)
        raise AssertionError("no error for an unknown simulation id")

    def check_delete(self) -> str:
        c = self.require_client()
        (batch,) = self.need("batch")
        victim = batch[-1].simulation_id
        assert c.simulation.delete(victim) is None
        from ionworks import IonworksError

        try:
            c.simulation.get(victim)
        except IonworksError as exc:
            assert exc.status_code == 404, f"get after delete: {exc}"
        else:
            raise AssertionError("simulation still readable after delete")
        listed = {
            s.get("id", s.get("simulation_id"))
            for s in c.simulation.list(parameterized_model_id=MODEL)
        }
        assert victim not in listed, "deleted simulation still listed"
        return f"deleted {victim}"

    # -- studies and measurements ------------------------------------------------------------

    def check_measurement_create(self) -> str:
        c = self.require_client()
        spec = c.cell_spec.create({"name": "official spec"})
        inst = c.cell_instance.create(spec.id, {"name": "official cell 1"})
        assert inst.cell_specification_id == spec.id, f"instance {inst!r}"
        assert c.cell_instance.get(inst.id).id == inst.id
        n = 500
        times = [float(i) for i in range(n)]
        data = {
            "Time [s]": times,
            "Current [A]": [1.0] * n,
            "Voltage [V]": [4.2 - 0.002 * t for t in times],
            "Step count": [0] * n,
        }
        try:
            import polars as pl

            frame: Any = pl.DataFrame(data)
        except ImportError:
            import pandas as pd

            frame = pd.DataFrame(data)
        m = c.cell_measurement.create(
            inst.id,
            {"measurement": {"name": "official upload", "notes": "n"}, "time_series": frame},
        )
        assert m.id and m.cell_instance_id == inst.id, f"bad response {m!r}"
        self.state["measurement"] = m
        self.state["measurement_data"] = data
        self.state["instance"] = inst
        return f"measurement {m.id} ({n} rows)"

    def check_measurement_read(self) -> str:
        c = self.require_client()
        m, inst, data = self.need("measurement", "instance", "measurement_data")
        got = c.cell_measurement.get(m.id)
        assert got.name == "official upload" and got.cell_instance_id == inst.id, f"{got!r}"
        listed = c.cell_measurement.list(inst.id)
        assert m.id in [x.id for x in listed], "not listed under its instance"
        by_name = c.cell_measurement.list(inst.id, name_exact="official upload")
        assert [x.id for x in by_name] == [m.id], f"name_exact gave {by_name}"
        ts = c.cell_measurement.time_series(m.id)
        for col in ("Time [s]", "Current [A]", "Voltage [V]"):
            assert list(ts[col]) == data[col], f"{col} differs after the round trip"
        return f"{len(ts)} rows read back, {len(listed)} listed"

    def check_study_methods(self) -> str:
        c = self.require_client()
        (seed, m) = self.need("seed", "measurement")
        study = c.study.create({"name": "Official 1C Sweep", "description": "official"})
        assert study.id and study.name == "Official 1C Sweep", f"{study!r}"
        assert c.study.get(study.id).id == study.id
        assert study.id in [s.id for s in c.study.list(name="official 1c")]
        assert [s.id for s in c.study.list(name_exact="Official 1C Sweep")] == [study.id]
        page = c.study.list(limit=1, offset=0, order_by="name", order="asc")
        assert len(page) == 1 and page.total >= 1, f"page {page!r}"
        assert c.study.update(study.id, {"name": "Official 1C Sweep v2"}).name.endswith("v2")
        c.study.assign_simulation(study.id, seed.simulation_id)
        in_study = {s.get("id") for s in c.simulation.list(study_id=study.id)}
        assert in_study == {seed.simulation_id}, f"simulation.list(study_id) gave {in_study}"
        c.study.remove_simulation(study.id, seed.simulation_id)
        assert not c.simulation.list(study_id=study.id), "removed simulation still listed"
        c.study.assign_measurement(study.id, m.id)
        ms = c.study.list_measurements(study.id)
        assert [x["id"] for x in ms["items"]] == [m.id], f"list_measurements {ms}"
        c.study.remove_measurement(study.id, m.id)
        assert c.study.list_measurements(study.id)["total"] == 0
        c.study.assign_measurement(study.id, m.id)
        c.study.delete(study.id)
        assert c.cell_measurement.get(m.id).id == m.id, "study delete removed the measurement"
        assert c.simulation.get(seed.simulation_id), "study delete removed the simulation"
        return f"study {study.id}"

    def check_measurement_delete(self) -> str:
        c = self.require_client()
        (m,) = self.need("measurement")
        c.cell_measurement.delete(m.id)
        from ionworks import IonworksError

        try:
            c.cell_measurement.get(m.id)
        except IonworksError as exc:
            assert exc.status_code == 404, f"get after delete: {exc}"
        else:
            raise AssertionError("measurement still readable after delete")
        return f"deleted {m.id}"

    # -- pipelines ---------------------------------------------------------------------------

    def _fit_data(self) -> dict[str, list[float]]:
        """SPM (Chen2020, D_n = 3.3e-14) driven by a 1C discharge then a rest, 200 points."""
        if "fit_data" not in self.state:
            import numpy as np
            import pybamm

            t = np.linspace(0.0, 3300.0, 200)
            current = np.where(t < 2700.0, 5.0, 0.0)
            values = pybamm.ParameterValues("Chen2020")
            values[D_N] = 3.3e-14
            values["Current function [A]"] = pybamm.Interpolant(t, current, pybamm.t)
            sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=values)
            voltage = sim.solve([0.0, t[-1]], t_interp=t)["Voltage [V]"].entries
            self.state["fit_data"] = {
                "Time [s]": t.tolist(),
                "Current [A]": current.tolist(),
                "Voltage [V]": voltage.tolist(),
            }
        data: dict[str, list[float]] = self.state["fit_data"]
        return data

    def check_pipeline(self) -> str:
        c = self.require_client()
        fit = {
            "element_type": "data_fit",
            "objectives": {
                "voltage": {
                    "type": "CurrentDriven",
                    "data": self._fit_data(),
                    "options": {"model": {"type": "SPM"}},
                }
            },
            "parameters": {D_N: {"bounds": [1e-15, 1e-12], "initial_value": 9.9e-14}},
        }
        p = c.pipeline.create({"elements": {"fit": fit}})
        assert p.id and p.name, f"bad response {p!r}"
        done = c.pipeline.wait_for_completion(p.id, timeout=WAIT, poll_interval=1, verbose=False)
        assert done.status == "completed", f"status {done.status}: {done.error}"
        result = c.pipeline.result(p.id)
        fitted = result.element_results["fit"]["parameter_values"][D_N]
        typed = result.element("fit")  # typed decode via GET /pipelines/{id}/elements
        assert typed.parameter_values[D_N] == fitted, f"typed result {typed!r}"
        assert abs(fitted / 3.3e-14 - 1) < 0.1, f"fitted {fitted}"
        assert p.id in [x.id for x in c.pipeline.list(limit=50)], "not listed"
        c.pipeline.delete(p.id)
        return f"pipeline {p.id} fitted D_n = {fitted:.3g}"

    def check_simple_pipeline(self) -> str:
        c = self.require_client()
        config = {
            "elements": {
                "entry": {"element_type": "entry", "values": {D_N: 3.3e-14}},
                "check": {
                    "element_type": "validation",
                    "objectives": {"voltage": {"type": "CurrentDriven", "data": self._fit_data()}},
                },
            }
        }
        sp = c.simple_pipeline.create(config, name="official validation")
        assert sp.status == "pending" and sp.project_id, f"bad response {sp!r}"
        done = c.simple_pipeline.wait_for_completion(
            sp.id, timeout=WAIT, poll_interval=1, verbose=False
        )
        assert done.result and "summary_stats" in done.result, f"result {done.result!r}"
        page = c.simple_pipeline.list(name="ilike.%official%", limit=10)
        assert sp.id in [x.id for x in page.items], "not listed"
        c.simple_pipeline.delete(sp.id)
        return f"summary_stats {done.result['summary_stats']}"

    # -- run -------------------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        checks: list[tuple[str, Callable[[], str | None]]] = [
            ("official client installed", self.check_is_official_client),
            ("default project id (GET /projects)", self.check_project_id),
            ("client + health_check", self.check_client),
            ("project.list", self.check_project_list),
            ("simulation.protocol (seed 1C discharge)", self.check_protocol_seed),
            ("simulation.wait_for_completion (one id)", self.check_wait_single),
            ("simulation.get_result", self.check_get_result),
            ("simulation.protocol (inputs + design_parameters)", self.check_protocol_inputs),
            ("simulation.protocol_batch (3-value grid DOE)", self.check_protocol_batch),
            ("simulation.wait_for_completion (list)", self.check_wait_list),
            ("simulation.get", self.check_simulation_get),
            ("simulation.list", self.check_simulation_list),
            ("simulation.get_statuses", self.check_get_statuses),
            ("job.get", self.check_job_get),
            ("job.list", self.check_job_list),
            ("protocol.validate", self.check_validate),
            ("protocol.find_input_references", self.check_find_input_references),
            ("protocol.convert (maccor, neware, biologic_bttest)", self.check_convert),
            ("error mapping (404)", self.check_not_found),
            ("cell_measurement.create (spec + instance + upload)", self.check_measurement_create),
            ("cell_measurement.get/list/time_series", self.check_measurement_read),
            ("study.* (create/get/list/update/assign/remove/delete)", self.check_study_methods),
            ("cell_measurement.delete", self.check_measurement_delete),
            ("simulation.delete", self.check_delete),
            ("job.cancel (chen2020-dfn, 200 cycles)", self.check_job_cancel),
            ("pipeline.create/wait/result/list/delete (D_n fit)", self.check_pipeline),
            ("simple_pipeline.create/wait/list/delete (validation)", self.check_simple_pipeline),
        ]
        for group in EXTRA_CHECKS:  # one module per parity area: checks_<area>.py
            checks.extend(group.checks(self))
        for name, fn in checks:
            self.check(name, fn)
        print(f"\nelapsed {time.monotonic() - started:.1f}s")
        for name, reason in self.failed:
            print(f"  failed: {name}: {reason}")
        print(f"{len(self.passed)} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed else 0


#: Modules beside this script, each with ``checks(driver) -> [(name, fn), ...]`` run after the
#: checks above (``fn`` returns a note or None, raises to fail, ``Skip`` if a prerequisite
#: failed; ``driver.require_client()``, ``driver.state``, ``driver.need(...)`` are theirs to use).
EXTRA_CHECKS: list[Any] = [
    importlib.import_module(path.stem)
    for path in sorted(Path(__file__).resolve().parent.glob("checks_*.py"))
]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} URL API_KEY", file=sys.stderr)
        return 2
    return Driver(argv[1], argv[2]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
