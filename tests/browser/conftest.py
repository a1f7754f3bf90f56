"""Browser tests: Playwright (the Python package) drives Debian's Chromium at /usr/bin/chromium against
the real `lvyue serve` in a subprocess.

Playwright's own browser download cannot work here, so the system Chromium is launched through
`executable_path`. Where it is absent the tests skip with the reason — except under CI=true, where
they fail: CI (`./dev test`) installs it. One server and one browser serve the whole module; each
test gets a fresh browser context whose requests are recorded, and every test asserts that none of
them left 127.0.0.1 (no CDN, no network at page load).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.storage import migrate
from engine.storage.db import Database
from tests.conftest import ROOT, Server, seed_people

CHROMIUM = "/usr/bin/chromium"
BUILD = ROOT / "api" / "static" / "build"
SCREENSHOTS = ROOT / "docs" / "screenshots"  # written only with LVYUE_SCREENSHOTS=1 (docs/screenshots/take.py)
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                 "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only",
                 "--no-pings", "--disable-features=Translate,OptimizationHints,MediaRouter"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is absent: install Debian's chromium (./dev test does, as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[test]')")
    if not (BUILD / "modeler.js").is_file():
        if shutil.which("npm") and (ROOT / "node_modules" / "esbuild").is_dir():
            subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT, check=True)
        else:
            _unavailable("the pages' assets are not built: run ./dev install (npm ci, npm run build)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """`lvyue serve` on a fresh SQLite database with the test directory of people."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'lvyue.sqlite'}"
    migrate.upgrade(url)
    database = Database(url)
    people = seed_people(database)
    database.dispose()
    server = Server(url, folder).start()
    server.people = people
    yield server
    server.kill()


class Requests:
    def __init__(self):
        self.urls: list[str] = []

    def foreign(self) -> list[str]:
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport={"width": 1500, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True)
    seen = Requests()
    context.on("request", lambda request: seen.urls.append(request.url))
    errors: list[str] = []
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(15_000)
    pg.requests = seen
    pg.errors = errors
    yield pg
    context.close()
    assert seen.foreign() == [], f"requests left 127.0.0.1: {seen.foreign()}"
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where the tests save their screenshots: the README's folder when asked, else a temporary one
    (so that running the tests never changes tracked files)."""
    if os.environ.get("LVYUE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def sign_in(page, token: str) -> None:
    """Type the token into the page's prompt (it is then kept in the tab's session storage)."""
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in", exact=True).click()
