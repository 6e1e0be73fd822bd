"""Reads for providers."""

from __future__ import annotations

import os

from providers import crypto
from providers.catalog import type_info
from providers.models import LLMProvider


def resolve_api_key(provider: LLMProvider, override_encrypted: str = "") -> str | None:
    """The key for a call: the agent config's own key, else the provider's stored key,
    else the environment variable `<TYPE>_API_KEY`. Raises crypto.UndecryptableSecret
    when a stored key cannot be decrypted (it never falls through to a weaker source)."""
    if override_encrypted:
        return crypto.decrypt(override_encrypted)
    if provider.api_key_encrypted:
        return crypto.decrypt(provider.api_key_encrypted)
    env_var = type_info(provider.provider_type).env_var
    return os.environ.get(env_var) or None if env_var else None


def provider_list():
    return LLMProvider.objects.all()


def provider_model_choices() -> dict[str, list[str]]:
    """Model names to offer for each provider (by id): those the vendor reported when
    the provider was last validated, then the price catalog's for its type. One query."""
    from providers.catalog import ProviderType, catalog_models

    choices: dict[str, list[str]] = {}
    for pk, provider_type, available in LLMProvider.objects.values_list("pk", "provider_type", "available_models"):
        names = [str(n) for n in (available or [])]
        seen = set(names)
        names += [n for n in catalog_models(provider_type) if n not in seen]
        if provider_type == ProviderType.OFFLINE and "offline" not in seen:
            names.insert(0, "offline")
        choices[str(pk)] = names
    return choices
