"""A second LLM config at a priority the agent already uses is a conflict: 409 naming
the field, and nothing is stored."""

from __future__ import annotations

from agents_llm.models import AgentLLMConfig
from tests.api_support import as_editor, assert_error_shape  # noqa: F401


def test_a_duplicate_priority_is_409(as_editor, agent, offline_provider, offline_config):
    body = {"provider": "offline", "model_name": "offline", "priority": offline_config.priority}

    payload = assert_error_shape(as_editor.post(f"/agents/{agent.pk}/llm-configs", body), 409)

    assert payload["errors"][0]["loc"] == ["body", "priority"]
    assert "already has an LLM config with priority" in payload["errors"][0]["msg"]
    assert AgentLLMConfig.objects.filter(agent=agent).count() == 1


def test_moving_a_config_onto_a_taken_priority_is_409(as_editor, agent, offline_provider, offline_config):
    from agents_llm.agents.services import llm_config_create

    other = llm_config_create(agent=agent, provider=offline_provider, model_name="offline")

    response = as_editor.patch(f"/llm-configs/{other.pk}", {"priority": offline_config.priority})

    assert_error_shape(response, 409)
    assert AgentLLMConfig.objects.get(pk=other.pk).priority != offline_config.priority
