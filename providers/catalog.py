"""What we know about vendors without asking them: types, default endpoints, the
environment variable holding each vendor's key, model names and prices.

Model names and prices come from genai-prices (a maintained, versioned snapshot of
vendor price lists); a few types have no fixed list (local or self-hosted servers).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from django.db import models
from genai_prices import Usage, calc_price, data_snapshot


class ProviderType(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    DEEPSEEK = "deepseek", "DeepSeek"
    XAI = "xai", "xAI (Grok)"
    GOOGLE = "google", "Google Gemini"
    GROQ = "groq", "Groq"
    MISTRAL = "mistral", "Mistral"
    OPENROUTER = "openrouter", "OpenRouter"
    OLLAMA = "ollama", "Ollama"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    OFFLINE = "offline", "Offline (synthetic output, no network)"


@dataclass(frozen=True)
class TypeInfo:
    env_var: str  # where a key is looked for last
    default_base_url: str
    genai_prices_id: str | None  # provider id in the genai-prices snapshot
    needs_key: bool = True
    free_model_names: bool = False  # any model name is accepted (local/self-hosted)
    quick_model: str = ""  # seed defaults
    deep_model: str = ""


TYPES: dict[str, TypeInfo] = {
    ProviderType.OPENAI: TypeInfo(
        "OPENAI_API_KEY", "https://api.openai.com/v1", "openai",
        quick_model="gpt-4o-mini", deep_model="o3-mini",
    ),
    ProviderType.ANTHROPIC: TypeInfo(
        "ANTHROPIC_API_KEY", "https://api.anthropic.com", "anthropic",
        quick_model="claude-3-5-haiku-latest", deep_model="claude-sonnet-4-0",
    ),
    ProviderType.DEEPSEEK: TypeInfo(
        "DEEPSEEK_API_KEY", "https://api.deepseek.com", "deepseek",
        quick_model="deepseek-chat", deep_model="deepseek-reasoner",
    ),
    ProviderType.XAI: TypeInfo(
        "XAI_API_KEY", "https://api.x.ai/v1", "x-ai",
        quick_model="grok-3-mini", deep_model="grok-3",
    ),
    ProviderType.GOOGLE: TypeInfo(
        "GOOGLE_API_KEY", "https://generativelanguage.googleapis.com", "google",
        quick_model="gemini-2.0-flash", deep_model="gemini-2.5-pro",
    ),
    ProviderType.GROQ: TypeInfo(
        "GROQ_API_KEY", "https://api.groq.com/openai/v1", "groq",
        quick_model="llama-3.1-8b-instant", deep_model="llama-3.3-70b-versatile",
    ),
    ProviderType.MISTRAL: TypeInfo(
        "MISTRAL_API_KEY", "https://api.mistral.ai/v1", "mistral",
        quick_model="mistral-small-latest", deep_model="mistral-large-latest",
    ),
    ProviderType.OPENROUTER: TypeInfo(
        "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1", "openrouter",
        quick_model="openai/gpt-4o-mini", deep_model="anthropic/claude-sonnet-4",
    ),
    ProviderType.OLLAMA: TypeInfo(
        "OLLAMA_API_KEY", "http://127.0.0.1:11434/v1", None,
        needs_key=False, free_model_names=True, quick_model="llama3.1", deep_model="llama3.1",
    ),
    ProviderType.OPENAI_COMPATIBLE: TypeInfo(
        "OPENAI_COMPATIBLE_API_KEY", "", None, free_model_names=True,
    ),
    ProviderType.OFFLINE: TypeInfo(
        "", "", None, needs_key=False, free_model_names=True,
        quick_model="offline", deep_model="offline",
    ),
}


def type_info(provider_type: str) -> TypeInfo:
    return TYPES[provider_type]


@lru_cache(maxsize=32)
def catalog_models(provider_type: str) -> tuple[str, ...]:
    """Model names the price catalog knows for a provider type (empty if none)."""
    info = TYPES.get(provider_type)
    if info is None or info.genai_prices_id is None:
        return ()
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id == info.genai_prices_id:
            return tuple(sorted({m.id for m in provider.models}))
    return ()


def is_known_model(provider_type: str, model_name: str, available: list[str] | None = None) -> bool:
    """Known from the provider's validated model list, else from the catalog (which
    also matches dated and aliased names, e.g. gpt-4o-2024-08-06)."""
    if TYPES[provider_type].free_model_names:
        return True
    if available:
        return model_name in available
    if model_name in catalog_models(provider_type):
        return True
    return _catalog_model(provider_type, model_name) is not None


def closest_models(
    provider_type: str, model_name: str, available: list[str] | None = None, n: int = 3
) -> list[str]:
    names = list(available or catalog_models(provider_type))
    return difflib.get_close_matches(model_name, names, n=n, cutoff=0.4)


@lru_cache(maxsize=1024)
def _catalog_model(provider_type: str, model_name: str):  # -> genai_prices ModelInfo | None
    info = TYPES.get(provider_type)
    if info is None or info.genai_prices_id is None:
        return None
    try:
        _, model = data_snapshot.get_snapshot().find_provider_model(
            model_name, None, info.genai_prices_id, None
        )
    except LookupError:
        return None
    return model


@dataclass(frozen=True)
class Price:
    input_per_1k: Decimal
    output_per_1k: Decimal


@lru_cache(maxsize=1024)
def price_per_1k(provider_type: str, model_name: str) -> Price | None:
    """The catalog's price for 1,000 input and 1,000 output tokens, or None if unknown."""
    info = TYPES.get(provider_type)
    if info is None or info.genai_prices_id is None or _catalog_model(provider_type, model_name) is None:
        return None
    try:
        inp = calc_price(Usage(input_tokens=1000), model_name, provider_id=info.genai_prices_id)
        out = calc_price(Usage(output_tokens=1000), model_name, provider_id=info.genai_prices_id)
    except (LookupError, ValueError):
        return None
    return Price(Decimal(inp.total_price), Decimal(out.total_price))


def cost_of_usage(
    provider_type: str,
    model_name: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    at: datetime | None = None,
) -> Decimal | None:
    """Catalog cost of one response on its full usage (cached and cache-write input
    tokens are billed at their own prices), at the prices in force at `at`; None when
    the catalog does not know the model."""
    info = TYPES.get(provider_type)
    if info is None or info.genai_prices_id is None or _catalog_model(provider_type, model_name) is None:
        return None
    try:
        result = calc_price(
            Usage(
                input_tokens=input_tokens, output_tokens=output_tokens,
                cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens,
            ),
            model_name,
            provider_id=info.genai_prices_id,
            genai_request_timestamp=at,
        )
    except (LookupError, ValueError):
        return None
    return Decimal(str(result.total_price))


@lru_cache(maxsize=1024)
def worst_price_per_1k(provider_type: str, model_name: str) -> Price | None:
    """The most 1,000 input and 1,000 output tokens can cost: an input token written to
    the vendor's cache costs more than a plain one (Anthropic: 1.25×). What a budget
    reserves before a call; None if the catalog does not know the model."""
    price = price_per_1k(provider_type, model_name)
    if price is None:
        return None
    info = TYPES[provider_type]
    try:
        written = calc_price(
            Usage(input_tokens=1000, cache_write_tokens=1000), model_name, provider_id=info.genai_prices_id
        )
    except (LookupError, ValueError):
        return price
    return Price(max(price.input_per_1k, Decimal(str(written.total_price))), price.output_per_1k)


def catalog_version() -> str:
    """Which price list priced a response: the package and its data snapshot's time."""
    from importlib.metadata import version

    snapshot = data_snapshot.get_snapshot()
    stamp = snapshot.timestamp.isoformat() if getattr(snapshot, "timestamp", None) else "unknown"
    return f"genai-prices {version('genai-prices')} (snapshot {stamp})"
