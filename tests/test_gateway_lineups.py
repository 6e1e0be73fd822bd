"""A session opened with a lineup: its gateway calls (and runs) for an agent the lineup
names are routed by the lineup's entry, then its fallback; other agents by their own
configs. The headers and the call's row say what answered; a change to the lineup or
its preset is seen by the next call."""

from __future__ import annotations

import pytest

from agents_llm.agents.services import lineup_create
from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentLLMConfig, AgentRun, LLMCall, LLMPreset
from tests.api_support import client_for
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def loopback_model_requests(monkeypatch):
    """Runs ask their models through PydanticAI: allowed here, where only the loopback vendor is reachable."""
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)


@pytest.fixture
def agents(vendor_provider):
    return {
        "trader": make_agent("trader", vendor_provider, "config-trader", aliases=["Trader"]),
        "market_analyst": make_agent("market_analyst", vendor_provider, "config-analyst"),
    }


@pytest.fixture
def mix(agents, vendor_provider):
    """The trader on `lineup-trader`, falling back to `lineup-trader-fallback`."""
    return lineup_create(name="mix", roles={agents["trader"]: {
        "provider": vendor_provider, "model_name": "lineup-trader", "temperature": 0.2, "max_tokens": 300,
        "fallback_provider": vendor_provider, "fallback_model": "lineup-trader-fallback",
    }})


def _session(caller, lineup=None) -> GatewayClient:
    _, token = session_create(owner=caller, name="work", lineup_id=lineup.pk if lineup else None)
    return GatewayClient(token)


def test_a_call_in_a_lineup_session_is_answered_by_the_lineups_model(caller, vendor, mix):
    response = _session(caller, mix).chat({"model": "Trader", "messages": user_message()})

    assert response.status_code == 200, response.content
    assert (response["x-agent"], response["x-provider"], response["x-vendor-model"]) == ("trader", "vendor", "lineup-trader")
    [seen] = vendor.seen()
    assert (seen.model, seen.body["temperature"], seen.body["max_tokens"]) == ("lineup-trader", 0.2, 300)
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert (call.model_name, call.provider.name, call.session.lineup.name, call.fell_back) == (
        "lineup-trader", "vendor", "mix", False)


def test_the_lineups_fallback_answers_when_its_model_fails(caller, vendor, mix):
    vendor.script("lineup-trader", {"status": 500})

    response = _session(caller, mix).chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 200
    assert response["x-vendor-model"] == "lineup-trader-fallback"
    assert [s.model for s in vendor.seen()] == ["lineup-trader", "lineup-trader-fallback"]
    call = LLMCall.objects.get()
    assert (call.model_name, call.fell_back) == ("lineup-trader-fallback", True)
    assert [a["model"] for a in call.attempts] == ["lineup-trader", "lineup-trader-fallback"]


def test_an_agent_the_lineup_does_not_name_keeps_its_own_config(caller, vendor, mix):
    response = _session(caller, mix).chat({"model": "market_analyst", "messages": user_message()})

    assert response.status_code == 200
    assert response["x-vendor-model"] == "config-analyst"
    assert LLMCall.objects.get().model_name == "config-analyst"


def test_calls_outside_the_session_keep_the_agents_config(caller, gateway, vendor, mix):
    in_session = _session(caller, mix).chat({"model": "trader", "messages": user_message()})
    plain = gateway.chat({"model": "trader", "messages": user_message()})
    other_session = _session(caller).chat({"model": "trader", "messages": user_message()})

    assert [r["x-vendor-model"] for r in (in_session, plain, other_session)] == [
        "lineup-trader", "config-trader", "config-trader"]
    assert AgentLLMConfig.objects.get(agent__name="trader").model_name == "config-trader"


def test_a_role_naming_a_preset_is_routed_by_the_preset(caller, vendor, agents, vendor_provider):
    deep = LLMPreset.objects.create(name="deep", provider=vendor_provider, model_name="preset-deep", temperature=0.1)
    lineup = lineup_create(name="by-preset", roles={agents["trader"]: {"preset": deep}})

    response = _session(caller, lineup).chat({"model": "trader", "messages": user_message()})

    assert response["x-vendor-model"] == "preset-deep"
    assert vendor.seen()[0].body["temperature"] == 0.1
    assert LLMCall.objects.get().model_name == "preset-deep"


def test_a_lineup_changed_through_the_api_is_seen_by_the_next_call(caller, editor, vendor, mix):
    client = _session(caller, mix)
    first = client.chat({"model": "trader", "messages": user_message()})

    changed = client_for(editor).patch("/lineups/mix", {"roles": {"trader": {"provider": "vendor", "model": "lineup-v2"}}})
    second = client.chat({"model": "trader", "messages": user_message()})

    assert changed.status_code == 200, changed.content
    assert (first["x-vendor-model"], second["x-vendor-model"]) == ("lineup-trader", "lineup-v2")
    assert list(LLMCall.objects.order_by("pk").values_list("model_name", flat=True)) == ["lineup-trader", "lineup-v2"]


def test_a_changed_preset_is_seen_by_the_next_call_of_a_lineup_naming_it(caller, vendor, agents, vendor_provider):
    deep = LLMPreset.objects.create(name="deep", provider=vendor_provider, model_name="preset-deep")
    client = _session(caller, lineup_create(name="by-preset", roles={agents["trader"]: {"preset": deep}}))
    first = client.chat({"model": "trader", "messages": user_message()})

    deep.model_name = "preset-deeper"
    deep.save()
    second = client.chat({"model": "trader", "messages": user_message()})

    assert (first["x-vendor-model"], second["x-vendor-model"]) == ("preset-deep", "preset-deeper")


def test_a_role_removed_from_the_lineup_hands_the_agent_back_to_its_config(caller, editor, vendor, mix):
    client = _session(caller, mix)
    client.chat({"model": "trader", "messages": user_message()})

    client_for(editor).patch("/lineups/mix", {"roles": {"trader": None}})
    response = client.chat({"model": "trader", "messages": user_message()})

    assert response["x-vendor-model"] == "config-trader"


def test_a_run_in_a_lineup_session_is_answered_by_the_lineups_model(caller, vendor, mix, agents, task, loopback_model_requests):
    from django.contrib.auth.models import Permission

    from agents_llm.agents.services import assignment_create

    caller.user_permissions.add(Permission.objects.get(codename="add_agentrun"))
    assignment_create(agent=agents["trader"], task=task)
    session, _ = session_create(owner=caller, name="runs", lineup_id=mix.pk)
    api = client_for(caller)

    inline = api.call("POST", "/runs?wait=true", {"agent": "trader", "task": task.name, "input": {"ticker": "NVDA"},
                                                  "session": str(session.pk)})
    plain = api.call("POST", "/runs?wait=true", {"agent": "trader", "task": task.name, "input": {"ticker": "NVDA"}})

    assert inline.status_code == 200 and plain.status_code == 200, (inline.content, plain.content)
    assert inline.json()["model_name"] == "lineup-trader"
    assert plain.json()["model_name"] == "config-trader"
    assert list(AgentRun.objects.order_by("pk").values_list("model_name", "session_id")) == [
        ("lineup-trader", session.pk), ("config-trader", None)]


@pytest.mark.django_db(transaction=True)  # a worker's run reserves from its loop, on another thread
def test_a_queued_run_in_a_lineup_session_is_answered_by_the_lineups_model(
    caller, vendor, mix, agents, task, loopback_model_requests,
):
    from agents_llm.agents.services import assignment_create
    from agents_llm.runs.runner import run_create, run_execute

    assignment_create(agent=agents["trader"], task=task)
    session, _ = session_create(owner=caller, name="runs", lineup_id=mix.pk)
    run = run_create(agent=agents["trader"], task=task, input={"ticker": "NVDA"}, enqueue=False, session_id=session.pk)

    run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.model_name) == ("succeeded", "lineup-trader")
    assert [s.model for s in vendor.seen()] == ["lineup-trader"]


def test_a_lineups_own_prices_price_its_calls(caller, vendor, agents, vendor_provider):
    from decimal import Decimal

    lineup = lineup_create(name="priced", roles={agents["trader"]: {
        "provider": vendor_provider, "model_name": "lineup-trader",
        "cost_per_1k_input_tokens": Decimal("1"), "cost_per_1k_output_tokens": Decimal("2"),
    }})

    response = _session(caller, lineup).chat({"model": "trader", "messages": user_message()})

    call = LLMCall.objects.get()
    assert call.input_tokens > 0 and call.output_tokens > 0
    expected = (Decimal(call.input_tokens) * 1 + Decimal(call.output_tokens) * 2) / 1000
    assert call.cost == expected
    assert Decimal(response["x-cost-usd"]) == expected
    assert call.session.spent_usd == expected
