"""Build PydanticAI models from provider rows.

Every model gets its key explicitly (never read from the environment by the SDK), the
provider's `base_url`, a request timeout and SDK retries off: moving on after a
failure is the runner's fallback chain's job, not the SDK's.

One SDK client is kept per provider credential — provider row, type, endpoint and
key — and shared by every agent and run that uses it. Its HTTP connections belong to
the event loop that opened them, and runs happen on several loops (the runner's own
loop thread for workers, the server's loop for inline API runs), so each client sends
through a LoopLocalTransport: one connection pool per event loop, behind one client.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from pydantic_ai.models import Model
from pydantic_ai.providers import Provider
from pydantic_ai.settings import ModelSettings

from providers.catalog import ProviderType, type_info
from providers.models import LLMProvider

# Provider credentials kept alive at once; more than a deployment has providers × keys.
CLIENT_CACHE_SIZE = 128


class MissingApiKey(Exception):
    """A provider type that needs a key has none anywhere. The message names where to put one."""


@dataclass(frozen=True)
class Credential:
    provider_id: int | None
    provider_type: str
    base_url: str
    key_digest: str  # sha256 of the key: the cache never holds the key as a dict key


def endpoint(provider: LLMProvider) -> str:
    """The base URL a provider's calls go to."""
    return (provider.base_url or type_info(provider.provider_type).default_base_url).rstrip("/")


def request_settings(
    *, temperature: float | None = None, max_tokens: int | None = None, top_p: float | None = None
) -> ModelSettings:
    """Model settings for one config, with the request deadline."""
    result: ModelSettings = {"request_timeout": settings.LLM_REQUEST_TIMEOUT_SECONDS}
    if temperature is not None:
        result["temperature"] = temperature
    if max_tokens:
        result["max_tokens"] = max_tokens
    if top_p is not None:
        result["top_p"] = top_p
    return result


def build_model(
    *,
    provider: LLMProvider,
    model_name: str,
    api_key: str | None,
    model_settings: ModelSettings | None = None,
    offline_output: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
) -> Model:
    """A PydanticAI model for `model_name` on `provider`, with `api_key` (already
    resolved by `providers.selectors.resolve_api_key`). Raises MissingApiKey when the
    type needs a key and there is none. `offline_output` is what the offline model
    answers (a schema-valid example), or a function giving it on each request."""
    if provider.provider_type == ProviderType.OFFLINE:
        from pydantic_ai.models.test import TestModel

        if callable(offline_output):
            return _offline_model_class()(
                answer=offline_output, model_name=model_name or "offline", settings=model_settings
            )
        return TestModel(
            custom_output_args=offline_output, model_name=model_name or "offline", settings=model_settings
        )
    info = type_info(provider.provider_type)
    if info.needs_key and not api_key:
        raise MissingApiKey(
            f"No API key for provider '{provider.name}' ({provider.provider_type}): set one on the "
            f"provider or the agent's LLM config, or in the environment variable {info.env_var}."
        )
    sdk_provider = provider_for(provider, api_key)
    if provider.provider_type in _RETRIES_PER_REQUEST:
        model_settings = {**(model_settings or {}), "max_retries": 0}
    return _model(provider.provider_type, model_name, sdk_provider, model_settings)


@functools.cache
def _offline_model_class() -> type[Model]:
    from pydantic_ai.models.test import TestModel

    class OfflineModel(TestModel):
        """A TestModel whose `custom_output_args` is asked for on every request, so one
        cached agent can answer each run from that run's input."""

        def __init__(self, *, answer: Callable[[], dict[str, Any]], **kwargs: Any) -> None:
            self._answer = answer
            super().__init__(**kwargs)

        @property
        def custom_output_args(self) -> dict[str, Any]:  # type: ignore[override]
            return self._answer()

        @custom_output_args.setter
        def custom_output_args(self, value: Any) -> None:
            pass  # TestModel.__init__ sets it; the answer comes from `answer`

    return OfflineModel


# SDKs whose client we cannot build with retries off: PydanticAI turns them off per
# request. (Setting it for the others would copy their client on every request.)
_RETRIES_PER_REQUEST = {ProviderType.GOOGLE, ProviderType.MISTRAL}


_clients: OrderedDict[Credential, Provider[Any]] = OrderedDict()
_clients_lock = threading.Lock()


def provider_for(provider: LLMProvider, api_key: str | None) -> Provider[Any]:
    """The shared PydanticAI provider (SDK client + HTTP client) for one credential."""
    credential = Credential(
        provider.pk,
        provider.provider_type,
        endpoint(provider),
        hashlib.sha256((api_key or "").encode()).hexdigest(),
    )
    with _clients_lock:
        cached = _clients.get(credential)
        if cached is not None:
            _clients.move_to_end(credential)
            return cached
        # Built under the lock: building is cheap (no I/O) and two clients for one
        # credential are exactly what this cache is for avoiding.
        built = _PROVIDER_BUILDERS[provider.provider_type](credential.base_url, api_key or None, provider)
        _clients[credential] = built
        while len(_clients) > CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
        return built


def cached_client_count() -> int:
    return len(_clients)


def clear_client_cache() -> None:
    with _clients_lock:
        _clients.clear()


# Providers ------------------------------------------------------------------


def _timeout() -> float:
    return settings.LLM_REQUEST_TIMEOUT_SECONDS


def _loop_local(transport_base: type, client_class: type, **client_kwargs: Any) -> Any:
    """A transport that sends each request through a connection pool of the running
    event loop (pools cannot move between loops). The pools are those of a private
    client per loop, so limits and the proxies of the environment apply as usual."""

    class LoopLocalTransport(transport_base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

        def _client(self) -> Any:
            loop = asyncio.get_running_loop()
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = client_class(**client_kwargs)
            return client

        async def handle_async_request(self, request: Any) -> Any:
            client = self._client()
            return await client._transport_for_url(request.url).handle_async_request(request)

        async def aclose(self) -> None:
            client = self._clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.aclose()

    return LoopLocalTransport()


def _httpx2_client():
    import httpx2
    from pydantic_ai._http import DEFAULT_HTTP_LIMITS, create_async_httpx2_client

    transport = _loop_local(httpx2.AsyncBaseTransport, httpx2.AsyncClient, limits=DEFAULT_HTTP_LIMITS)
    return create_async_httpx2_client(timeout=_timeout(), transport=transport)


def _openai_client(base_url: str, api_key: str | None):
    from openai import AsyncOpenAI

    # A placeholder where no key is needed (local servers): the SDK insists on one
    # and would otherwise read OPENAI_API_KEY, sending an OpenAI key elsewhere.
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or "no-key",
        http_client=_httpx2_client(),
        max_retries=0,
        timeout=_timeout(),
    )


def _openai_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.openai import OpenAIProvider

    return OpenAIProvider(openai_client=_openai_client(base_url, api_key))


def _deepseek_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.deepseek import DeepSeekProvider

    return DeepSeekProvider(openai_client=_openai_client(base_url, api_key))


def _openrouter_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.openrouter import OpenRouterProvider

    return OpenRouterProvider(openai_client=_openai_client(base_url, api_key))


def _ollama_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.ollama import OllamaProvider

    return OllamaProvider(openai_client=_openai_client(base_url, api_key))


def _xai_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    # xAI's native provider needs the gRPC SDK; its OpenAI-compatible endpoint needs nothing more.
    from pydantic_ai.profiles.grok import grok_model_profile
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    return OpenAICompatibleProvider("xai", openai_client=_openai_client(base_url, api_key), profile=grok_model_profile)


def _compatible_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    return OpenAICompatibleProvider(provider.name, openai_client=_openai_client(base_url, api_key))


def _anthropic_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from anthropic import AsyncAnthropic
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(
        api_key=api_key, base_url=base_url, http_client=_httpx2_client(), max_retries=0, timeout=_timeout()
    )
    return AnthropicProvider(anthropic_client=client)


def _google_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.google import GoogleProvider

    # google-genai does not retry unless told to.
    return GoogleProvider(api_key=api_key, base_url=base_url, http_client=_httpx2_client())


def _groq_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    import httpx
    from groq import AsyncGroq
    from pydantic_ai.providers.groq import GroqProvider

    # The Groq SDK appends /openai/v1 itself; the catalog's endpoint is the OpenAI-compatible one.
    root = base_url.removesuffix("/openai/v1")
    transport = _loop_local(httpx.AsyncBaseTransport, httpx.AsyncClient)
    client = AsyncGroq(
        api_key=api_key, base_url=root, http_client=httpx.AsyncClient(timeout=_timeout(), transport=transport),
        max_retries=0, timeout=_timeout(),
    )
    return GroqProvider(groq_client=client)


def _mistral_provider(base_url: str, api_key: str | None, provider: LLMProvider) -> Provider[Any]:
    from pydantic_ai.providers.mistral import MistralProvider

    # The Mistral SDK's server URL has no /v1 (it adds it per path).
    return MistralProvider(api_key=api_key, base_url=base_url.removesuffix("/v1"), http_client=_httpx2_client())


_PROVIDER_BUILDERS: dict[str, Callable[[str, str | None, LLMProvider], Provider[Any]]] = {
    ProviderType.OPENAI: _openai_provider,
    ProviderType.ANTHROPIC: _anthropic_provider,
    ProviderType.DEEPSEEK: _deepseek_provider,
    ProviderType.XAI: _xai_provider,
    ProviderType.GOOGLE: _google_provider,
    ProviderType.GROQ: _groq_provider,
    ProviderType.MISTRAL: _mistral_provider,
    ProviderType.OPENROUTER: _openrouter_provider,
    ProviderType.OLLAMA: _ollama_provider,
    ProviderType.OPENAI_COMPATIBLE: _compatible_provider,
}


# Models ---------------------------------------------------------------------


# The PydanticAI model class of each type, imported on first use (each pulls in its SDK).
_MODEL_CLASSES: dict[str, tuple[str, str]] = {
    ProviderType.OPENAI: ("pydantic_ai.models.openai", "OpenAIChatModel"),
    ProviderType.ANTHROPIC: ("pydantic_ai.models.anthropic", "AnthropicModel"),
    ProviderType.DEEPSEEK: ("pydantic_ai.models.openai", "OpenAIChatModel"),
    ProviderType.XAI: ("pydantic_ai.models.openai", "OpenAIChatModel"),
    ProviderType.GOOGLE: ("pydantic_ai.models.google", "GoogleModel"),
    ProviderType.GROQ: ("pydantic_ai.models.groq", "GroqModel"),
    ProviderType.MISTRAL: ("pydantic_ai.models.mistral", "MistralModel"),
    ProviderType.OPENROUTER: ("pydantic_ai.models.openrouter", "OpenRouterModel"),
    ProviderType.OLLAMA: ("pydantic_ai.models.ollama", "OllamaModel"),
    ProviderType.OPENAI_COMPATIBLE: ("pydantic_ai.models.openai", "OpenAIChatModel"),
}


def _model(provider_type: str, name: str, provider: Provider[Any], model_settings: ModelSettings | None) -> Model:
    module, class_name = _MODEL_CLASSES[provider_type]
    return getattr(import_module(module), class_name)(name, provider=provider, settings=model_settings)
