"""In a real Chromium: from a session's page to one of its calls, from the call to its
agent, and the agent's spend; then the usage dashboard's default period (the last 30
days, its selector saying so). Issue 27's walk of a new user, who could not get from a
session to anything.

Needs Debian's chromium at /usr/bin/chromium. Screenshots go to out/screenshots/walk_*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from agents_llm.metering.calls import CallOutcome, call_record
from agents_llm.metering.pricing import TokenUsage
from agents_llm.metering.sessions import session_create
from agents_llm.models import CallStatus, LLMCall, MeteredSession, SessionStatus
from tests.browser_support import SCREENSHOTS, browser, signed_in_page  # noqa: F401
from tradingagents.formatting import money

pytestmark = pytest.mark.browser


@pytest.fixture
def world(transactional_db, superuser, openai_provider) -> dict:
    """A session in which two agents made calls (one refused); a call of another session."""
    from agents_llm.agents.services import agent_create

    trader = agent_create(name="trader", display_name="Trader")
    analyst = agent_create(name="market_analyst", display_name="Market analyst")
    session, _ = session_create(owner=superuser, name="NVDA 2026-12-07", budget_usd=Decimal("1"))
    other, _ = session_create(owner=superuser, name="NVDA 2026-12-07")
    for n, agent in enumerate((trader, analyst, trader)):
        usage = TokenUsage(input_tokens=1200 + n, output_tokens=300)
        cost = Decimal("0.0123") + n
        call_record(CallOutcome(
            agent_id=agent.pk, alias=agent.name, user_id=superuser.pk, session_id=session.pk,
            provider_id=openai_provider.pk, model_name="gpt-4o-mini", status=CallStatus.SUCCEEDED, usage=usage,
            cost=cost, latency_ms=900, created_at=timezone.now() - timedelta(minutes=n),
        ))
    call_record(CallOutcome(
        agent_id=trader.pk, alias="trader", user_id=superuser.pk, session_id=session.pk,
        status=CallStatus.REFUSED, error_code="budget_exceeded", error="Budget exceeded in session 'NVDA 2026-12-07'.",
    ))
    call_record(CallOutcome(
        agent_id=trader.pk, alias="trader", user_id=superuser.pk, session_id=other.pk,
        provider_id=openai_provider.pk, model_name="gpt-4o-mini", status=CallStatus.SUCCEEDED, cost=Decimal("5"),
    ))
    return {"session": session, "other": other, "trader": trader}


@pytest.fixture
def page(world, live_server, superuser, browser, monkeypatch) -> Iterator[Page]:  # noqa: F811
    with signed_in_page(browser, live_server.url, monkeypatch) as page:
        yield page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"walk_{name}.png"), full_page=True)


def test_a_new_user_walks_from_a_session_to_a_call_its_agent_and_its_spend(page: Page, live_server, world):
    session, other, trader = world["session"], world["other"], world["trader"]
    # The list tells the two sessions of one name apart.
    page.goto(f"{live_server.url}/admin/agents_llm/meteredsession/")
    expect(page.locator("#result_list")).to_contain_text(str(session.pk)[:8])
    expect(page.locator("#result_list")).to_contain_text(str(other.pk)[:8])
    shot(page, "01_sessions")

    page.locator("#result_list tr", has_text=str(session.pk)[:8]).locator("a", has_text="NVDA 2026-12-07").click()
    expect(page.locator("table.session-calls tbody tr")).to_have_count(4)
    expect(page.locator("table.session-calls")).to_contain_text("Budget exceeded in session")
    shot(page, "02_session")

    # One of its calls: the trader's latest answered one.
    call = LLMCall.objects.filter(session=session, agent=trader, status=CallStatus.SUCCEEDED).order_by("-created_at")[0]
    page.locator("table.session-calls a", has_text=f"#{call.pk}").click()
    expect(page).to_have_url(f"{live_server.url}/admin/agents_llm/llmcall/{call.pk}/change/")
    expect(page.locator("#content")).to_contain_text("gpt-4o-mini")
    expect(page.locator("div.field-session_link a")).to_have_text(str(session))
    shot(page, "03_call")

    # The session's calls in their list, filtered.
    page.goto(f"{live_server.url}/admin/agents_llm/meteredsession/{session.pk}/change/")
    page.locator("a.session-llmcall-list").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    page.goto(f"{live_server.url}/admin/agents_llm/llmcall/{call.pk}/change/")

    # From the call to its agent, and the agent's spend over the last 30 days.
    page.locator("div.field-agent a").click()
    expect(page).to_have_url(f"{live_server.url}/admin/agents_llm/agentconfig/{trader.pk}/change/")
    spent = sum((c.cost for c in LLMCall.objects.filter(agent=trader) if c.cost is not None), Decimal(0))
    spend = page.locator("[data-role=agent-spend]")
    expect(spend).to_contain_text(money(spent))
    expect(spend).to_contain_text("4 gateway calls")
    shot(page, "04_agent_spend")

    page.goto(f"{live_server.url}/admin/agents_llm/agentconfig/")
    expect(page.locator("#result_list tr", has_text="trader").first).to_contain_text(money(spent))
    shot(page, "05_agents_list")

    # The session page's button closes the session (it used to only navigate back).
    page.goto(f"{live_server.url}/admin/agents_llm/meteredsession/{session.pk}/change/")
    page.locator("[data-role=close-session]").click()
    expect(page.locator(".messagelist")).to_contain_text("Closed session")
    expect(page.locator("div.field-status_badge")).to_contain_text("Closed")
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.CLOSED
    shot(page, "07_session_closed")


def test_the_usage_dashboard_opens_on_the_last_30_days(page: Page, live_server, world):
    today = timezone.now().date()

    page.goto(f"{live_server.url}/admin/usage/")

    expect(page.locator("#id_days")).to_have_value("30")
    expect(page.locator("#id_days option:checked")).to_have_text("Last 30 days")
    expect(page.locator("#id_date_from")).to_have_value((today - timedelta(days=29)).isoformat())
    expect(page.locator("#id_date_to")).to_have_value(today.isoformat())
    expect(page.locator("table[data-role=by-agent] a", has_text="trader")).to_be_visible()
    expect(page.locator("table[data-role=by-session] a").first).to_contain_text("NVDA 2026-12-07 (")
    shot(page, "06_dashboard")

    # Typing a date makes the period custom, and the page shows that period.
    page.fill("#id_date_from", (today - timedelta(days=6)).isoformat())
    page.locator("#id_date_from").dispatch_event("change")
    expect(page.locator("#id_days")).to_have_value("")
    page.click("#usage-period input[type=submit]")
    expect(page.locator("#id_date_from")).to_have_value((today - timedelta(days=6)).isoformat())
    expect(page.locator("#id_days")).to_have_value("")
    page.locator("table[data-role=by-agent] a", has_text="trader").click()
    expect(page).to_have_url(f"{live_server.url}/admin/agents_llm/agentconfig/{world['trader'].pk}/change/")
