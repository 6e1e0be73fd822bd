"""Analyses end to end: a real uvicorn (its embedded worker runs the actor) launches the
real TradingAgents v0.3.0 (its own python, a subprocess) with every role routed per
role through the server's gateway, to a loopback vendor. Two analyses at the same time
with two lineups that differ in some roles each get their own lineup's vendor models,
and no agent's config changes; a small budget stops one within it; a cancel stops one
and leaves no process behind."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from agents_llm.agents.services import lineup_create
from agents_llm.models import Analysis, LLMCall, MeteredSession
from tests.analyses_support import configs_of_agents, finished, may_analyse, process_gone, seed_on, wait_for
from tests.gateway_support import caller, running_servers, vendor, vendor_provider  # noqa: F401
from tests.tradingagents_support import NODES, RATINGS, ta_python
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DATE = "2026-11-20"
# Bull Researcher and Trader differ between the two lineups; the rest are alike.
DIFFERENT = {"bull_researcher": "Bull Researcher", "trader": "Trader"}


@pytest.fixture
def world(caller, vendor_provider):  # noqa: F811
    ta_python()  # skip (or fail on CI) before starting anything
    agents = seed_on(vendor_provider)
    may_analyse(caller)
    for name in ("mix-a", "mix-b"):
        lineup_create(name=name, roles={
            agent: {"provider": vendor_provider, "model_name": f"{name}-{agent.name}" if agent.name in DIFFERENT
                    else f"shared-{agent.name}",
                    "cost_per_1k_input_tokens": Decimal("0.001"), "cost_per_1k_output_tokens": Decimal("0.002")}
            for agent in agents.values()
        })
    return api_token_create(user=caller, name="analyses")[1]
# The embedded defaults (the StubBroker, the in-process worker) also on the
# PostgreSQL + Redis leg: the server runs the analyses itself.
EMBEDDED = {"REDIS_URL": "", "DRAMATIQ_BROKER_URL": "", "DRAMATIQ_EMBEDDED_WORKER": "true"}


@pytest.fixture
def server(world, django_db_setup) -> Iterator[str]:
    with running_servers(1, **EMBEDDED, TRADINGAGENTS_PYTHON=str(ta_python())) as ports:
        yield f"http://127.0.0.1:{ports[0]}"


def _launch(server: str, token: str, **body) -> dict:
    response = httpx.post(f"{server}/api/v1/analyses", json={"ticker": "NVDA", "trade_date": DATE,
                                                             "market_data": "offline", **body},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return response.json()


def test_two_analyses_at_once_each_get_their_own_lineups_models_and_no_config_changes(world, server, vendor):  # noqa: F811
    before = configs_of_agents()
    with ThreadPoolExecutor(2) as pool:
        launched = list(pool.map(lambda name: _launch(server, world, lineup=name), ["mix-a", "mix-b"]))
    results = [finished(server, world, a["id"]) for a in launched]

    # They ran at the same time: each started before the other finished.
    first, second = (Analysis.objects.get(pk=a["id"]) for a in launched)
    assert first.started_at < second.finished_at and second.started_at < first.finished_at

    for lineup, result in zip(["mix-a", "mix-b"], results, strict=True):
        assert result["status"] == "succeeded", result["error"]
        assert result["rating"] in RATINGS and result["lineup"] == lineup
        assert result["market_data_note"] == "offline market data: not for decisions"
        assert set(result["reports"]) == {"market", "sentiment", "news", "fundamentals", "investment_debate",
                                          "investment_plan", "trader_plan", "risk_debate", "final_decision"}
        assert [r["node"] for r in result["roles"]] == NODES
        calls = LLMCall.objects.filter(session_id=result["session"]).select_related("agent")
        assert sorted(c.alias for c in calls) == sorted(NODES)
        for call in calls:
            prefix = lineup if call.agent.name in DIFFERENT else "shared"
            assert call.model_name == f"{prefix}-{call.agent.name}", (lineup, call.alias, call.model_name)
        for role in result["roles"]:
            assert role["status"] == "done" and role["calls"] == 1 and Decimal(role["cost_usd"]) > 0
            assert role["answered_by"] == [f"vendor/{role['model']}"]
        session = MeteredSession.objects.get(pk=result["session"])
        assert Decimal(result["cost_usd"]) == session.spent_usd == sum(c.cost for c in calls) > 0
    assert {s.model for s in vendor.seen()} >= {"mix-a-trader", "mix-b-trader", "mix-a-bull_researcher"}
    assert configs_of_agents() == before  # routed by the lineups, never by rewriting configs


def test_a_small_budget_stops_an_analysis_within_it(world, server, vendor):  # noqa: F811
    launched = _launch(server, world, lineup="mix-a", budget_usd="0.010")

    result = finished(server, world, launched["id"])

    assert result["status"] == "stopped", result
    assert "budget" in result["error"].lower()
    session = MeteredSession.objects.get(pk=result["session"])
    assert 0 < session.spent_usd <= Decimal("0.010")
    assert LLMCall.objects.filter(session=session, status="refused").exists()
    assert (session.reserved_usd, session.reserved_tokens) == (0, 0)


def test_a_cancel_stops_a_running_analysis_and_kills_its_process(world, server, vendor):  # noqa: F811
    vendor.script("mix-a-trader", {"auto": True, "delay": 30})  # it is still running when cancelled
    launched = _launch(server, world, lineup="mix-a")
    pid = wait_for(lambda: Analysis.objects.filter(pk=launched["id"], progress__has_key="Trader")
                   .values_list("pid", flat=True).first(), 120, "the trader running")

    response = httpx.post(f"{server}/api/v1/analyses/{launched['id']}/cancel",
                          headers={"Authorization": f"Bearer {world}"}, timeout=30)
    assert response.status_code == 202, response.text

    result = finished(server, world, launched["id"], timeout=30)
    assert result["status"] == "stopped" and result["error"] == "Cancelled by caller.", result
    assert result["rating"] == "" and "final_decision" not in result["reports"]
    wait_for(lambda: process_gone(pid), 10, f"driver process {pid} gone")
    assert Analysis.objects.get(pk=launched["id"]).pid is None
