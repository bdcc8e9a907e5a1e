"""The web pages in a real browser (headless Chromium via Playwright): every page renders
the records it should, plots have the stored points, statuses change without a reload, the
cancel button works, and another key sees 404s. Screenshots go to the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ionworks import AsyncIonworks
from ionworks.server.hosting import EmbeddedServer
from ionworks.server.ui.tables import MAX_POINTS
from tests.ui.conftest import KEY_A, run, shot
from tests.ui.demo_data import SWEEP_POINTS, THICKNESS, Demo, queue


async def stored(url: str, sid: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    async with AsyncIonworks(api_key=KEY_A, api_url=url) as client:
        result = await client.simulation.get_result(sid)
        return result.time_series, result.steps


def follow(page: Any, url: str, path: str, link: str) -> None:
    """Open ``path`` and click the link ``link`` (a selector) on it."""
    page.goto(f"{url}{path}")
    page.click(link)


def plots_drawn(page: Any, count: int) -> list[dict[str, str]]:
    """Waits for ``count`` drawn plots; each plot's data attributes."""
    page.wait_for_function(
        "n => document.querySelectorAll('.plot[data-drawn] canvas').length >= n", arg=count
    )
    return page.eval_on_selector_all(".plot", "els => els.map(e => ({...e.dataset}))")


def test_simulation_page(
    page_a: Any, ui_server: EmbeddedServer, demo: Demo, tmp_path: Path
) -> None:
    follow(page_a, str(ui_server.url), "/ui/projects", "#projects a >> text=Default project")
    sid = demo.simulations[1]
    page_a.click(f'tr[data-id="{sid}"] a')
    assert page_a.url.endswith(f"/ui/simulations/{sid}")
    plots = plots_drawn(page_a, 4)
    time_series, steps = run(stored(str(ui_server.url), sid))
    expected = min(time_series.height, MAX_POINTS)
    assert [p["y"] for p in plots] == [
        "Voltage [V]",
        "Current [A]",
        "Temperature [°C]",
        "Capacity [A.h]",
    ]
    assert all(p["points"] == p["drawn"] == str(expected) for p in plots)
    assert page_a.locator("#steps tbody tr").count() == steps.height
    metrics = page_a.locator("#metrics").inner_text()
    assert "Discharge capacity [A.h]" in metrics
    assert "Discharge" in page_a.locator("#protocol").inner_text()
    assert page_a.locator("#protocol-readable").inner_text().strip()
    assert "chen2020-spm" in page_a.locator("#parameters").inner_text()
    with page_a.expect_download() as download:
        page_a.click("text=time series (parquet)")
    assert pl.read_parquet(download.value.path()).height == time_series.height
    shot(page_a, tmp_path, "simulation")


def test_sweep_page_and_sorting(
    page_a: Any, ui_server: EmbeddedServer, demo: Demo, tmp_path: Path
) -> None:
    follow(page_a, str(ui_server.url), f"/ui/projects/{demo.project_id}/simulations", "ul.sweeps a")
    plots = plots_drawn(page_a, 2)
    assert plots and all(p["x"] == THICKNESS and p["drawn"] == str(SWEEP_POINTS) for p in plots)
    rows = page_a.locator("#sweep tbody tr")
    assert rows.count() == SWEEP_POINTS
    column = 2  # the thickness, after the simulation and its status

    def thickness() -> list[float]:
        return [
            float(t)
            for t in page_a.eval_on_selector_all(
                "#sweep tbody tr", f"rows => rows.map(r => r.cells[{column}].textContent)"
            )
        ]

    page_a.click(f"#sweep th >> nth={column}")
    assert thickness() == sorted(thickness())
    page_a.click(f"#sweep th >> nth={column}")
    assert thickness() == sorted(thickness(), reverse=True)
    shot(page_a, tmp_path, "sweep")


def test_measurement_study_and_pipeline_pages(
    page_a: Any, ui_server: EmbeddedServer, demo: Demo, tmp_path: Path
) -> None:
    base, project = str(ui_server.url), f"/ui/projects/{demo.project_id}"
    follow(page_a, base, f"{project}/measurements", "text=demo measurement")
    plots = plots_drawn(page_a, 2)
    assert all(p["drawn"] == "400" for p in plots)
    assert page_a.locator("#steps tbody tr").count() == 3
    assert page_a.locator("#cycles tbody tr").count() >= 1
    shot(page_a, tmp_path, "measurement")
    follow(page_a, base, f"{project}/studies", "text=C-rate study")
    assert page_a.locator("#study-simulations tbody tr").count() == 3
    assert "demo measurement" in page_a.locator("#study-measurements").inner_text()
    follow(page_a, base, f"{project}/pipelines", "text=demo fit")
    assert "Negative particle diffusivity" in page_a.locator("#fitted").inner_text()
    assert page_a.locator(".status").first.inner_text() == "completed"
    cost, overlay = plots_drawn(page_a, 2)
    assert int(cost["drawn"]) >= 1 and cost["y"] == "Best cost"
    assert overlay["y"] == "Measured voltage [V]" and overlay["y2"] == "Model voltage [V]"
    assert overlay["drawn"] == overlay["points"] == "120"  # the fit's 120 measured points
    shot(page_a, tmp_path, "pipeline")


def test_live_statuses_and_cancel(
    page_a: Any, ui_server: EmbeddedServer, demo: Demo, tmp_path: Path
) -> None:
    async def submit() -> list[str]:
        async with AsyncIonworks(api_key=KEY_A, api_url=ui_server.url) as client:
            batch = await client.simulation.protocol_batch(queue(40))
            ids = [r.simulation_id for r in batch]
            last = await client.simulation.get(ids[-1])
            return [*ids, str(last["job_id"])]

    *ids, last_job = run(submit())
    page_a.goto(f"{ui_server.url}/ui/jobs")
    page_a.evaluate("window.__notReloaded = true")
    row = page_a.locator(f'#open-jobs tr[data-id="{last_job}"]')
    row.locator("button", has_text="Cancel").click()
    page_a.wait_for_function(
        "id => document.querySelector(`tr[data-id='${id}'] .status`).dataset.status === 'canceled'",
        arg=last_job,
    )
    assert row.locator("form.cancel").count() == 0
    page_a.goto(f"{ui_server.url}/ui/projects/{demo.project_id}/simulations")
    page_a.evaluate("window.__notReloaded = true")
    statuses = page_a.eval_on_selector_all(
        "#simulations .status", "cells => cells.map(c => c.dataset.status)"
    )
    assert {"pending", "running"} & set(statuses), "the queue finished before the page loaded"
    page_a.wait_for_function(
        "ids => ids.every(id => document.querySelector(`tr[data-id='${id}'] .status`).dataset.status === 'completed')",
        arg=ids[:-1],
        timeout=60_000,
    )
    assert page_a.evaluate("window.__notReloaded") is True  # updated by polling, not a reload
    assert page_a.locator(f'tr[data-id="{ids[-1]}"] .status').inner_text() == "canceled"
    page_a.fill("#filter", "discharge 2c")
    assert page_a.locator("#simulations tbody tr:visible").count() == 1
    page_a.fill("#filter", f"{THICKNESS.lower()}=6.3e-05")  # one point of the queue
    assert page_a.locator("#simulations tbody tr:visible").count() == 1
    assert int(page_a.locator("#simulations").get_attribute("data-polled")) >= 1
    page_a.fill("#filter", "")
    assert page_a.locator("#simulations tbody tr:visible").count() > 10
    shot(page_a, tmp_path, "simulations")


def test_another_key_sees_404(page_b: Any, ui_server: EmbeddedServer, demo: Demo) -> None:
    for path in (
        f"/ui/simulations/{demo.simulations[0]}",
        f"/ui/measurements/{demo.measurement_id}",
        f"/ui/pipelines/{demo.pipeline_id}",
        f"/ui/projects/{demo.project_id}/simulations",
        f"/ui/projects/{demo.project_id}/studies/{demo.study_id}",
    ):
        response = page_b.goto(f"{ui_server.url}{path}")
        assert response.status == 404, path
        assert page_b.locator("h1").inner_text() == "Not found"
    page_b.goto(f"{ui_server.url}/ui/jobs")
    assert page_b.locator("#open-jobs tbody tr, #done-jobs tbody tr").count() == 0


def test_no_chromium_skips_locally_and_fails_under_ci(monkeypatch: Any) -> None:
    import pytest

    from tests.ui import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        conftest.chromium_path()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        conftest.chromium_path()
