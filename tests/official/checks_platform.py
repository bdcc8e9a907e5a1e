"""Official-client checks of the client-level methods and the platform routes (issue 17):
``whoami``, ``capabilities``, ``schema``, ``pybamm_models``, ``validate_pybamm_model_config``,
``resolve_measurement`` and the raw request helpers, against our server.

Loaded by ``drive_official.py`` (which runs ``checks(driver)`` after its own checks), in the
venv of the official ``ionworks-api`` client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def _raises(fn: Callable[[], Any], kind: type[BaseException]) -> BaseException:
    try:
        fn()
    except kind as exc:
        return exc
    raise AssertionError(f"expected {kind.__name__}")


def checks(driver: Any) -> list[tuple[str, Callable[[], str | None]]]:
    client = driver.require_client

    def whoami() -> str:
        me = client().whoami()
        assert me["id"] and me["email"] is None, me
        assert me["authorized_organization"]["id"] == me["id"], me
        projects = client().project.list()
        assert projects[0].organization_id == me["id"], "whoami id is not the records' owner"
        return f"{me['id']} ({me['name']})"

    def capabilities() -> str:
        caps = client().capabilities()
        missing = {"domain_context", "schemas", "openapi_spec", "authentication"} - set(caps)
        assert not missing, f"capabilities lack {missing}"
        return ", ".join(sorted(caps["schemas"]))

    def schemas() -> str:
        c = client()
        protocol = c.schema("protocol")
        assert protocol["$schema"].endswith("2020-12/schema") and "steps" in protocol["required"]
        assert "Discharge" in str(protocol["$defs"]["step_discharge"]["title"])
        data = c.schema("data")
        assert [h["name"] for h in data["hierarchy"]][:3] == [
            "cell_specification",
            "cell_instance",
            "cell_measurement",
        ]
        err = _raises(lambda: c.schema("materials"), ValueError)
        assert "Choose from: data, protocol" in str(err)
        return f"protocol schema with {len(protocol['$defs'])} definitions"

    def pybamm_models() -> str:
        listing = client().pybamm_models()
        assert {"SPM", "SPMe", "DFN"} <= set(listing["pybamm_models"]["lithium_ion"]), listing
        assert "lumped" in listing["options"]["thermal"]
        return f"PyBaMM {listing['pybamm_version']}"

    def validate() -> str:
        c = client()
        assert c.validate_pybamm_model_config("DFN", {"thermal": "lumped"}) == {"valid": True}
        bad = c.validate_pybamm_model_config("DFN", {"thermal": "bogus"})
        assert bad["valid"] is False and bad["error_type"] == "OptionError", bad
        unknown = c.validate_pybamm_model_config("ECM9000", module="lead_acid")
        assert unknown["valid"] is False and unknown["error"], unknown
        return bad["error"][:60]

    def resolve() -> str:
        from ionworks import IonworksError

        c = client()
        suffix = str(int(time.time() * 1000))
        spec = c.cell_spec.create({"name": f"resolve spec {suffix}"})
        inst = c.cell_instance.create(spec.id, {"name": f"resolve cell {suffix}"})
        frame = {
            "Time [s]": [0.0, 1.0, 2.0],
            "Current [A]": [1.0] * 3,
            "Voltage [V]": [4.1] * 3,
            "Step count": [0] * 3,  # the official client requires it
        }
        try:
            import polars as pl

            table: Any = pl.DataFrame(frame)
        except ImportError:
            import pandas as pd

            table = pd.DataFrame(frame)
        m = c.cell_measurement.create(
            inst.id, {"measurement": {"name": "RPT 0"}, "time_series": table}
        )
        found = c.resolve_measurement(f"resolve spec {suffix}", f"resolve cell {suffix}", "RPT 0")
        assert found.id == m.id, f"resolved {found!r}, created {m.id}"
        err = _raises(
            lambda: c.resolve_measurement(f"resolve spec {suffix}", "no such cell", "RPT 0"),
            IonworksError,
        )
        assert getattr(err, "status_code", None) == 404, err
        return f"measurement {m.id}"

    def raw_helpers() -> str:
        from ionworks import IonworksError

        c = client()
        created = c.post("/projects", {"name": "official raw helpers"})
        path = f"/projects/{created['id']}"
        assert c.patch(path, {"description": "raw"})["description"] == "raw"
        assert c.get(path)["id"] == created["id"]
        listed = c.request("GET", "/projects?name=eq.official%20raw%20helpers")
        assert [p["id"] for p in listed["items"]] == [created["id"]], listed
        assert c.delete(path) is None
        assert _raises(lambda: c.get(path), IonworksError).status_code == 404  # type: ignore[attr-defined]
        assert b'"status"' in c.request_raw("GET", "/healthz")
        err = _raises(lambda: c.redirect_url("/healthz"), IonworksError)
        assert "no Location header" in str(err), err
        ucp = b"steps:\n  - Rest: {duration: 60}\n"
        parsed = c.post_multipart("/protocols/parse", {"file": ("r.yaml", ucp, "text/yaml")})
        assert parsed["parsed_protocol_ucp"], parsed
        form = c.upload_multipart(
            "/protocols/parse", files={"file": ("r.yaml", ucp, "application/octet-stream")}
        )
        assert form["parsed_protocol_ucp"] == parsed["parsed_protocol_ucp"], form
        return "get/post/patch/delete/request/request_raw/redirect_url/post_/upload_multipart"

    return [
        ("client.whoami", whoami),
        ("client.capabilities", capabilities),
        ("client.schema (protocol, data, unknown)", schemas),
        ("client.pybamm_models", pybamm_models),
        ("client.validate_pybamm_model_config", validate),
        ("client.resolve_measurement", resolve),
        ("client raw helpers", raw_helpers),
    ]
