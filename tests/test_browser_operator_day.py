"""An operator's day in a real Chromium, on a seeded database with a few hundred
recorded gateway calls and runs: the index's spend summary, a provider added by its
display name (an error first, then validation against a loopback vendor), a model set
from the picker, a run started from the form, the runs list, the usage dashboard and
the API docs, all with no network beyond 127.0.0.1.

Needs Debian's chromium at /usr/bin/chromium. Screenshots go to out/screenshots/operator_*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, LLMCall, RunStatus, TaskConfig
from providers.models import LLMProvider, ValidationStatus
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.conftest import CANARY_KEY
from tests.dramatiq_support import stub_worker
from tests.fake_vendor import FakeVendor
from tests.usage_support import record_usage

pytestmark = pytest.mark.browser



@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as vendor:
        yield vendor


@pytest.fixture
def worker(transactional_db) -> Iterator[None]:
    with stub_worker():
        yield


@pytest.fixture
def seeded(transactional_db, superuser, monkeypatch) -> dict:
    from agents_llm.seeding import seed_run

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "GROQ_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    seed_run()
    offline = LLMProvider.objects.get(name="offline")
    record_usage(
        agents=list(AgentConfig.objects.all()), tasks=list(TaskConfig.objects.all()),
        providers=[(offline, "offline")], owner=superuser, runs=150, calls=250, days=10, now=timezone.now(),
    )
    return {"analyst": AgentConfig.objects.get(name="market_analyst"), "trader": AgentConfig.objects.get(name="trader")}


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    connections.close_all()


@pytest.fixture
def page(seeded, worker, live_server, superuser, browser, monkeypatch) -> Iterator[Page]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("TradingAgents control room")
    yield page
    context.close()
    connections.close_all()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert outside == [], f"requests beyond 127.0.0.1: {outside}"


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"operator_{name}.png"), full_page=full_page)


def test_an_operators_day(page: Page, live_server, seeded, vendor):
    base = live_server.url

    # The index sums up what the agents spent.
    expect(page.locator("#usage-summary")).to_be_visible()
    expect(page.locator("#usage-summary [data-role=spend-period]")).to_contain_text("$")
    shot(page, "01_index")

    # A provider by display name: the first try misses the base URL.
    page.goto(f"{base}/admin/providers/llmprovider/add/")
    page.fill("#id_name", "My OpenAI")
    page.select_option("#id_provider_type", "openai_compatible")
    page.fill("#id_api_key", CANARY_KEY)
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist").first).to_be_visible()
    expect(page.locator("#id_name")).to_have_value("My OpenAI")
    expect(page.locator("#id_api_key")).to_have_value("")
    expect(page.get_by_text("re-enter it before saving")).to_be_visible()
    assert CANARY_KEY not in page.content()
    shot(page, "02_provider_error")

    page.fill("#id_base_url", f"{vendor.url}/v1")
    page.fill("#id_api_key", CANARY_KEY)
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    provider = LLMProvider.objects.get(name="my-openai")
    assert provider.api_key_last4 == CANARY_KEY[-4:]

    # Validation runs on the (stub) worker against the loopback vendor.
    deadline = time.monotonic() + 15
    while LLMProvider.objects.get(pk=provider.pk).validation_status != ValidationStatus.VALID:
        assert time.monotonic() < deadline, LLMProvider.objects.get(pk=provider.pk).validation_error
        time.sleep(0.2)
    page.reload()
    expect(page.locator(".validation-badge")).to_have_text("Valid")
    expect(page.locator("ul.available-models")).to_contain_text("o3-mini")
    expect(page.locator("button.validate-now")).to_be_visible()
    assert page.locator("button.validate-now").evaluate("b => getComputedStyle(b).borderRadius") == "15px"
    shot(page, "03_provider_valid")

    # The analyst's model, from the picker: the new provider's reported models.
    config = AgentLLMConfig.objects.filter(agent=seeded["analyst"]).order_by("priority").first()
    page.goto(f"{base}/admin/agents_llm/agentllmconfig/{config.pk}/change/")
    page.select_option("#id_provider", str(provider.pk))
    page.click("#id_model_name")
    options = page.locator("#id_model_name-models option")
    expect(options).to_have_count(len(LLMProvider.objects.get(pk=provider.pk).available_models))
    assert "o3-mini" in options.evaluate_all("os => os.map(o => o.value)")
    page.fill("#id_model_name", "o3-mini")
    shot(page, "04_model_picker")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    config.refresh_from_db()
    assert (config.provider_id, config.model_name) == (provider.pk, "o3-mini")

    # The agents list shows it.
    page.goto(f"{base}/admin/agents_llm/agentconfig/")
    expect(page.locator("tr", has_text="market_analyst").locator("td.field-primary_model")).to_have_text("my-openai/o3-mini")

    # A run from the form: choosing the task puts its placeholders in the input box.
    page.goto(f"{base}/admin/agents_llm/agentconfig/{seeded['trader'].pk}/change/")
    page.click("a.run-agent-link")
    page.wait_for_load_state()
    page.select_option("#id_task", label="trade-proposal")
    template = page.locator("#id_input").input_value()
    assert '"plan": ""' in template and '"ticker": ""' in template
    page.fill("#id_input", '{"ticker": "NVDA"}')
    page.click("input[type=submit]")
    expect(page.get_by_text("Missing value for placeholder 'plan'")).to_be_visible()
    page.fill("#id_input", '{"ticker": "NVDA", "plan": "buy the dip"}')
    shot(page, "05_run_form")
    page.click("input[type=submit]")
    run = AgentRun.objects.filter(agent=seeded["trader"], input__plan="buy the dip").get()
    assert run.status == RunStatus.SUCCEEDED and run.output["ticker"] == "NVDA"
    expect(page.locator("h1")).to_have_text(f"Run {run.pk}: Trader on trade-proposal (succeeded)")
    expect(page.locator(".field-started .readonly")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    shot(page, "06_run")

    # The runs list keeps to the page's width.
    page.goto(f"{base}/admin/agents_llm/agentrun/")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "07_runs", full_page=False)

    # The dashboard: charts drawn by the vendored Chart.js, tables behind them.
    page.goto(f"{base}/admin/")
    page.click("a.usage-dashboard-link")
    expect(page).to_have_url(re.compile(r"/admin/usage/$"))
    page.wait_for_function("() => window.Chart && document.getElementById('chart-spend-day').chart")
    charts = page.evaluate(
        "() => [...document.querySelectorAll('canvas')].map(c => [c.id, c.chart ? c.chart.config.type : null])"
    )
    assert dict(charts) == {
        "chart-spend-day": "bar", "chart-tokens-day": "bar", "chart-agents": "bar", "chart-models": "bar",
        "chart-outcomes": "bar", "chart-sessions": "bar",
    }
    total = page.locator("[data-role=total-count]").text_content()
    runs, calls = (int(n.replace(",", "")) for n in total.split(" / "))
    assert (runs, calls) == (AgentRun.objects.count(), LLMCall.objects.count())
    used = set(AgentRun.objects.values_list("agent_id", flat=True)) | set(LLMCall.objects.values_list("agent_id", flat=True))
    expect(page.locator("table[data-role=by-agent] tbody tr")).to_have_count(len(used))
    shot(page, "08_dashboard")

    # The API docs render their operations from the app's own static files.
    page.goto(f"{base}/api/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
    assert page.locator(".opblock").count() > 20
    shot(page, "09_api_docs")
