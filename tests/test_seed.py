from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentTaskAssignment, TaskConfig, TaskSchemaVersion
from providers.models import LLMProvider

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed", stdout=out)
    return out.getvalue()


def test_seed_creates_the_documented_roster_tasks_and_offline_configs(monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "GOOGLE_API_KEY",
                "GROQ_API_KEY", "MISTRAL_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    output = _seed()

    assert "Created 1 providers, 15 agents, 14 aliases, 12 tasks, 16 assignments, 15 llm_configs, 2 presets, 1 lineups." in output
    assert list(LLMProvider.objects.values_list("name", "provider_type")) == [("offline", "offline")]
    assert AgentConfig.objects.count() == 15
    assert TaskConfig.objects.count() == 12
    assert TaskSchemaVersion.objects.count() == 12
    assert AgentTaskAssignment.objects.count() == 16
    assert set(AgentLLMConfig.objects.values_list("provider__name", flat=True)) == {"offline"}
    assert all(agent.instructions for agent in AgentConfig.objects.all())


def test_a_second_seed_creates_nothing_and_says_so(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _seed()
    before = [m.objects.count() for m in (LLMProvider, AgentConfig, TaskConfig, AgentTaskAssignment, AgentLLMConfig)]

    output = _seed()

    assert "Nothing to do" in output
    after = [m.objects.count() for m in (LLMProvider, AgentConfig, TaskConfig, AgentTaskAssignment, AgentLLMConfig)]
    assert after == before


def test_seed_uses_a_vendor_key_from_the_environment_with_deep_models_for_managers(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-1234")
    _seed()

    openai = LLMProvider.objects.get(name="openai")
    assert openai.provider_type == "openai"
    assert openai.api_key_encrypted == ""  # the key stays in the environment
    configs = dict(AgentLLMConfig.objects.values_list("agent__name", "model_name"))
    assert configs["research_manager"] == "o3-mini"
    assert configs["portfolio_manager"] == "o3-mini"
    assert configs["market_analyst"] == "gpt-4o-mini"
    trader = AgentLLMConfig.objects.get(agent__name="trader")
    assert trader.provider == openai
    assert trader.cost_per_1k_input_tokens > 0  # filled from the price catalog


def test_seed_gives_the_roster_tradingagents_node_names_as_aliases_and_quick_deep_presets(monkeypatch):
    from agents_llm.models import AgentAlias, LLMPreset

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _seed()

    aliases = dict(AgentAlias.objects.values_list("name", "agent__name"))
    assert aliases["Sentiment Analyst"] == aliases["Social Analyst"] == "social_analyst"
    assert aliases["Aggressive Analyst"] == "aggressive_risk_analyst"
    assert aliases["Portfolio Manager"] == "portfolio_manager" and aliases["Reflector"] == "reflector"
    assert len(aliases) == 14
    assert {p.name: p.model_name for p in LLMPreset.objects.all()} == {"quick": "offline", "deep": "offline"}
    assert AgentConfig.objects.filter(name__in=["quick", "deep"]).count() == 2
    schemas = dict(TaskConfig.objects.values_list("name", "response_schema"))
    assert schemas["ta-portfolio-decision"]["properties"]["rating"]["enum"] == ["Buy", "Overweight", "Hold", "Underweight", "Sell"]
    assert schemas["ta-trader-proposal"]["properties"]["action"]["enum"] == ["Buy", "Hold", "Sell"]


def test_seed_on_an_existing_database_adds_what_is_new_and_keeps_what_an_operator_changed(monkeypatch):
    from agents_llm.agents.services import agent_aliases_set
    from agents_llm.models import AgentAlias

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _seed()
    trader = AgentConfig.objects.get(name="trader")
    agent_aliases_set(agent=trader, aliases=["Desk"])
    AgentConfig.objects.filter(name="reflector").delete()

    output = _seed()

    assert "1 agents" in output and "1 aliases" in output
    assert list(AgentAlias.objects.filter(agent=trader).values_list("name", flat=True)) == ["Desk"]


def test_seed_creates_the_tradingagents_default_lineup_once(monkeypatch):
    from agents_llm.models import Lineup, LineupRole

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _seed()
    lineup = Lineup.objects.get(name="tradingagents-default")
    lineup.description = "Edited by an operator."
    lineup.save()
    LineupRole.objects.filter(lineup=lineup, agent__name="trader").delete()

    output = _seed()

    assert "Nothing to do" in output
    assert Lineup.objects.count() == 1
    assert Lineup.objects.get().description == "Edited by an operator."  # never changes what exists
    assert LineupRole.objects.filter(lineup=lineup).count() == 11


def test_the_tradingagents_default_lineup_is_quick_for_ten_roles_and_deep_for_the_managers(monkeypatch):
    from agents_llm.models import LineupRole

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _seed()

    roles = dict(LineupRole.objects.filter(lineup__name="tradingagents-default").values_list("agent__name", "preset__name"))
    assert len(roles) == 12
    assert {name for name, preset in roles.items() if preset == "deep"} == {"research_manager", "portfolio_manager"}
    assert sorted(name for name, preset in roles.items() if preset == "quick") == sorted([
        "market_analyst", "social_analyst", "news_analyst", "fundamentals_analyst", "bull_researcher",
        "bear_researcher", "trader", "aggressive_risk_analyst", "neutral_risk_analyst", "conservative_risk_analyst",
    ])
    assert LineupRole.objects.filter(provider__isnull=False).count() == 0
