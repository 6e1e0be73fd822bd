"""Writes for providers. Every interface (admin, API, seed, actors) goes through here."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone

from providers import crypto
from providers.models import LLMProvider, ValidationStatus

logger = logging.getLogger(__name__)

# Fields whose change means the stored credentials must be checked again.
_CREDENTIAL_FIELDS = ("provider_type", "base_url")
PROVIDER_EDITABLE_FIELDS = ("name", "provider_type", "base_url", "enabled")


def secret_apply(obj: Any, api_key: str | None) -> bool:
    """Store `api_key` encrypted on `obj` (a provider or an LLM config).

    None keeps the stored key, "" removes it. Returns True when the key changed.
    Only the last 4 characters are kept in clear, for display.
    """
    if api_key is None:
        return False
    api_key = api_key.strip()
    if not api_key:
        if not obj.api_key_encrypted:
            return False
        obj.api_key_encrypted = ""
        obj.api_key_last4 = ""
    else:
        obj.api_key_encrypted = crypto.encrypt(api_key)
        obj.api_key_last4 = api_key[-4:]
    obj.key_version += 1
    return True


def _with_history_user(obj: Any, user: AbstractBaseUser | None) -> None:
    if user is not None and user.is_authenticated:
        obj._history_user = user


def provider_create(
    *,
    name: str,
    provider_type: str,
    base_url: str = "",
    api_key: str | None = None,
    enabled: bool = True,
    user: AbstractBaseUser | None = None,
) -> LLMProvider:
    provider = LLMProvider(name=name, provider_type=provider_type, base_url=base_url, enabled=enabled)
    return provider_save(provider=provider, changed_fields=PROVIDER_EDITABLE_FIELDS, api_key=api_key, user=user)


def provider_update(
    *,
    provider: LLMProvider,
    data: dict[str, Any],
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
) -> LLMProvider:
    """Apply a partial update. `api_key=None` keeps the stored key, "" removes it."""
    changed = []
    for field, value in data.items():
        if field not in PROVIDER_EDITABLE_FIELDS:
            raise ValueError(f"{field} cannot be updated")
        if getattr(provider, field) != value:
            changed.append(field)
            setattr(provider, field, value)
    return provider_save(provider=provider, changed_fields=changed, api_key=api_key, user=user)


def provider_save(
    *,
    provider: LLMProvider,
    changed_fields: Iterable[str],
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
) -> LLMProvider:
    """Save a provider whose `changed_fields` were already set on it (the admin's form
    does that). A new provider, or changed credentials, are checked again in the
    background."""
    credentials_changed = provider.pk is None or bool(set(changed_fields) & set(_CREDENTIAL_FIELDS))
    credentials_changed |= secret_apply(provider, api_key)
    if credentials_changed:
        provider_reset_validation(provider)
    provider.full_clean()
    _with_history_user(provider, user)
    provider.save()
    if credentials_changed and provider.validation_status == ValidationStatus.PENDING:
        provider_enqueue_validation(provider=provider)
    return provider


def provider_reset_validation(provider: LLMProvider) -> None:
    """Credentials changed: what we knew about them no longer holds."""
    provider.validation_status = _initial_status(provider)
    provider.validation_error = ""
    provider.validated_at = None
    provider.available_models = []


def _initial_status(provider: LLMProvider) -> str:
    # The offline provider has nothing to check; everything else is checked in the background.
    if provider.is_offline:
        return ValidationStatus.VALID
    return ValidationStatus.PENDING


def provider_delete(*, provider: LLMProvider, user: AbstractBaseUser | None = None) -> None:
    _with_history_user(provider, user)
    provider.delete()


def provider_mark_undecryptable(*, provider: LLMProvider, message: str) -> None:
    LLMProvider.objects.filter(pk=provider.pk).update(
        validation_status=ValidationStatus.UNDECRYPTABLE,
        validation_error=message,
        validated_at=timezone.now(),
    )
    provider.validation_status = ValidationStatus.UNDECRYPTABLE
    provider.validation_error = message


def provider_enqueue_validation(*, provider: LLMProvider) -> None:
    """Queue a background check once the current transaction commits.

    If the broker is unreachable the provider simply stays `pending`; the periodic
    sweep (`manage.py validateproviders`) picks it up later, so nothing is lost.
    """
    provider_id = provider.pk

    def send() -> None:
        from providers.tasks import validate_provider

        try:
            validate_provider.send(provider_id)
        except Exception as exc:  # broker down: the sweep will retry
            logger.warning(
                "could not enqueue validation of provider %s (%s); it stays pending",
                provider_id, type(exc).__name__,
            )

    transaction.on_commit(send)


# Models of other apps that store a key in `api_key_encrypted` (agents_llm registers its
# LLM configs when it loads): providers knows nothing of the apps above it.
SECRET_MODELS: list[type[models.Model]] = []


def secret_model_register(model: type[models.Model]) -> None:
    if model not in SECRET_MODELS:
        SECRET_MODELS.append(model)


def secrets_rotate() -> dict[str, int]:
    """Re-encrypt every stored secret under the current ENCRYPTION_KEY.

    Returns counts: rotated, already current, undecryptable. Undecryptable providers
    are marked so the admin shows it; the other models' rows are counted.
    """
    counts = {"rotated": 0, "current": 0, "undecryptable": 0}
    for model in (LLMProvider, *SECRET_MODELS):
        rows = model.objects.exclude(api_key_encrypted="").only("pk", "api_key_encrypted")
        for row in rows.iterator():
            if crypto.is_current(row.api_key_encrypted):
                counts["current"] += 1
                continue
            try:
                token = crypto.rotate(row.api_key_encrypted)
            except crypto.UndecryptableSecret as exc:
                counts["undecryptable"] += 1
                if isinstance(row, LLMProvider):
                    provider_mark_undecryptable(provider=row, message=str(exc))
                continue
            # update() on purpose: the key itself is unchanged, so neither history nor
            # key_version should move.
            model.objects.filter(pk=row.pk).update(api_key_encrypted=token)
            counts["rotated"] += 1
    return counts


@transaction.atomic
def provider_request_validation(*, provider: LLMProvider, user: AbstractBaseUser | None = None) -> LLMProvider:
    """Ask for a fresh background check (API `POST providers/{id}/validate`)."""
    provider = LLMProvider.objects.select_for_update().get(pk=provider.pk)
    if not provider.is_offline:
        provider.validation_status = ValidationStatus.PENDING
        provider.validation_error = ""
        _with_history_user(provider, user)
        provider.save(update_fields=["validation_status", "validation_error", "updated_at"])
    provider_enqueue_validation(provider=provider)
    return provider
