"""A live ``runbase server`` filled with real runs, and headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``RUNBASE_CHROMIUM``), never a
downloaded build. Screenshots go to ``RUNBASE_SCREENSHOTS`` when set (``make screenshots``
writes ``docs/screenshots``), else to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.live import LiveServer, run_server
from ui.seed import Seeded, seed

CHROMIUM = os.environ.get("RUNBASE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
UI_INDEX = Path(__file__).parents[2] / "src" / "runbase" / "server" / "_ui_dist" / "index.html"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in str(item.fspath).replace(os.sep, "/") and "browser" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not UI_INDEX.is_file():
        pytest.fail("The web UI is not built: run `make ui` (needs Node.js and npm)")
    workdir = tmp_path_factory.mktemp("ui-server")
    with run_server(f"sqlite:///{workdir / 'runbase.db'}", workdir) as server:
        yield server


@pytest.fixture(scope="session")
def seeded(ui_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed(ui_server.url, tmp_path_factory.mktemp("spool"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        pytest.fail(f"No Chromium at {CHROMIUM}: apt-get install chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, seeded: Seeded) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("RUNBASE_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
