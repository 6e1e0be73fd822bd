"""Presets set many agents' LLM settings at once (all or none, audited), and
`tradingagents_env` prints what an unchanged TradingAgents needs to use the gateway."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents_llm.models import AgentLLMConfig, LLMPreset, MeteredSession
from tests.api_support import client_for
from tests.gateway_support import GatewayClient, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def deep_preset(vendor_provider):
    return LLMPreset.objects.create(name="deep", provider=vendor_provider, model_name="vendor-deep", temperature=0.1)


def test_applying_a_preset_sets_each_agents_primary_config_and_is_audited(editor, deep_preset, offline_provider):
    make_agent("research_manager", offline_provider, "offline")
    make_agent("portfolio_manager", offline_provider, "offline")

    response = client_for(editor).post("/presets/deep/apply", {"agents": ["research_manager", "portfolio_manager"]})

    assert response.status_code == 200, response.content
    assert [c["model_name"] for c in response.json()["configs"]] == ["vendor-deep", "vendor-deep"]
    configs = AgentLLMConfig.objects.filter(agent__name__in=["research_manager", "portfolio_manager"])
    assert {(c.provider.name, c.model_name, c.temperature) for c in configs} == {("vendor", "vendor-deep", 0.1)}
    history = AgentLLMConfig.history.filter(model_name="vendor-deep")
    assert history.count() == 2 and {h.history_user for h in history} == {editor}


def test_a_preset_is_applied_to_all_agents_or_none(editor, deep_preset, offline_provider):
    make_agent("research_manager", offline_provider, "offline")

    response = client_for(editor).post("/presets/deep/apply", {"agents": ["research_manager", "nobody"]})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "agents", 1]
    assert AgentLLMConfig.objects.get(agent__name="research_manager").model_name == "offline"


def test_applying_a_preset_needs_the_config_permissions(reader, deep_preset, offline_provider):
    make_agent("research_manager", offline_provider, "offline")

    response = client_for(reader).post("/presets/deep/apply", {"agents": ["research_manager"]})

    assert response.status_code == 403
    assert AgentLLMConfig.objects.get(agent__name="research_manager").model_name == "offline"


def test_the_admin_action_applies_a_preset_to_the_selected_agents(client, superuser, deep_preset, offline_provider):
    agent = make_agent("trader", offline_provider, "offline")
    client.force_login(superuser)

    chooser = client.post("/admin/agents_llm/agentconfig/", {"action": "apply_preset", "_selected_action": [agent.pk]})
    assert chooser.status_code == 200 and "Apply preset" in chooser.content.decode()
    done = client.post("/admin/agents_llm/agentconfig/", {
        "action": "apply_preset", "_selected_action": [agent.pk], "preset": deep_preset.pk, "apply": "1",
    })

    assert done.status_code == 302
    assert AgentLLMConfig.objects.get(agent=agent).model_name == "vendor-deep"


def _env(*args: str) -> dict[str, str]:
    out, err = StringIO(), StringIO()
    call_command("tradingagents_env", *args, stdout=out, stderr=err)
    return dict(line.split("=", 1) for line in out.getvalue().splitlines())


def test_tradingagents_env_prints_the_lines_and_its_token_calls_the_gateway(superuser, vendor, vendor_provider):
    make_agent("quick", vendor_provider, "vendor-quick")

    env = _env("--url", "http://agents.example:8000")

    assert env["TRADINGAGENTS_LLM_PROVIDER"] == "openai_compatible"
    assert env["TRADINGAGENTS_LLM_BACKEND_URL"] == "http://agents.example:8000/v1"
    assert (env["TRADINGAGENTS_QUICK_THINK_LLM"], env["TRADINGAGENTS_DEEP_THINK_LLM"]) == ("quick", "deep")
    response = GatewayClient(env["OPENAI_COMPATIBLE_API_KEY"]).chat({"model": "quick", "messages": user_message()})
    assert response.status_code == 200


def test_tradingagents_env_with_a_session_uses_its_token_and_budget(superuser, vendor, vendor_provider):
    make_agent("quick", vendor_provider, "vendor-quick")

    env = _env("--session", "NVDA run", "--budget-usd", "0.25", "--budget-tokens", "50000")

    session = MeteredSession.objects.get(name="NVDA run")
    assert (session.budget_tokens, str(session.budget_usd)) == (50000, "0.25000000")
    assert env["OPENAI_COMPATIBLE_API_KEY"].startswith("tas_")
    GatewayClient(env["OPENAI_COMPATIBLE_API_KEY"]).chat({"model": "quick", "messages": user_message()})
    assert session.calls.count() == 1


def test_tradingagents_env_refuses_a_budget_without_a_session(superuser):
    with pytest.raises(CommandError, match="needs a session"):
        _env("--budget-usd", "1")
