"""The admin's session pages: spend against budget, a row per agent, the session's
calls; and the live event that keeps them current."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from agents_llm.metering.calls import CallOutcome, call_record
from agents_llm.metering.pricing import TokenUsage
from agents_llm.metering.sessions import session_create
from agents_llm.models import LLMCall
from tests.conftest import CANARY_LAST4
from tests.gateway_support import caller  # noqa: F401
from tests.test_browser_schema_builder import SCREENSHOTS, browser, page  # noqa: F401

ROLES = [
    "market_analyst", "social_analyst", "news_analyst", "fundamentals_analyst", "bull_researcher", "bear_researcher",
    "research_manager", "trader", "aggressive_analyst", "conservative_analyst", "neutral_analyst", "portfolio_manager",
]


def _world(owner, provider):
    """A session in which each of the 12 roles made a call or two."""
    from agents_llm.agents.services import agent_create

    session, _ = session_create(owner=owner, name="NVDA 2026-11-20", budget_usd=Decimal("0.05"), budget_tokens=100000)
    for index, role in enumerate(ROLES):
        agent = agent_create(name=role)
        for _ in range(1 + index % 2):
            usage = TokenUsage(input_tokens=900 + 10 * index, output_tokens=120 + index)
            cost = Decimal("0.0004") + Decimal(index) / 100000
            call_record(CallOutcome(
                agent_id=agent.pk, alias=role.replace("_", " ").title(), user_id=owner.pk, session_id=session.pk,
                provider_id=provider.pk, model_name="gpt-4o-mini", status="succeeded", usage=usage, cost=cost,
                latency_ms=800 + index,
            ))
    return session


@pytest.mark.django_db
def test_the_sessions_list_and_page_show_spend_by_agent(client, superuser, openai_provider):
    session = _world(superuser, openai_provider)
    client.force_login(superuser)

    listing = client.get("/admin/agents_llm/meteredsession/")
    detail = client.get(f"/admin/agents_llm/meteredsession/{session.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    text = detail.content.decode()
    assert "NVDA 2026-11-20" in listing.content.decode()
    assert all(role in text for role in ROLES)
    assert text.count("<tr><td>") >= 12 + LLMCall.objects.count()
    assert CANARY_LAST4 not in text


@pytest.mark.browser
def test_the_session_page_in_a_browser_shows_the_12_roles_with_tokens_and_cost(page: Page, live_server, superuser, openai_provider):  # noqa: F811
    session = _world(superuser, openai_provider)

    page.goto(f"{live_server.url}/admin/agents_llm/meteredsession/{session.pk}/change/")

    rows = page.locator("table.session-agents tbody tr")
    expect(rows).to_have_count(12)
    expect(page.locator(".spend").first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "session-by-agent.png"), full_page=True)
    first = rows.first.locator("td")
    assert first.nth(0).inner_text() in ROLES and int(first.nth(3).inner_text().replace(",", "")) > 0


@pytest.mark.django_db
def test_a_gateway_call_in_a_session_publishes_session_updated(monkeypatch, caller, offline_provider):
    from agents_llm.gateway import views  # noqa: F401 - the publisher is reached through metering
    from tests.gateway_support import GatewayClient, make_agent
    from tradingagents import events

    sent: list[tuple] = []
    monkeypatch.setattr(events, "publish", lambda *args: sent.append(args))
    make_agent("trader", offline_provider, "offline")
    session, token = session_create(owner=caller, name="live", budget_tokens=50000)

    response = GatewayClient(token).chat({"model": "trader", "messages": [{"role": "user", "content": "hi"}]})

    assert response.status_code == 200
    updates = [s for s in sent if s[0] == "sessions" and s[2] == str(session.pk)]
    assert updates and updates[-1][1] == "session.updated"
    session.refresh_from_db()
    assert updates[-1][3]["spent_tokens"] == session.spent_tokens > 0
    assert token not in str(updates[-1][3]) and updates[-1][3]["spent_usd"] == "0.00000000"
