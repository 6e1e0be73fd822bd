"""An analysis from the admin, in a real Chromium, on the embedded defaults: uvicorn on
SQLite with its in-process worker, the seeded roster on the offline provider (priced
free: its answers are synthetic) and offline market data. "New analysis" runs the real
TradingAgents v0.3.0 graph (TRADINGAGENTS_PYTHON) to `succeeded`; the page, never
reloaded, fills in live: a rating on TradingAgents' scale, every report, the twelve
roles with their calls and cost. Screenshots go to out/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from agents_llm.analyses.models import NODES, REPORTS
from agents_llm.models import Analysis, LLMCall
from tests.browser_support import SCREENSHOTS, browser, signed_in_page  # noqa: F401
from tests.gateway_support import running_servers
from tests.tradingagents_support import RATINGS, ta_python

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# The embedded defaults (the StubBroker, the in-process worker) also on the
# PostgreSQL + Redis leg: the server runs the analyses itself.
EMBEDDED = {"REDIS_URL": "", "DRAMATIQ_BROKER_URL": "", "DRAMATIQ_EMBEDDED_WORKER": "true"}


@pytest.fixture
def server(superuser, django_db_setup) -> Iterator[str]:
    python = ta_python()  # skip (or fail on CI) before starting anything
    call_command("seed", verbosity=0)
    with running_servers(1, **EMBEDDED, TRADINGAGENTS_PYTHON=str(python)) as ports:
        yield f"http://127.0.0.1:{ports[0]}"


@pytest.fixture
def page(server, browser, monkeypatch) -> Iterator[Page]:  # noqa: F811
    with signed_in_page(browser, server, monkeypatch) as page:
        yield page


def test_new_analysis_runs_tradingagents_offline_to_a_rating_and_the_page_fills_in_live(page: Page, server):
    page.goto(f"{server}/admin/agents_llm/analysis/")
    page.get_by_role("link", name="New analysis").click()
    expect(page.locator("#id_lineup")).to_have_value("tradingagents-default")
    page.fill("#id_ticker", "NVDA")
    page.fill("#id_trade_date", "2026-11-20")
    page.check("input[name=market_data][value=offline]")
    page.screenshot(path=str(SCREENSHOTS / "analysis-01-new.png"), full_page=True)
    page.get_by_role("button", name="Start the analysis").click()

    expect(page.locator("#analysis-ticker")).to_have_text("NVDA")
    page.evaluate("window.notReloaded = true")
    live = page.locator("#analysis-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=240_000)
    assert page.evaluate("window.notReloaded === true")  # filled in by the live events, not a reload

    analysis = Analysis.objects.get()
    assert analysis.status == "succeeded" and analysis.rating in RATINGS
    expect(page.locator("#analysis-rating")).to_have_text(analysis.rating)
    expect(page.locator("#analysis-offline")).to_have_text("offline market data: not for decisions")
    rows = page.locator("#analysis-pipeline tbody tr")
    expect(rows).to_have_count(12)
    assert [rows.nth(i).get_attribute("data-node") for i in range(12)] == NODES
    calls = LLMCall.objects.filter(session=analysis.session)
    assert sorted(c.alias for c in calls) == sorted(NODES)
    assert {(c.status, c.synthetic, c.cost) for c in calls} == {("succeeded", True, Decimal(0))}  # offline: free
    for i in range(12):
        cells = rows.nth(i).locator("td")
        expect(cells.nth(3)).to_have_text("done")
        expect(cells.nth(4)).to_have_text("1")
        expect(cells.nth(2)).to_have_text("offline/offline")
        expect(cells.nth(5)).not_to_have_text("0")
        expect(cells.nth(6)).to_have_text("$0.0000")
    for name in REPORTS:
        expect(page.locator(f"#report-{name} .report-body")).not_to_be_empty()
    expect(page.locator("#chart-role-cost")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "analysis-02-succeeded.png"), full_page=True)

    page.goto(f"{server}/admin/agents_llm/analysis/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(analysis.rating)
    page.screenshot(path=str(SCREENSHOTS / "analysis-03-list.png"), full_page=True)
