"""LLM configs over the API: per agent by priority, the primary upsert, bulk apply
(all or nothing), providers named by name, write-only keys."""

from __future__ import annotations

import pytest

from agents_llm.agents.services import agent_create, llm_config_create
from agents_llm.models import AgentLLMConfig
from tests.api_support import anonymous, as_editor, as_outsider, as_reader, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_lists_an_agents_configs_by_priority(as_reader, agent, offline_provider, openai_provider):
    llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini", priority=3)
    llm_config_create(agent=agent, provider=offline_provider, model_name="offline", priority=1)

    body = as_reader.get(f"/agents/{agent.pk}/llm-configs").json()

    assert [(c["priority"], c["provider"], c["model_name"]) for c in body] == [
        (1, "offline", "offline"), (3, "openai-main", "gpt-4o-mini"),
    ]


def test_the_configs_of_an_unknown_agent_are_a_404(as_reader):
    assert_error_shape(as_reader.get("/agents/987654/llm-configs"), 404)


def test_it_creates_a_config_naming_the_provider_and_keeps_the_key_write_only(as_editor, agent, openai_provider):
    response = as_editor.post(
        f"/agents/{agent.pk}/llm-configs",
        {"provider": "openai-main", "model_name": "gpt-4o-mini", "temperature": 0.2, "api_key": "sk-agent-key-9876"},
    )

    body = response.json()
    config = AgentLLMConfig.objects.get(agent=agent)
    assert response.status_code == 201
    assert body["provider"] == "openai-main" and body["has_api_key"] is True and body["api_key_hint"] == "…9876"
    assert "api_key" not in body and "sk-agent-key-9876" not in response.content.decode()
    assert config.temperature == 0.2 and config.api_key_last4 == "9876" and config.priority == 0
    assert config.cost_per_1k_input_tokens > 0  # taken from the price catalog


def test_an_unknown_provider_name_is_a_422_naming_the_field_not_a_500(as_editor, agent):
    body = assert_error_shape(
        as_editor.post(f"/agents/{agent.pk}/llm-configs", {"provider": "ghost", "model_name": "x"}), 422
    )
    assert body["errors"] == [{"loc": ["body", "provider"], "msg": "No provider named 'ghost'."}]
    assert not AgentLLMConfig.objects.exists()


def test_an_unknown_model_is_a_422_with_suggestions(as_editor, agent, openai_provider):
    body = assert_error_shape(
        as_editor.post(f"/agents/{agent.pk}/llm-configs", {"provider": "openai-main", "model_name": "gpt-4o-minii"}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "model_name"] and "gpt-4o-mini" in body["errors"][0]["msg"]


def test_a_temperature_out_of_range_is_a_422_naming_the_field(as_editor, agent, offline_provider):
    body = assert_error_shape(
        as_editor.post(f"/agents/{agent.pk}/llm-configs", {"provider": "offline", "model_name": "offline", "temperature": 3}),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "temperature"]


def test_it_creates_a_config_through_the_flat_collection_with_the_agent_by_name(as_editor, agent, offline_provider):
    response = as_editor.post("/llm-configs", {"agent": "trader", "provider": "offline", "model_name": "offline"})

    assert response.status_code == 201 and response.json()["agent_id"] == agent.pk
    assert AgentLLMConfig.objects.filter(agent=agent).count() == 1


def test_it_lists_configs_filtered_by_agent_and_provider(as_reader, agent, offline_config, openai_provider):
    other = agent_create(name="other")
    llm_config_create(agent=other, provider=openai_provider, model_name="gpt-4o-mini")

    by_agent = as_reader.get("/llm-configs", agent="trader").json()
    by_provider = as_reader.get("/llm-configs", provider="openai-main").json()

    assert [c["agent_id"] for c in by_agent["items"]] == [agent.pk]
    assert [c["agent_id"] for c in by_provider["items"]] == [other.pk]


def test_it_updates_a_config_and_a_changed_model_gets_the_new_models_prices(as_editor, agent, openai_provider):
    config = llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini")
    old_price = config.cost_per_1k_input_tokens

    response = as_editor.patch(f"/llm-configs/{config.pk}", {"model_name": "gpt-4o", "top_p": 0.9})

    config.refresh_from_db()
    assert response.status_code == 200 and response.json()["model_name"] == "gpt-4o"
    assert config.model_name == "gpt-4o" and config.top_p == 0.9
    assert config.cost_per_1k_input_tokens != old_price


def test_it_deletes_a_config(as_editor, offline_config):
    assert as_editor.delete(f"/llm-configs/{offline_config.pk}").status_code == 204
    assert not AgentLLMConfig.objects.filter(pk=offline_config.pk).exists()


def test_put_llm_config_creates_the_primary_when_there_is_none(as_editor, agent, offline_provider):
    response = as_editor.put(f"/agents/{agent.pk}/llm-config", {"provider": "offline", "model_name": "offline"})

    assert response.status_code == 201
    assert AgentLLMConfig.objects.get(agent=agent).priority == 0


def test_put_llm_config_updates_the_primary_in_place(as_editor, agent, offline_config, openai_provider):
    response = as_editor.put(
        f"/agents/{agent.pk}/llm-config", {"provider": "openai-main", "model_name": "gpt-4o-mini", "temperature": 0.1}
    )

    offline_config.refresh_from_db()
    assert response.status_code == 200 and response.json()["id"] == offline_config.pk
    assert offline_config.provider == openai_provider and offline_config.temperature == 0.1
    assert AgentLLMConfig.objects.filter(agent=agent).count() == 1


def test_bulk_apply_sets_the_primary_of_every_agent(as_editor, agent, offline_config, openai_provider):
    agent_create(name="analyst")

    response = as_editor.post(
        "/llm-configs/bulk",
        {"agents": ["trader", "analyst"], "config": {"provider": "openai-main", "model_name": "gpt-4o-mini"}},
    )

    body = response.json()
    assert response.status_code == 200 and body["created"] == 1 and body["updated"] == 1
    assert set(AgentLLMConfig.objects.values_list("agent__name", "model_name")) == {
        ("trader", "gpt-4o-mini"), ("analyst", "gpt-4o-mini"),
    }


def test_bulk_apply_changes_nothing_when_one_agent_rejects_the_config(
    as_editor, agent, offline_config, openai_provider, monkeypatch
):
    from django.core.exceptions import ValidationError

    from agents_llm.agents import services

    agent_create(name="clashing")
    upsert = services.llm_config_upsert_primary

    def upsert_rejecting_clashing(*, agent, **kwargs):
        result = upsert(agent=agent, **kwargs)  # writes first, so the rollback is what is tested
        if agent.name == "clashing":
            raise ValidationError({"model_name": "Not for this agent."})
        return result

    monkeypatch.setattr(services, "llm_config_upsert_primary", upsert_rejecting_clashing)
    before = list(AgentLLMConfig.objects.order_by("pk").values_list("pk", "model_name", "provider_id"))

    response = as_editor.post(
        "/llm-configs/bulk",
        {"agents": ["trader", "clashing"], "config": {"provider": "openai-main", "model_name": "gpt-4o"}},
    )

    body = assert_error_shape(response, 422)
    assert body["errors"] == [{"loc": ["body", "agents", "clashing", "model_name"], "msg": "Not for this agent."}]
    assert list(AgentLLMConfig.objects.order_by("pk").values_list("pk", "model_name", "provider_id")) == before


def test_bulk_apply_with_an_unknown_agent_is_a_422_naming_its_position(as_editor, agent, offline_provider):
    body = assert_error_shape(
        as_editor.post("/llm-configs/bulk", {"agents": ["trader", "ghost"], "config": {"provider": "offline", "model_name": "offline"}}),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "agents", 1]
    assert not AgentLLMConfig.objects.exists()


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("as_superuser", 200, 201),
        ("as_editor", 200, 201),
        ("as_reader", 200, 403),
        ("as_outsider", 401, 401),
        ("anonymous", 401, 401),
    ],
)
def test_permission_matrix(request, who, read, write, agent, offline_config, offline_provider):
    client = request.getfixturevalue(who)
    other_agent = agent_create(name="second")

    assert client.get(f"/agents/{agent.pk}/llm-configs").status_code == read
    assert client.get("/llm-configs").status_code == read
    assert client.get(f"/llm-configs/{offline_config.pk}").status_code == read
    assert client.post(f"/agents/{agent.pk}/llm-configs", {"provider": "offline", "model_name": "offline"}).status_code == write
    assert client.put(f"/agents/{other_agent.pk}/llm-config", {"provider": "offline", "model_name": "offline"}).status_code == write
    assert client.patch(f"/llm-configs/{offline_config.pk}", {"temperature": 1.0}).status_code == (200 if write == 201 else write)
    assert client.post("/llm-configs/bulk", {"agents": ["second"], "config": {"provider": "offline", "model_name": "offline"}}).status_code == (200 if write == 201 else write)
    assert client.delete(f"/llm-configs/{offline_config.pk}").status_code == (204 if write == 201 else write)
    offline_config_exists = AgentLLMConfig.objects.filter(pk=offline_config.pk).exists()
    assert offline_config_exists == (write != 201)
    assert AgentLLMConfig.objects.filter(agent=other_agent).exists() == (write == 201)
