"""Live events for providers (topic `providers`). Validation outcomes are published by
`providers.validation` as `validation` events; saves and deletes here."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from providers.models import LLMProvider
from tradingagents.events import publish


def provider_event_data(provider: LLMProvider) -> dict[str, Any]:
    # Explicit fields: never the encrypted key, only its last 4 characters.
    return {
        "id": provider.pk,
        "name": provider.name,
        "provider_type": provider.provider_type,
        "base_url": provider.base_url,
        "enabled": provider.enabled,
        "has_api_key": provider.has_api_key,
        "api_key_hint": provider.api_key_hint,
        "validation_status": provider.validation_status,
        "validation_status_display": provider.get_validation_status_display(),
        "validation_error": provider.validation_error,
        "validated_at": provider.validated_at,
        "available_models": provider.available_models,
        "updated_at": provider.updated_at,
    }


@receiver(post_save, sender=LLMProvider, dispatch_uid="providers.events.saved")
def provider_saved(sender: type, instance: LLMProvider, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    publish("providers", "created" if created else "updated", instance.pk, provider_event_data(instance))


@receiver(post_delete, sender=LLMProvider, dispatch_uid="providers.events.deleted")
def provider_deleted(sender: type, instance: LLMProvider, **kwargs: Any) -> None:
    publish("providers", "deleted", instance.pk, {"id": instance.pk, "name": instance.name})
