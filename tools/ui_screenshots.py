"""Screenshots of the local server's web pages for the documentation.

Starts a local server on a temporary data directory, creates the demo records of the browser
tests (three simulations, a thickness sweep, a measurement, a small fit), signs in through a
one-time login link in headless Chromium (the system's, e.g. Debian's ``chromium``) and saves
``docs/img/ui-simulation.png`` and ``docs/img/ui-sweep.png``::

    .nox/tests/bin/python tools/ui_screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ionworks import AsyncIonworks  # noqa: E402
from ionworks.cli._ui import login_url  # noqa: E402
from ionworks.server.hosting import EmbeddedServer  # noqa: E402
from tests.ui.demo_data import Demo, make_demo  # noqa: E402

KEY = "screenshot-key"


async def _demo(url: str) -> Demo:
    async with AsyncIonworks(api_key=KEY, api_url=url) as client:
        return await make_demo(client, fit=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        EmbeddedServer(data_dir, api_keys=[KEY], allow_anonymous=False, workers=2) as server,
    ):
        url = str(server.url)
        demo = asyncio.run(_demo(url))
        link = login_url(url, KEY)
        sweep = _template_of(url, demo)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(link)
            page.click("#continue")  # the login link's page posts the token
            page.wait_for_url("**/ui/projects")
            pages = {
                "ui-simulation.png": f"{url}/ui/simulations/{demo.simulations[1]}",
                "ui-sweep.png": f"{url}/ui/projects/{demo.project_id}/sweeps/{sweep}",
            }
            for name, address in pages.items():
                page.goto(address)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.plot')].every(p => p.dataset.drawn)"
                )
                page.screenshot(path=str(args.out / name), full_page=True)
                print(args.out / name)
            browser.close()
    return 0


def _template_of(url: str, demo: Demo) -> str:
    async def find() -> str:
        async with AsyncIonworks(api_key=KEY, api_url=url) as client:
            record = await client.simulation.get(demo.sweep[0])
            return str(record["experiment_template_id"])

    return asyncio.run(find())


if __name__ == "__main__":
    raise SystemExit(main())
