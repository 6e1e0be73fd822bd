"""/api/v1/agents: CRUD with their LLM configs, filters, the permission matrix."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig
from tests.api_support import anonymous, as_editor, as_outsider, as_reader, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_creates_an_agent(as_editor):
    response = as_editor.post("/agents", {"name": "bull_researcher", "role": "researcher", "instructions": "Argue up."})

    body = response.json()
    agent = AgentConfig.objects.get(name="bull_researcher")
    assert response.status_code == 201
    assert body["id"] == agent.pk and body["display_name"] == "Bull Researcher" and body["llm_configs"] == []
    assert agent.role == "researcher" and agent.instructions == "Argue up."


def test_it_lists_agents_with_their_configs_primary_first(as_reader, agent, offline_config, offline_provider):
    from agents_llm.agents.services import llm_config_create

    llm_config_create(agent=agent, provider=offline_provider, model_name="offline-b", priority=5)

    body = as_reader.get("/agents").json()

    assert body["count"] == 1
    configs = body["items"][0]["llm_configs"]
    assert [(c["priority"], c["provider"]) for c in configs] == [(0, "offline"), (5, "offline")]
    assert configs[0]["synthetic"] is True


def test_it_filters_and_orders_agents(as_reader, agent):
    from agents_llm.agents.services import agent_create

    agent_create(name="analyst-a", role="analyst", enabled=False)

    by_role = as_reader.get("/agents", role="analyst").json()["items"]
    enabled = as_reader.get("/agents", enabled="true").json()["items"]
    ordered = as_reader.get("/agents", ordering="-name").json()["items"]
    assert [a["name"] for a in by_role] == ["analyst-a"]
    assert [a["name"] for a in enabled] == ["trader"]
    assert [a["name"] for a in ordered] == ["trader", "analyst-a"]


def test_it_reads_one_agent(as_reader, agent):
    assert as_reader.get(f"/agents/{agent.pk}").json()["name"] == "trader"


def test_an_unknown_agent_is_a_404_in_the_error_shape(as_reader):
    assert_error_shape(as_reader.get("/agents/999999"), 404)


def test_it_updates_part_of_an_agent(as_editor, agent):
    response = as_editor.patch(f"/agents/{agent.pk}", {"instructions": "Trade carefully.", "enabled": False})

    agent.refresh_from_db()
    assert response.status_code == 200 and response.json()["instructions"] == "Trade carefully."
    assert agent.instructions == "Trade carefully." and agent.enabled is False and agent.role == "trader"


def test_a_null_for_a_required_field_is_a_422_and_changes_nothing(as_editor, agent):
    body = assert_error_shape(as_editor.patch(f"/agents/{agent.pk}", {"name": None}), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    agent.refresh_from_db()
    assert agent.name == "trader"


def test_it_deletes_an_agent(as_editor, agent, offline_config):
    assert as_editor.delete(f"/agents/{agent.pk}").status_code == 204
    assert not AgentConfig.objects.filter(pk=agent.pk).exists()


def test_a_duplicate_agent_name_is_a_409(as_editor, agent):
    body = assert_error_shape(as_editor.post("/agents", {"name": "trader"}), 409)
    assert body["errors"] == [{"loc": ["body", "name"], "msg": body["errors"][0]["msg"]}]
    assert AgentConfig.objects.count() == 1


def test_a_name_that_is_not_a_slug_is_a_422_naming_the_field(as_editor):
    body = assert_error_shape(as_editor.post("/agents", {"name": "no spaces"}), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert not AgentConfig.objects.exists()


@pytest.mark.parametrize(
    "who, read, create, update, delete",
    [
        ("as_superuser", 200, 201, 200, 204),
        ("as_editor", 200, 201, 200, 204),
        ("as_reader", 200, 403, 403, 403),
        ("as_outsider", 401, 401, 401, 401),
        ("anonymous", 401, 401, 401, 401),
    ],
)
def test_permission_matrix(request, who, read, create, update, delete, agent):
    client = request.getfixturevalue(who)

    assert client.get("/agents").status_code == read
    assert client.get(f"/agents/{agent.pk}").status_code == read
    assert client.post("/agents", {"name": "new-agent"}).status_code == create
    assert client.patch(f"/agents/{agent.pk}", {"description": "changed"}).status_code == update
    assert client.delete(f"/agents/{agent.pk}").status_code == delete
    assert AgentConfig.objects.filter(name="new-agent").exists() == (create == 201)
    assert AgentConfig.objects.filter(pk=agent.pk).exists() == (delete != 204)
