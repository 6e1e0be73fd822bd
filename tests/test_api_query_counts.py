"""List endpoints cost the same number of SQL queries whatever the page size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, AgentTaskAssignment
from tests.api_support import as_reader  # noqa: F401

pytestmark = pytest.mark.django_db


def _world(n: int, offline_provider, openai_provider, task) -> None:
    """n agents, each with a primary config (with a fallback), a second config, an
    assignment and a run."""
    start = AgentConfig.objects.count()
    agents = AgentConfig.objects.bulk_create(
        AgentConfig(name=f"agent-{start + i}", display_name=f"Agent {start + i}") for i in range(n)
    )
    AgentLLMConfig.objects.bulk_create(
        [
            AgentLLMConfig(agent=a, provider=offline_provider, model_name="offline", priority=0,
                           fallback_provider=openai_provider, fallback_model="gpt-4o-mini")
            for a in agents
        ]
        + [AgentLLMConfig(agent=a, provider=openai_provider, model_name="gpt-4o", priority=1) for a in agents]
    )
    AgentTaskAssignment.objects.bulk_create(AgentTaskAssignment(agent=a, task=task) for a in agents)
    AgentRun.objects.bulk_create(AgentRun(agent=a, task=task, provider=openai_provider) for a in agents)


def _queries(client, path: str, expected_items: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, limit=200)
    assert response.status_code == 200 and len(response.json()["items"]) == expected_items
    return len(ctx.captured_queries)


@pytest.mark.parametrize("path", ["/agents", "/llm-configs", "/assignments", "/runs", "/providers", "/tasks"])
def test_listing_5_or_200_agents_with_their_configs_costs_the_same_queries(
    as_reader, offline_provider, openai_provider, task, path
):
    as_reader.get("/tasks")  # the token's last_used_at is written once a minute: get it out of the way
    per_agent = {"/agents": 1, "/llm-configs": 2, "/assignments": 1, "/runs": 1, "/providers": 0, "/tasks": 0}[path]
    fixed = {"/providers": 2, "/tasks": 1}.get(path, 0)

    _world(5, offline_provider, openai_provider, task)
    small = _queries(as_reader, path, 5 * per_agent + fixed)
    _world(195, offline_provider, openai_provider, task)
    large = _queries(as_reader, path, min(200, 200 * per_agent) + fixed)

    assert small == large, f"{path}: {small} queries for 5 agents, {large} for 200"


def test_an_agents_config_list_is_a_fixed_handful_of_queries(as_reader, offline_provider, openai_provider, task):
    _world(1, offline_provider, openai_provider, task)
    agent = AgentConfig.objects.get()
    as_reader.get("/tasks")  # caches the token lookup

    with CaptureQueriesContext(connection) as ctx:
        response = as_reader.get(f"/agents/{agent.pk}/llm-configs")

    assert response.status_code == 200 and len(response.json()) == 2
    assert len(ctx.captured_queries) == 1  # the configs with their providers; the token lookup is cached
