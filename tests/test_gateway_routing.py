"""The `model` a client asks for names an agent, by its name or an alias."""

from __future__ import annotations

import pytest

from agents_llm.models import LLMCall
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_alias_routes_to_its_agent_in_any_case(gateway, vendor, vendor_provider):
    agent = make_agent("bull_researcher", vendor_provider, "vendor-bull", aliases=["Bull Researcher"])

    response = gateway.chat({"model": "bull researcher", "messages": user_message()})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "bull researcher"
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"]
    assert response["x-agent"] == "bull_researcher"
    assert response["x-provider"] == "vendor"
    assert response["x-vendor-model"] == "vendor-bull"
    assert [r.model for r in vendor.seen()] == ["vendor-bull"]
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert (call.agent_id, call.alias, call.status, call.model_name) == (agent.pk, "bull researcher", "succeeded", "vendor-bull")


def test_the_agents_own_name_routes_too(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader")

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 200
    assert response["x-agent"] == "trader"


def test_an_unknown_model_is_a_404_model_not_found_and_reaches_no_vendor(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader")

    response = gateway.chat({"model": "gpt-4o", "messages": user_message()})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "gpt-4o" in error["message"]
    assert vendor.seen() == []
    assert LLMCall.objects.count() == 0


def test_a_disabled_agent_is_not_found(gateway, vendor, vendor_provider):
    from agents_llm.agents.services import agent_update

    agent = make_agent("trader", vendor_provider, "vendor-trader", aliases=["Trader"])
    agent_update(agent=agent, data={"enabled": False})

    response = gateway.chat({"model": "Trader", "messages": user_message()})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_models_lists_enabled_agents_and_their_aliases_in_openais_shape(gateway, vendor_provider):
    from agents_llm.agents.services import agent_update

    make_agent("trader", vendor_provider, "m", aliases=["Trader"])
    hidden = make_agent("reflector", vendor_provider, "m", aliases=["Reflector"])
    agent_update(agent=hidden, data={"enabled": False})

    response = gateway.models()

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [(m["id"], m["owned_by"]) for m in body["data"]] == [("trader", "tradingagents"), ("Trader", "trader")]
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])


def test_an_alias_cannot_belong_to_two_agents(vendor_provider):
    from django.core.exceptions import ValidationError

    from agents_llm.models import AgentAlias

    make_agent("bull_researcher", vendor_provider, "m", aliases=["Bull Researcher"])
    with pytest.raises(ValidationError) as caught:
        make_agent("bear_researcher", vendor_provider, "m", aliases=["BULL RESEARCHER"])

    assert "already an alias of agent 'bull_researcher'" in str(caught.value.message_dict["aliases"])
    assert list(AgentAlias.objects.values_list("name", flat=True)) == ["Bull Researcher"]


def test_a_config_change_is_seen_by_the_next_call_although_routes_are_cached(gateway, vendor, vendor_provider):
    from agents_llm.agents.services import agent_aliases_set, llm_config_update
    from agents_llm.models import AgentLLMConfig

    agent = make_agent("desk_trader", vendor_provider, "vendor-one", aliases=["Trader"])
    gateway.chat({"model": "Trader", "messages": user_message()})

    llm_config_update(config=AgentLLMConfig.objects.get(agent=agent), data={"model_name": "vendor-two"})
    gateway.chat({"model": "Trader", "messages": user_message()})
    agent_aliases_set(agent=agent, aliases=["Desk"])
    gone = gateway.chat({"model": "Trader", "messages": user_message()})

    assert [r.model for r in vendor.seen()] == ["vendor-one", "vendor-two"]
    assert gone.status_code == 404
