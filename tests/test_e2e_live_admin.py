"""End to end in a browser on PostgreSQL + Redis (uvicorn + rundramatiq): the provider
list's validation badge and the agent runs list follow the background work live,
without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS
from tests.e2e_support import E2E_MARKS, servers  # noqa: F401  (fixture)
from tests.fake_vendor import FakeVendor
from tradingagents.services import api_token_create

pytestmark = [*E2E_MARKS, pytest.mark.browser]



@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as vendor:
        yield vendor


@pytest.fixture
def world(transactional_db, superuser, vendor, assignment, offline_config) -> dict:
    # Rows are made here: Playwright's sync API runs an event loop in the test body.
    provider = provider_create(name="fake-openai", provider_type="openai", base_url=vendor.url + "/v1", api_key="sk-e2e-1234")
    # Checked just now: not due for the periodic sweep while the test runs.
    LLMProvider.objects.filter(pk=provider.pk).update(validation_status=ValidationStatus.VALID, validated_at=timezone.now())
    return {"provider": provider, "token": api_token_create(user=superuser, name="e2e")[1], "agent": assignment.agent.name,
            "task": assignment.task.name}


@pytest.fixture
def page(servers, world) -> Iterator[tuple[Page, int]]:
    port = servers
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/admin/login/")
        page.fill("#id_username", "root")
        page.fill("#id_password", "root-pass-123")
        page.click("input[type=submit]")
        yield page, port
        browser.close()


def live(page: Page, path: str, port: int) -> None:
    page.goto(f"http://127.0.0.1:{port}{path}")
    expect(page.locator("html")).to_have_attribute("data-live-events", "subscribed", timeout=10_000)
    page.evaluate("window.__notReloaded = true")


def test_the_provider_badge_follows_a_validation_live(page, world, vendor):
    page, port = page
    provider = world["provider"]
    vendor.script = [401]
    live(page, "/admin/providers/llmprovider/", port)
    badge = page.locator(f'.validation-badge[data-provider-id="{provider.pk}"]')
    expect(badge).to_have_attribute("data-status", "valid")

    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/providers/{provider.pk}/validate",
        headers={"Authorization": f"Bearer {world['token']}"},
    )
    assert response.status_code in (200, 202), response.text

    expect(badge).to_have_attribute("data-status", "invalid", timeout=10_000)
    expect(badge).to_have_text("Invalid")
    assert page.evaluate("window.__notReloaded") is True


def test_the_runs_list_shows_a_new_run_live(page, world):
    page, port = page
    live(page, "/admin/agents_llm/agentrun/", port)
    assert page.locator("#result_list tbody tr").count() == 0

    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/runs",
        headers={"Authorization": f"Bearer {world['token']}"},
        json={"agent": world["agent"], "task": world["task"], "input": {"ticker": "AAPL"}},
    )
    assert response.status_code in (200, 202), response.text

    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row).to_contain_text(re.compile("succeeded", re.IGNORECASE), timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
