"""Fixtures of the browser tests: a local server with real records, headless Chromium (the
system's: Playwright's own browser download is never used) and signed-in pages."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("pybamm")

from ionworks import AsyncIonworks
from ionworks.cli._ui import login_url
from ionworks.server.hosting import EmbeddedServer
from tests.ui.demo_data import Demo, make_demo

KEY_A = "ui-key-a"
KEY_B = "ui-key-b"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a thread of its own (Playwright's sync API keeps an
    event loop running on the test's thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def chromium_path() -> str | None:
    """The system's Chromium; without it (or without Playwright) the browser tests skip,
    except under CI (``CI`` set), where they fail."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        message = "headless Chromium (Debian's chromium) and playwright are needed"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: not skipping)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    data_dir = tmp_path_factory.mktemp("ui-data")
    with EmbeddedServer(data_dir, api_keys=[KEY_A, KEY_B], allow_anonymous=False, workers=2) as srv:
        yield srv


@pytest.fixture(scope="session")
def demo(ui_server: EmbeddedServer) -> Demo:
    async def make() -> Demo:
        async with AsyncIonworks(api_key=KEY_A, api_url=ui_server.url) as client:
            return await make_demo(client, fit=True)

    return run(make())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for one module (Playwright's sync API keeps an event loop running on
    the main thread until it stops, which async tests after it must not meet)."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def signed_in_page(browser: Any, url: str, key: str) -> Any:
    """A fresh browser context signed in through a one-time login link."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(run(asyncio.to_thread(login_url, url, key)))
    assert "/ui/login?token=" in page.url  # the link alone signs nobody in
    page.click("#continue")
    page.wait_for_url("**/ui/projects")
    return page


@pytest.fixture
def page_a(browser: Any, ui_server: EmbeddedServer) -> Iterator[Any]:
    page = signed_in_page(browser, str(ui_server.url), KEY_A)
    yield page
    page.context.close()


@pytest.fixture
def page_b(browser: Any, ui_server: EmbeddedServer) -> Iterator[Any]:
    page = signed_in_page(browser, str(ui_server.url), KEY_B)
    yield page
    page.context.close()


def shot(page: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path
