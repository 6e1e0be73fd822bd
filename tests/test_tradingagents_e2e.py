"""The real TradingAgents v0.3.0 (its own virtualenv, a subprocess outside the project)
runs `propagate("NVDA", "2026-11-20")` through a real uvicorn serving the seeded roster,
whose agents all answer from a loopback OpenAI-compatible vendor at known prices:
(1) unchanged, configured by the .env that `manage.py tradingagents_env --session`
prints (a session token): metered under `quick` and `deep`; (2) routed per role by
integrations/tradingagents_gateway.py in a session it opened: each of the 12 roles is
recorded under its node name (the seed's aliases), and the session's per-agent costs add
up (the admin's session page is screenshotted); (3) with a small budget the run stops on
the 402 and the session spent no more than its budget."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentAlias, AgentConfig, LLMCall, MeteredSession, alias_key
from tests.gateway_support import caller, running_servers, vendor, vendor_provider  # noqa: F401
from tests.test_browser_schema_builder import SCREENSHOTS, browser, page  # noqa: F401
from tests.tradingagents_support import (
    DEEP_NODES,
    NODES,
    RATINGS,
    configure_args,
    run_driver,
    ta_python,
    zero_change_env,
)
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IN_PRICE, OUT_PRICE = Decimal("0.001"), Decimal("0.002")  # USD per 1k tokens, every agent


def _seed_on_the_vendor(provider) -> None:
    """The seeded roster (TradingAgents' node names are its aliases; `quick` and `deep`),
    every agent's primary config on the loopback vendor."""
    from agents_llm.agents.services import llm_config_upsert_primary

    call_command("seed", verbosity=0)
    for agent in AgentConfig.objects.all():
        llm_config_upsert_primary(agent=agent, data={
            "provider": provider, "model_name": f"vendor-{agent.name}",
            "cost_per_1k_input_tokens": IN_PRICE, "cost_per_1k_output_tokens": OUT_PRICE,
        })


@pytest.fixture
def world(caller, vendor_provider) -> str:  # noqa: F811
    """The API token of a user who may use the gateway."""
    ta_python()  # skip (or fail on CI) before starting anything
    _seed_on_the_vendor(vendor_provider)
    return api_token_create(user=caller, name="TradingAgents")[1]


@pytest.fixture
def server(world, django_db_setup) -> Iterator[str]:
    with running_servers(1) as ports:
        yield f"http://127.0.0.1:{ports[0]}"


def _session_detail(server: str, token: str, session_id: str) -> dict:
    response = httpx.get(f"{server}/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _costs_add_up(detail: dict, session: MeteredSession) -> None:
    calls = LLMCall.objects.filter(session=session)
    assert Decimal(detail["spent_usd"]) == session.spent_usd == sum(c.cost for c in calls) > 0
    assert sum(Decimal(row["cost"]) for row in detail["by_agent"]) == session.spent_usd
    assert detail["unpriced_calls"] == 0 and detail["calls"] == calls.count()
    assert session.spent_tokens == sum(c.input_tokens + c.output_tokens for c in calls)
    for call in calls.filter(status="succeeded"):
        assert call.cost == (call.input_tokens * IN_PRICE + call.output_tokens * OUT_PRICE) / 1000


def test_unchanged_tradingagents_with_a_session_token_is_metered_as_quick_and_deep(tmp_path, caller, world, server, vendor):  # noqa: F811
    # What `tradingagents_env` prints, pasted into the .env that TradingAgents loads from
    # its working directory: all that an unchanged TradingAgents needs.
    printed = io.StringIO()
    call_command("tradingagents_env", "--user", caller.username, "--url", server, "--session", "NVDA zero-change",
                 stdout=printed, stderr=io.StringIO())
    (tmp_path / ".env").write_text(printed.getvalue())
    session = MeteredSession.objects.get(name="NVDA zero-change")
    env = dict(line.split("=", 1) for line in printed.getvalue().splitlines())
    assert env == zero_change_env(f"{server}/v1", env["OPENAI_COMPATIBLE_API_KEY"])
    assert env["OPENAI_COMPATIBLE_API_KEY"].startswith("tas_")

    result = run_driver(tmp_path, "env")

    assert result["ok"] and result["decision"] in RATINGS, result
    calls = LLMCall.objects.filter(session=session).select_related("agent")
    assert {c.status for c in calls} == {"succeeded"}
    assert sorted((c.alias, c.agent.name) for c in calls) == sorted(
        [("deep", "deep")] * len(DEEP_NODES) + [("quick", "quick")] * (len(NODES) - len(DEEP_NODES))
    )
    assert sorted(s.model for s in vendor.seen()) == sorted(f"vendor-{c.agent.name}" for c in calls)
    session.refresh_from_db()
    detail = _session_detail(server, world, str(session.pk))
    assert {row["agent"]: row["calls"] for row in detail["by_agent"]} == {"quick": 10, "deep": 2}
    _costs_add_up(detail, session)


@pytest.mark.browser
def test_tradingagents_routed_per_role_records_each_of_the_12_roles_under_its_node_name(tmp_path, world, server, vendor, page: Page, live_server):  # noqa: F811
    result = run_driver(tmp_path, *configure_args(f"{server}/v1", world, open_session="NVDA per role"))

    assert result["ok"] and result["decision"] in RATINGS, result
    session = MeteredSession.objects.get(pk=result["session"])
    calls = LLMCall.objects.filter(session=session).select_related("agent")
    assert {c.status for c in calls} == {"succeeded"}
    assert sorted(c.alias for c in calls) == sorted(NODES)  # nothing asked for quick or deep
    roles = {c.alias: c.agent.name for c in calls}
    assert roles == {node: AgentAlias.objects.get(name_key=alias_key(node)).agent.name for node in NODES}
    assert len(set(roles.values())) == 12
    assert [s.model for s in vendor.seen()] == [f"vendor-{roles[node]}" for node in NODES]
    session.refresh_from_db()
    detail = _session_detail(server, world, str(session.pk))
    assert {row["agent"] for row in detail["by_agent"]} == set(roles.values())
    assert all(row["calls"] == 1 and Decimal(row["cost"]) > 0 for row in detail["by_agent"])
    _costs_add_up(detail, session)

    page.goto(f"{live_server.url}/admin/agents_llm/meteredsession/{session.pk}/change/")
    rows = page.locator("table.session-agents tbody tr")
    expect(rows).to_have_count(12)
    page.screenshot(path=str(SCREENSHOTS / "tradingagents-session-by-role.png"), full_page=True)
    shown = {rows.nth(i).locator("td").first.inner_text() for i in range(12)}
    assert shown == set(roles.values())


def test_a_small_budget_stops_the_run_with_a_402_within_budget(tmp_path, caller, world, server, vendor):  # noqa: F811
    budget = Decimal("0.010")  # a whole run costs about $0.0126; its first call reserves about $0.0084
    session, _ = session_create(owner=caller, name="NVDA on a budget", budget_usd=budget)

    result = run_driver(tmp_path, *configure_args(f"{server}/v1", world, session=str(session.pk)))

    assert not result["ok"], result
    assert (result["error"], result["status"], result["code"]) == ("APIStatusError", 402, "budget_exceeded"), result
    session.refresh_from_db()
    calls = LLMCall.objects.filter(session=session)
    assert 0 < session.spent_usd <= budget
    assert calls.filter(status="succeeded").count() >= 1 and calls.filter(status="refused").exists()
    assert calls.filter(status="succeeded").count() == len(vendor.seen()) < len(NODES)
    assert session.spent_usd == sum(c.cost for c in calls.filter(status="succeeded"))
    assert (session.reserved_usd, session.reserved_tokens) == (0, 0)
