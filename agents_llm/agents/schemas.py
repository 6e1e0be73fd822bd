"""Request and response shapes of the agents, LLM configs, tasks and assignments API. Providers are named by `name`; secrets are write-only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema

from agents_llm.agents.models import INSTRUCTIONS_HELP, AgentRole
from providers.schemas import API_KEY_DESCRIPTION, SLUG_PATTERN
from tradingagents.schemas import Money

RoleName = Literal[tuple(AgentRole.values)]  # type: ignore[valid-type]
Ref = int | str  # an id, or a name
MAX_INT = 2**31 - 1
MAX_SMALL_INT = 32767


def _cost() -> Any:
    return Field(Decimal(0), ge=0, max_digits=12, decimal_places=6, description="USD per 1,000 tokens; 0 = price catalog.")


# Agents ---------------------------------------------------------------------------


class AgentIn(Schema):
    name: str = Field(..., min_length=1, max_length=64, pattern=SLUG_PATTERN)
    display_name: str = Field("", max_length=120, description="Defaults to the name, title-cased.")
    role: RoleName = "other"
    description: str = Field("", max_length=10_000)
    instructions: str = Field("", max_length=100_000, description=INSTRUCTIONS_HELP)
    enabled: bool = True
    metadata_json: dict[str, Any] = Field(default_factory=dict)
    aliases: list[str] = Field(
        default_factory=list, max_length=50,
        description="Other names gateway clients may call this agent by (any case), e.g. 'Bull Researcher'.",
    )


class AgentPatch(Schema):
    name: str = Field(None, min_length=1, max_length=64, pattern=SLUG_PATTERN)
    display_name: str = Field(None, min_length=1, max_length=120)
    role: RoleName = None
    description: str = Field(None, max_length=10_000)
    instructions: str = Field(None, max_length=100_000, description=INSTRUCTIONS_HELP)
    enabled: bool = None
    metadata_json: dict[str, Any] = None
    aliases: list[str] = Field(None, max_length=50)


class LLMConfigOut(Schema):
    id: int
    agent_id: int
    priority: int
    enabled: bool
    provider: str = Field(..., description="The provider's name.")
    provider_type: str
    synthetic: bool = Field(..., description="True for the offline provider (made-up, schema-valid output).")
    model_name: str
    temperature: float
    max_tokens: int | None
    top_p: float | None
    has_api_key: bool
    api_key_hint: str
    fallback_provider: str | None
    fallback_model: str
    cost_per_1k_input_tokens: Money
    cost_per_1k_output_tokens: Money
    cost_per_1k_cached_input_tokens: Money | None = Field(
        None, description="With explicit prices: USD per 1,000 cached input tokens (null: the input price).",
    )
    prices_from_catalog: bool = Field(False, description="The per-1k prices are the catalog's: responses are priced by it on their full usage.")
    metadata_json: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_provider(obj: Any) -> str:
        return obj.provider.name

    @staticmethod
    def resolve_provider_type(obj: Any) -> str:
        return obj.provider.provider_type

    @staticmethod
    def resolve_synthetic(obj: Any) -> bool:
        return obj.provider.is_offline

    @staticmethod
    def resolve_fallback_provider(obj: Any) -> str | None:
        return obj.fallback_provider.name if obj.fallback_provider_id else None


class AgentOut(Schema):
    id: int
    name: str
    display_name: str
    role: str
    description: str
    instructions: str
    enabled: bool
    metadata_json: dict[str, Any]
    aliases: list[str] = Field(..., description="Other names gateway clients may call this agent by.")
    llm_configs: list[LLMConfigOut] = Field(..., description="All LLM configs, primary (lowest enabled priority) first.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_llm_configs(obj: Any) -> list[Any]:
        return list(obj.llm_configs.all())  # prefetched by the selector

    @staticmethod
    def resolve_aliases(obj: Any) -> list[str]:
        return [alias.name for alias in obj.alias_rows.all()]  # prefetched by the selector


class AgentFilters(Schema):
    role: RoleName | None = None
    enabled: bool | None = None
    q: str | None = Field(None, max_length=100, description="Part of the name or display name.")
    ordering: Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "name"


# LLM configs ----------------------------------------------------------------------


class LLMConfigFields(Schema):
    provider: str = Field(..., min_length=1, max_length=64, description="Provider name.")
    model_name: str = Field(..., min_length=1, max_length=200)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=MAX_INT)
    top_p: float | None = Field(None, ge=0, le=1)
    api_key: str | None = Field(None, max_length=500, description=API_KEY_DESCRIPTION)
    fallback_provider: str | None = Field(None, min_length=1, max_length=64, description="Provider name.")
    fallback_model: str = Field("", max_length=200)
    cost_per_1k_input_tokens: Decimal = _cost()
    cost_per_1k_output_tokens: Decimal = _cost()
    cost_per_1k_cached_input_tokens: Decimal | None = Field(
        None, ge=0, max_digits=12, decimal_places=6,
        description="With explicit prices: USD per 1,000 input tokens read from the vendor's cache (null: the input price).",
    )
    enabled: bool = True
    metadata_json: dict[str, Any] = Field(default_factory=dict)


class LLMConfigIn(LLMConfigFields):
    priority: int | None = Field(None, ge=0, le=MAX_SMALL_INT, description="Omit for the next free place.")


class LLMConfigCreateIn(LLMConfigIn):
    agent: Ref = Field(..., description="Agent id or name.")


class LLMConfigPatch(Schema):
    provider: str = Field(None, min_length=1, max_length=64)
    model_name: str = Field(None, min_length=1, max_length=200)
    temperature: float = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=MAX_INT)
    top_p: float | None = Field(None, ge=0, le=1)
    api_key: str | None = Field(None, max_length=500, description=API_KEY_DESCRIPTION)
    fallback_provider: str | None = Field(None, min_length=1, max_length=64)
    fallback_model: str = Field(None, max_length=200)
    cost_per_1k_input_tokens: Decimal = Field(None, ge=0, max_digits=12, decimal_places=6)
    cost_per_1k_output_tokens: Decimal = Field(None, ge=0, max_digits=12, decimal_places=6)
    cost_per_1k_cached_input_tokens: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=6)
    enabled: bool = None
    priority: int = Field(None, ge=0, le=MAX_SMALL_INT)
    metadata_json: dict[str, Any] = None


class LLMConfigFilters(Schema):
    agent: str | None = Field(None, max_length=64, description="Agent id or name.")
    provider: str | None = Field(None, max_length=64, description="Provider name.")
    enabled: bool | None = None


class BulkApplyIn(Schema):
    agents: list[Ref] = Field(..., min_length=1, max_length=500, description="Agent ids or names.")
    config: LLMConfigFields


class BulkApplyOut(Schema):
    applied: list[LLMConfigOut]
    created: int
    updated: int


# Tasks ----------------------------------------------------------------------------


class TaskIn(Schema):
    name: str = Field(..., min_length=1, max_length=64, pattern=SLUG_PATTERN)
    description: str = Field("", max_length=10_000)
    prompt_template: str = Field(..., min_length=1, max_length=100_000)
    response_schema: dict[str, Any] = Field(..., description="JSON Schema every answer must match; root type object.")
    output_retries: int = Field(2, ge=0, le=10)
    timeout_seconds: int = Field(120, ge=1, le=86_400)
    enabled: bool = True


class TaskPatch(Schema):
    name: str = Field(None, min_length=1, max_length=64, pattern=SLUG_PATTERN)
    description: str = Field(None, max_length=10_000)
    prompt_template: str = Field(None, min_length=1, max_length=100_000)
    response_schema: dict[str, Any] = None
    output_retries: int = Field(None, ge=0, le=10)
    timeout_seconds: int = Field(None, ge=1, le=86_400)
    enabled: bool = None
    note: str = Field(None, max_length=200, description="Kept with the new schema version.")


class TaskOut(Schema):
    id: int
    name: str
    description: str
    prompt_template: str
    response_schema: dict[str, Any]
    schema_version: int
    output_retries: int
    timeout_seconds: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class TaskFilters(Schema):
    enabled: bool | None = None
    q: str | None = Field(None, max_length=100, description="Part of the name.")
    ordering: Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "name"


class SchemaVersionOut(Schema):
    number: int = Field(..., description="The task's schema_version this schema was.")
    response_schema: dict[str, Any]
    created_by: str | None
    created_at: datetime
    note: str

    @staticmethod
    def resolve_response_schema(obj: Any) -> dict[str, Any]:
        return obj.schema

    @staticmethod
    def resolve_created_by(obj: Any) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


# Assignments ----------------------------------------------------------------------


class AssignmentIn(Schema):
    agent: Ref = Field(..., description="Agent id or name.")
    task: Ref = Field(..., description="Task id or name.")


class AssignmentOut(Schema):
    id: int
    agent_id: int
    agent: str
    task_id: int
    task: str
    created_at: datetime

    @staticmethod
    def resolve_agent(obj: Any) -> str:
        return obj.agent.name

    @staticmethod
    def resolve_task(obj: Any) -> str:
        return obj.task.name


class AssignmentFilters(Schema):
    agent: str | None = Field(None, max_length=64, description="Agent id or name.")
    task: str | None = Field(None, max_length=64, description="Task id or name.")
