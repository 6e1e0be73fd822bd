"""Request and response shapes of the runs API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema

from agents_llm.agents.schemas import Ref
from agents_llm.runs.models import RunStatus
from tradingagents.schemas import Money

RunStatusName = Literal[tuple(RunStatus.values)]  # type: ignore[valid-type]


# Runs -----------------------------------------------------------------------------


class RunIn(Schema):
    agent: Ref = Field(..., description="Agent id or name.")
    task: Ref = Field(..., description="Task id or name.")
    input: dict[str, Any] = Field(default_factory=dict, description="Fills the task's prompt template.")
    session: str | None = Field(None, max_length=64, description="A session of yours the run counts in.")


class RunOut(Schema):
    id: int
    agent_id: int
    agent: str
    task_id: int
    task: str
    status: str
    input: dict[str, Any]
    output: Any = None
    error: str
    attempts: list[dict[str, Any]]
    provider: str | None
    model_name: str
    schema_version: int | None
    synthetic: bool
    fell_back: bool
    session_id: str | None
    input_tokens: int = Field(..., description="All prompt tokens, cached ones included.")
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    requests: int
    cost: Money | None = Field(..., description="USD; null when the price is unknown (see cost_note).")
    cost_note: str
    latency_ms: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_agent(obj: Any) -> str:
        return obj.agent.name

    @staticmethod
    def resolve_session_id(obj: Any) -> str | None:
        return str(obj.session_id) if obj.session_id else None

    @staticmethod
    def resolve_task(obj: Any) -> str:
        return obj.task.name

    @staticmethod
    def resolve_provider(obj: Any) -> str | None:
        return obj.provider.name if obj.provider_id else None


class RunFilters(Schema):
    agent: str | None = Field(None, max_length=64, description="Agent id or name.")
    task: str | None = Field(None, max_length=64, description="Task id or name.")
    status: RunStatusName | None = None
    created_from: date | None = Field(None, description="On or after this day (UTC).")
    created_to: date | None = Field(None, description="On or before this day (UTC).")
    ordering: Literal["created_at", "-created_at"] = "-created_at"
