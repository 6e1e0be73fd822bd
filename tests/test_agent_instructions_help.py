"""An agent's instructions say where they apply: the system prompt of its runs, not
of gateway calls, which pass the client's prompt unchanged (they used to read "System
prompt given to the LLM")."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig

pytestmark = pytest.mark.django_db


def test_the_agent_page_and_the_api_schema_say_instructions_apply_to_runs(client, superuser, agent):
    client.force_login(superuser)

    page = client.get(f"/admin/agents_llm/agentconfig/{agent.pk}/change/").content.decode()
    schema = client.get("/api/v1/openapi.json").json()

    help_text = AgentConfig._meta.get_field("instructions").help_text
    assert "runs" in help_text and "client's own messages unchanged" in page
    assert "System prompt given to the LLM" not in page
    described = schema["components"]["schemas"]["AgentIn"]["properties"]["instructions"]["description"]
    assert described == help_text
