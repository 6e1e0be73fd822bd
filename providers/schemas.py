"""Request and response shapes of the providers API. Secrets are write-only:
`api_key` goes in, only `has_api_key` and `api_key_hint` (last 4) come out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import field_validator

from providers.catalog import ProviderType
from providers.models import ValidationStatus, provider_slug

ProviderTypeName = Literal[tuple(ProviderType.values)]  # type: ignore[valid-type]
ValidationStatusName = Literal[tuple(ValidationStatus.values)]  # type: ignore[valid-type]
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
API_KEY_DESCRIPTION = "Write-only. Omit (or null) to keep the stored key, \"\" to remove it."


NAME_DESCRIPTION = "Any name, e.g. \"Local Vendor\": stored (and answered) as its slug, local-vendor."


def _slug(value: str | None) -> str | None:
    return None if value is None else provider_slug(value)


class ProviderIn(Schema):
    name: str = Field(..., min_length=1, max_length=64, description=NAME_DESCRIPTION)
    provider_type: ProviderTypeName
    base_url: str = Field("", max_length=500, description="Blank for the vendor's default endpoint.")
    api_key: str | None = Field(None, max_length=500, description=API_KEY_DESCRIPTION)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def name_as_slug(cls, value: str | None) -> str | None:
        return _slug(value)


class ProviderPatch(Schema):
    """Every field optional; only the fields sent are changed."""

    name: str = Field(None, min_length=1, max_length=64, description=NAME_DESCRIPTION)
    provider_type: ProviderTypeName = None
    base_url: str = Field(None, max_length=500)
    api_key: str | None = Field(None, max_length=500, description=API_KEY_DESCRIPTION)
    enabled: bool = None

    @field_validator("name")
    @classmethod
    def name_as_slug(cls, value: str | None) -> str | None:
        return _slug(value)


class ProviderOut(Schema):
    id: int
    name: str
    provider_type: str
    is_offline: bool = Field(..., description="Offline = PydanticAI TestModel: synthetic output, no network.")
    base_url: str
    enabled: bool
    has_api_key: bool
    api_key_hint: str = Field(..., description="Only the last 4 characters of the key, e.g. …AB12.")
    validation_status: str
    validation_error: str
    validated_at: datetime | None
    available_models: list[str]
    created_at: datetime
    updated_at: datetime


class ProviderFilters(Schema):
    provider_type: ProviderTypeName | None = None
    enabled: bool | None = None
    validation_status: ValidationStatusName | None = None
    q: str | None = Field(None, max_length=100, description="Part of the name.")
    ordering: Literal["name", "-name", "provider_type", "-provider_type", "created_at", "-created_at"] = "name"
