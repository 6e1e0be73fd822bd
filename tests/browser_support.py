"""The browser tests' Chromium (Debian's, driven by Playwright's sync API) and a page
signed in to the admin as `root` (the `superuser` fixture), which fails its test on any
JavaScript error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "out" / "screenshots"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    # Code run while Playwright's greenlet is active gets its own database connection
    # (another context); close both, or PostgreSQL cannot drop the test database.
    connections.close_all()


@contextmanager
def signed_in_page(browser: Browser, server: str, monkeypatch, *, width: int = 1400,
                   height: int = 1000) -> Iterator[Page]:
    """A page of a new browser context, signed in to `server`'s admin. The test's
    assertions on the database are plain synchronous ORM calls while Playwright's sync
    API runs an event loop in this thread: allowed here."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    yield page
    context.close()
    connections.close_all()  # the test's own, made while Playwright's loop ran
    assert errors == [], f"JavaScript errors on the page: {errors}"
