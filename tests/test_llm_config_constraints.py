from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents_llm.agents.services import llm_config_create, llm_config_update
from agents_llm.models import AgentLLMConfig

pytestmark = pytest.mark.django_db


def _errors(excinfo) -> dict:
    return excinfo.value.message_dict


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 3, "less than or equal to 2"),
        ("temperature", -0.1, "greater than or equal to 0"),
        ("top_p", -1, "greater than or equal to 0"),
        ("top_p", 1.5, "less than or equal to 1"),
        ("max_tokens", 0, "greater than or equal to 1"),
    ],
)
def test_it_rejects_an_out_of_range_setting_naming_the_field(agent, openai_provider, field, value, message):
    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini", **{field: value})

    assert message in " ".join(_errors(excinfo)[field])
    assert not AgentLLMConfig.objects.exists()


def test_it_rejects_a_second_config_with_the_same_priority(agent, openai_provider):
    llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini", priority=0)

    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o", priority=0)

    assert "already has an LLM config with priority 0" in _errors(excinfo)["priority"][0]
    assert AgentLLMConfig.objects.count() == 1


def test_it_rejects_a_fallback_model_without_a_fallback_provider(agent, openai_provider):
    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini", fallback_model="gpt-4o")

    assert _errors(excinfo)["fallback_provider"] == ["A fallback model needs a fallback provider."]
    assert not AgentLLMConfig.objects.exists()


def test_it_rejects_an_unknown_openai_model_and_suggests_close_names(agent, openai_provider):
    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mni")

    message = _errors(excinfo)["model_name"][0]
    assert "Unknown model 'gpt-4o-mni'" in message
    assert "gpt-4o-mini" in message.split("Did you mean:")[1]
    assert not AgentLLMConfig.objects.exists()


def test_it_checks_the_fallback_model_against_the_fallback_provider(agent, openai_provider, offline_provider):
    from providers.services import provider_create

    anthropic = provider_create(name="claude", provider_type="anthropic", api_key="sk-ant-xyz-0000")
    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(
            agent=agent, provider=openai_provider, model_name="gpt-4o-mini",
            fallback_provider=anthropic, fallback_model="gpt-4o",
        )

    assert "for provider 'claude'" in _errors(excinfo)["fallback_model"][0]


def test_it_accepts_any_model_name_for_local_and_offline_providers(agent, offline_provider):
    from providers.services import provider_create

    ollama = provider_create(name="local", provider_type="ollama")
    config = llm_config_create(agent=agent, provider=ollama, model_name="my-own-finetune:7b")

    assert config.model_name == "my-own-finetune:7b"
    assert config.cost_per_1k_input_tokens == 0  # no catalog price: stays 0 (unknown), not invented


def test_it_prefers_the_providers_validated_model_list_over_the_catalog(agent, openai_provider):
    openai_provider.available_models = ["gpt-4o-mini", "my-org-finetune"]
    openai_provider.save()

    config = llm_config_create(agent=agent, provider=openai_provider, model_name="my-org-finetune")
    assert config.pk is not None
    with pytest.raises(ValidationError) as excinfo:
        llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o")
    assert "Did you mean" in _errors(excinfo)["model_name"][0] or "Unknown model" in _errors(excinfo)["model_name"][0]


def test_catalog_prices_fill_costs_left_at_zero_and_explicit_prices_are_kept(agent, openai_provider):
    filled = llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini")
    explicit = llm_config_create(
        agent=agent, provider=openai_provider, model_name="gpt-4o-mini",
        cost_per_1k_input_tokens="0.5", cost_per_1k_output_tokens="1.5",
    )

    filled.refresh_from_db()
    explicit.refresh_from_db()
    assert str(filled.cost_per_1k_input_tokens) == "0.000150"
    assert str(filled.cost_per_1k_output_tokens) == "0.000600"
    assert str(explicit.cost_per_1k_input_tokens) == "0.500000"


def test_changing_the_model_takes_the_new_models_catalog_price(agent, openai_provider):
    config = llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini")

    llm_config_update(config=config, data={"model_name": "gpt-4o"})

    config.refresh_from_db()
    assert str(config.cost_per_1k_input_tokens) == "0.002500"


def test_the_database_itself_refuses_an_out_of_range_temperature(agent, openai_provider):
    config = llm_config_create(agent=agent, provider=openai_provider, model_name="gpt-4o-mini")

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentLLMConfig.objects.filter(pk=config.pk).update(temperature=3)
