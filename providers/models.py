from __future__ import annotations

from django.db import models
from django.utils.text import slugify
from simple_history.models import HistoricalRecords

from providers import crypto
from providers.catalog import ProviderType

NAME_NEEDS = "The name needs at least one letter or digit."


def provider_slug(name: str) -> str:
    """The name a provider is stored, referred to and shown under: "My Anthropic" is
    `my-anthropic`. The admin and the API both take any name and store this slug.
    ValueError when nothing is left of it."""
    slug = slugify(name)
    if not slug:
        raise ValueError(NAME_NEEDS)
    return slug


class ValidationStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    PENDING = "pending", "Pending"
    VALIDATING = "validating", "Validating"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"  # the vendor answered: the key or the base URL is wrong
    UNREACHABLE = "unreachable", "Unreachable"  # no usable answer (down, timing out, 5xx, 429) after every attempt
    UNDECRYPTABLE = "undecryptable", "Undecryptable"


class LLMProvider(models.Model):
    """A named credential set for one LLM vendor (or a local/offline backend)."""

    name = models.SlugField(max_length=64, unique=True)
    provider_type = models.CharField(max_length=32, choices=ProviderType.choices, db_index=True)
    base_url = models.URLField(max_length=500, blank=True, help_text="Leave blank for the vendor's default endpoint.")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # Bumped on every key change: agents built with an older key are rebuilt.
    key_version = models.PositiveIntegerField(default=0, editable=False)
    enabled = models.BooleanField(default=True)
    validation_status = models.CharField(
        max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.UNKNOWN, db_index=True
    )
    validation_error = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    available_models = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["api_key_encrypted"])

    class Meta:
        db_table = "llm_providers"
        ordering = ["name"]
        verbose_name = "LLM provider"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.provider_type == ProviderType.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "An OpenAI-compatible provider needs a base URL."})

    @property
    def is_offline(self) -> bool:
        return self.provider_type == ProviderType.OFFLINE

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def api_key_hint(self) -> str:
        return crypto.hint(self.api_key_last4)
