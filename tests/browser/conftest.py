"""Fixtures of the browser tests: one Voila and one JupyterLab server for the session, one
Chromium, and the sample projects the notebooks open. See cvb_browser.py for how servers start
and stop."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cvb_browser import (
    CHROMIUM,
    Server,
    launch_chromium,
    start_lab,
    start_voila,
    stop_server,
    watch_page,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-tests")


@pytest.fixture(scope="session")
def notebooks(browser_home) -> Path:
    folder = browser_home / "notebooks"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def voila(browser_home, notebooks) -> Iterator[Server]:
    server = start_voila(notebooks, browser_home / "voila-home")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def lab(browser_home, notebooks) -> Iterator[Server]:
    server = start_lab(notebooks, browser_home / "lab-home")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def pw_driver():
    """The session's one Playwright driver (the sync API allows one per thread): every
    Chromium of the tests is launched from it."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message} (CI=true: the browser tests must run in CI)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(pw_driver, browser_home):
    context = launch_chromium(pw_driver, browser_home / "chromium-profile")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[str], tuple]]:
    """``page, watch = open_page(url)``: a fresh tab that records errors; closed afterwards."""
    pages = []

    def opener(url: str):
        page = browser.new_page()
        watch = watch_page(page)
        pages.append(page)
        page.goto(url)
        return page, watch

    yield opener
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
