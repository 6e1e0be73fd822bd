"""The agents list shows each agent's model, and the model name of an LLM config is
picked from the provider's reported models and the price catalog (or typed freely)."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from agents_llm.models import AgentLLMConfig
from providers.catalog import catalog_models
from providers.models import LLMProvider
from providers.selectors import provider_model_choices

pytestmark = pytest.mark.django_db


def test_the_agents_list_shows_each_agents_primary_model(client, superuser, offline_config, openai_provider):
    from agents_llm.agents.services import agent_create

    agent_create(name="idle", display_name="Idle")
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentconfig_changelist")).content.decode()

    assert '<td class="field-primary_model">offline/offline</td>' in html
    assert "none enabled" in html


def test_choices_list_the_reported_models_first_then_the_catalog(openai_provider, offline_provider):
    LLMProvider.objects.filter(pk=openai_provider.pk).update(available_models=["my-finetune", "gpt-4o"])

    choices = provider_model_choices()

    assert choices[str(openai_provider.pk)][:2] == ["my-finetune", "gpt-4o"]
    assert set(catalog_models("openai")) <= set(choices[str(openai_provider.pk)])
    assert choices[str(openai_provider.pk)].count("gpt-4o") == 1
    assert choices[str(offline_provider.pk)] == ["offline"]


def test_the_config_form_offers_the_choices_of_each_provider(client, superuser, offline_config, openai_provider):
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentllmconfig_change", args=[offline_config.pk])).content.decode()

    field = re.search(r'<input[^>]*name="model_name"[^>]*>', html).group(0)
    assert 'list="id_model_name-models"' in field
    assert 'data-provider-field="provider"' in field
    choices = json.loads(re.search(r'data-model-choices="([^"]*)"', field).group(1).replace("&quot;", '"'))
    assert "gpt-4o" in choices[str(openai_provider.pk)]
    assert '<datalist id="id_model_name-models"' in html
    assert "operator/model_picker.js" in html


def test_a_name_outside_the_list_is_still_accepted(client, superuser, offline_config):
    client.force_login(superuser)
    url = reverse("admin:agents_llm_agentllmconfig_change", args=[offline_config.pk])
    data = {
        "agent": offline_config.agent_id, "priority": 0, "enabled": "on", "provider": offline_config.provider_id,
        "model_name": "my-own-local-name", "temperature": "0.7", "cost_per_1k_input_tokens": "0",
        "cost_per_1k_output_tokens": "0", "metadata_json": "{}", "fallback_model": "",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert AgentLLMConfig.objects.get(pk=offline_config.pk).model_name == "my-own-local-name"


def test_the_agent_page_inline_computes_the_choices_once_for_every_form(
    client, superuser, agent, offline_provider, monkeypatch
):
    from agents_llm.agents import admin as agents_admin
    from agents_llm.agents.services import llm_config_create

    for priority in (0, 1, 2, 3):
        llm_config_create(agent=agent, provider=offline_provider, model_name="offline", priority=priority)
    computed: list[int] = []
    real = agents_admin.provider_model_choices
    monkeypatch.setattr(agents_admin, "provider_model_choices", lambda: computed.append(1) or real())
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentconfig_change", args=[agent.pk])).content.decode()

    assert html.count('data-provider-field="provider"') >= 4
    assert computed == [1]
