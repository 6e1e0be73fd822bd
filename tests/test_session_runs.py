"""Runs join sessions too: their usage and cost count in the session's totals and its
per-agent breakdown, next to the gateway calls."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentRun, LLMCall, MeteredSession
from tests.api_support import client_for
from tests.gateway_support import GatewayClient, caller, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def runner_caller(caller):
    from django.contrib.auth.models import Permission

    caller.user_permissions.add(Permission.objects.get(codename="add_agentrun"))
    return caller


def test_a_run_in_a_session_counts_in_it_with_the_gateway_calls(runner_caller, offline_provider, vendor, vendor_provider, task):
    from agents_llm.agents.services import assignment_create

    make_agent("trader", vendor_provider, "vendor-a",
                        cost_per_1k_input_tokens=Decimal("1"), cost_per_1k_output_tokens=Decimal("2"))
    analyst = make_agent("market_analyst", offline_provider, "offline")
    assignment_create(agent=analyst, task=task)
    session, token = session_create(owner=runner_caller, name="NVDA")
    api = client_for(runner_caller)

    GatewayClient(token).chat({"model": "trader", "messages": user_message()})
    inline = api.call("POST", "/runs?wait=true", {"agent": "market_analyst", "task": "trade-signal",
                                                  "input": {"ticker": "NVDA"}, "session": str(session.pk)})
    queued = api.post("/runs", {"agent": "market_analyst", "task": "trade-signal", "input": {"ticker": "AAPL"},
                                "session": str(session.pk)})

    assert inline.status_code == 200, inline.content
    assert inline.json()["session_id"] == str(session.pk) and queued.json()["session_id"] == str(session.pk)
    detail = api.get(f"/sessions/{session.pk}").json()
    rows = {r["agent"]: r for r in detail["by_agent"]}
    assert (rows["trader"]["calls"], rows["market_analyst"]["runs"]) == (1, 2)
    session.refresh_from_db()
    run_tokens = AgentRun.objects.filter(session=session, status="succeeded").aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    call = LLMCall.objects.get(session=session)
    assert session.spent_tokens == call.input_tokens + call.output_tokens + (run_tokens["i"] or 0) + (run_tokens["o"] or 0)
    assert session.spent_usd == call.cost
    assert detail["runs"] == 2 and detail["calls"] == 1


def test_a_run_in_someone_elses_or_a_closed_session_is_refused_naming_the_field(runner_caller, editor, offline_config, assignment):
    from agents_llm.metering.sessions import session_close

    theirs, _ = session_create(owner=editor, name="theirs")
    mine, _ = session_create(owner=runner_caller, name="mine")
    session_close(session=mine)
    api = client_for(runner_caller)

    for session in (theirs, mine):
        response = api.post("/runs", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "X"}, "session": str(session.pk)})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "session"]
    assert AgentRun.objects.count() == 0
    assert MeteredSession.objects.get(pk=mine.pk).spent_tokens == 0


def test_a_run_reserves_before_each_model_request_and_one_that_does_not_fit_is_stopped_before_it(
    runner_caller, offline_provider, task,
):
    from agents_llm.agents.services import assignment_create

    analyst = make_agent("market_analyst", offline_provider, "offline")
    assignment_create(agent=analyst, task=task)
    roomy, _ = session_create(owner=runner_caller, name="roomy", budget_tokens=100000)
    tight, _ = session_create(owner=runner_caller, name="tight", budget_tokens=50)
    api = client_for(runner_caller)
    body = {"agent": "market_analyst", "task": "trade-signal", "input": {"ticker": "NVDA"}}

    ran = api.call("POST", "/runs?wait=true", {**body, "session": str(roomy.pk)})
    stopped = api.call("POST", "/runs?wait=true", {**body, "session": str(tight.pk)})

    assert ran.json()["status"] == "succeeded", ran.content
    assert stopped.json()["status"] == "failed"
    assert "BudgetRefused" in stopped.json()["error"] and "Budget exceeded in session 'tight'" in stopped.json()["error"]
    for session in (roomy, tight):
        session.refresh_from_db()
        run = AgentRun.objects.get(session=session)
        assert session.spent_tokens == run.input_tokens + run.output_tokens
        assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    assert tight.spent_tokens == 0 and tight.status == "over_budget"
