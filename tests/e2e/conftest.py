"""Browser journeys: Playwright (sync API) driving Debian's chromium, headless, against pytest-django's live_server.

Playwright's sync API runs an event loop in the test thread, so Django's guard against database access from async
code must be lifted for the fixtures that create data in that thread.

Without /usr/bin/chromium the journeys fail in CI (CI=true: `make test` installs it, so a missing browser is a broken
set-up, never a reason to pass) and are skipped elsewhere.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "a-long-test-password"  # tests/factories.py UserFactory
TIMEOUT_MS = 15_000
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = (
            f"{CHROMIUM} is missing: the browser journeys need Debian's chromium "
            "(`make browser`, or `apt-get install -y chromium`)."
        )
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            # Playwright turns chromium's back-forward cache off; users' browsers have it on, and a page they go
            # back to is the page as it was rendered (the form with its submission token), not a new request.
            ignore_default_args=["--disable-back-forward-cache"],
            headless=True,
        )
        yield browser
        browser.close()


class Journey:
    """One journey's screenshots (var/screenshots/<journey>/NN-<step>.png) and its logged-in browser pages."""

    def __init__(self, name: str, browser, base_url: str):
        self.name = name
        self.browser = browser
        self.base_url = base_url
        self.folder = SCREENSHOTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0
        self.contexts = []

    def login(self, username: str, password: str = PASSWORD):
        """A fresh browser context logged in through the login form; returns its page."""
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))
        return page

    def shot(self, page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def journey(request, browser, live_server):
    name = request.node.name.removeprefix("test_")
    made = Journey(name, browser, live_server.url)
    yield made
    made.close()
