"""The model factory: every provider type, its key precedence and endpoint, no network."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from pydantic_ai.models.test import TestModel

from agents_llm.agents.services import agent_create, assignment_create
from agents_llm.runs.registry import runtime_for
from providers import backends
from providers.catalog import TYPES, ProviderType
from providers.services import provider_create
from tests.runtime_support import clean_runtime, llm_config  # noqa: F401

pytestmark = pytest.mark.django_db

VENDOR_TYPES = [t for t in ProviderType if t != ProviderType.OFFLINE]
CUSTOM_URL = "https://proxy.example.test/llm"
MODEL_CLASSES = {
    "openai": "OpenAIChatModel", "anthropic": "AnthropicModel", "deepseek": "OpenAIChatModel",
    "xai": "OpenAIChatModel", "google": "GoogleModel", "groq": "GroqModel", "mistral": "MistralModel",
    "openrouter": "OpenRouterModel", "ollama": "OllamaModel", "openai_compatible": "OpenAIChatModel",
}


def key_and_url(model: Any) -> tuple[str, str]:
    client = model.client
    if type(model).__name__ == "GoogleModel":
        api = client._api_client
        return api.api_key, api._http_options.base_url
    if type(model).__name__ == "MistralModel":
        return client.sdk_configuration.security.api_key, client.sdk_configuration.server_url
    return client.api_key, str(client.base_url)


class Built:
    """A link of a built agent's chain, with the PydanticAI model made for it."""

    def __init__(self, runtime, link) -> None:
        self.link, self.error, self.synthetic = link, link.error, link.offline
        self.model = runtime.models.get(id(link))


def built(agent, task) -> list[Built]:
    runtime = runtime_for(agent, task)
    return [Built(runtime, link) for link in runtime.chain.links]


def _model(agent, task, provider_type: str, *, provider_key=None, config_key=None, base_url=""):
    if provider_type == ProviderType.OPENAI_COMPATIBLE and not base_url:
        base_url = "https://compatible.example.test/v1"
    provider = provider_create(name="p", provider_type=provider_type, base_url=base_url, api_key=provider_key)
    model_name = TYPES[provider_type].quick_model or "some-model"
    llm_config(agent, provider, model_name, api_key=config_key)
    return built(agent, task)[0]


@pytest.fixture
def env_keys(monkeypatch):
    for info in TYPES.values():
        if info.env_var:
            monkeypatch.setenv(info.env_var, f"env-key-{info.env_var.lower()}")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_the_configs_own_key_comes_first(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001", config_key="config-key-0002")

    assert type(link.model).__name__ == MODEL_CLASSES[provider_type]
    assert key_and_url(link.model)[0] == "config-key-0002"


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_the_providers_key_comes_before_the_environment(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001")

    assert key_and_url(link.model)[0] == "provider-key-0001"


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_the_environment_key_is_the_last_resort(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type)

    assert key_and_url(link.model)[0] == f"env-key-{TYPES[provider_type].env_var.lower()}"


@pytest.mark.parametrize("provider_type", VENDOR_TYPES)
def test_the_providers_base_url_is_honoured(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001", base_url=CUSTOM_URL)

    assert key_and_url(link.model)[1].rstrip("/") == CUSTOM_URL


@pytest.mark.parametrize("provider_type", [t for t in VENDOR_TYPES if t != ProviderType.OPENAI_COMPATIBLE])
def test_without_a_base_url_the_vendors_endpoint_is_used(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001")

    url = key_and_url(link.model)[1].rstrip("/")
    assert TYPES[provider_type].default_base_url.startswith(url) or url.startswith(
        TYPES[provider_type].default_base_url.removesuffix("/v1")
    )


def test_a_vendor_without_any_key_is_reported_not_called(agent, task, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    link = _model(agent, task, ProviderType.ANTHROPIC)

    assert link.model is None
    assert link.error[0] == "MissingApiKey"
    assert "ANTHROPIC_API_KEY" in link.error[1]


def test_an_openai_compatible_provider_never_borrows_the_openai_key(agent, task, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-leak")
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)

    link = _model(agent, task, ProviderType.OPENAI_COMPATIBLE)

    assert link.error is not None and link.error[0] == "MissingApiKey"


def test_local_ollama_needs_no_key(agent, task, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-leak")

    link = _model(agent, task, ProviderType.OLLAMA)

    assert link.error is None
    assert key_and_url(link.model)[0] != "sk-openai-must-not-leak"


def test_the_offline_provider_is_a_test_model_with_a_schema_valid_answer(agent, task, offline_config):
    link = built(agent, task)[0]

    assert isinstance(link.model, TestModel) and link.synthetic
    assert link.model.custom_output_args["signal"] in ("buy", "hold", "sell")


@override_settings(LLM_REQUEST_TIMEOUT_SECONDS=7.5)
@pytest.mark.parametrize("provider_type", ["openai", "anthropic", "groq", "deepseek", "xai", "openrouter", "ollama"])
def test_sdk_retries_are_off_and_the_request_timeout_is_set(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001")

    assert link.model.client.max_retries == 0
    assert link.model.client.timeout == 7.5
    assert link.model.settings["request_timeout"] == 7.5
    assert "max_retries" not in link.model.settings  # the client already has none to make


@pytest.mark.parametrize("provider_type", [ProviderType.GOOGLE, ProviderType.MISTRAL])
def test_sdks_without_a_client_level_switch_get_retries_off_per_request(agent, task, env_keys, provider_type):
    link = _model(agent, task, provider_type, provider_key="provider-key-0001")

    assert link.model.settings["max_retries"] == 0


def test_one_client_per_credential_is_shared_by_agents_and_rebuilt_for_a_new_key(agent, task, env_keys):
    provider = provider_create(name="shared", provider_type="openai", api_key="provider-key-0001")
    other = agent_create(name="other", display_name="Other")
    assignment_create(agent=other, task=task)
    llm_config(agent, provider, "gpt-4o-mini", temperature=0.1)
    llm_config(other, provider, "gpt-4o", temperature=0.9)
    llm_config(other, provider, "gpt-4o-mini", api_key="config-key-0002", priority=1)

    mine = built(agent, task)[0].model
    theirs, own_key = (link.model for link in built(other, task))

    assert mine is not theirs  # each config has its own settings...
    assert mine.client is theirs.client  # ...over one SDK client and HTTP pool
    assert own_key.client is not mine.client
    assert backends.cached_client_count() == 2
