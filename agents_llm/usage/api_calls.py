"""`GET /api/v1/calls`: the gateway's call records (no prompt or answer text is kept)."""

# No `from __future__ import annotations`: django-ninja reads these signatures at runtime.

from datetime import date, datetime
from typing import Any, Literal, Optional

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema
from ninja.pagination import paginate

from agents_llm.metering.models import CallStatus, LLMCall
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, Money, Page

router = Router(tags=["calls"])

CallStatusName = Literal[tuple(CallStatus.values)]  # type: ignore[valid-type]


class CallOut(Schema):
    id: int
    agent_id: int
    agent: str
    alias: str = Field(..., description="The model name the client asked for.")
    user: Optional[str]
    session_id: Optional[str]
    provider: Optional[str] = Field(..., description="The provider that answered.")
    model_name: str = Field(..., description="The vendor model that answered.")
    status: str
    error_code: str
    error: str
    attempts: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: Optional[Money] = Field(..., description="USD; null when the price is unknown (see cost_note).")
    cost_note: str
    synthetic: bool
    fell_back: bool
    streamed: bool
    latency_ms: Optional[int]
    created_at: datetime

    @staticmethod
    def resolve_agent(obj: LLMCall) -> str:
        return obj.agent.name

    @staticmethod
    def resolve_user(obj: LLMCall) -> Optional[str]:
        return obj.user.get_username() if obj.user_id else None

    @staticmethod
    def resolve_session_id(obj: LLMCall) -> Optional[str]:
        return str(obj.session_id) if obj.session_id else None

    @staticmethod
    def resolve_provider(obj: LLMCall) -> Optional[str]:
        return obj.provider.name if obj.provider_id else None


class CallFilters(Schema):
    agent: Optional[str] = Field(None, max_length=64, description="Agent name.")
    provider: Optional[str] = Field(None, max_length=64, description="Provider name.")
    status: Optional[CallStatusName] = None
    session: Optional[str] = Field(None, max_length=36, description="Session id.")
    created_from: Optional[date] = Field(None, description="On or after this day (UTC).")
    created_to: Optional[date] = Field(None, description="On or before this day (UTC).")


def _calls() -> QuerySet[LLMCall]:
    return LLMCall.objects.select_related("agent", "provider", "user")


@router.get("/calls", response={200: list[CallOut], **AUTH_ERRORS})
@paginate(Page)
def list_calls(request: HttpRequest, filters: CallFilters = Query(...)) -> QuerySet[LLMCall]:
    """Gateway calls, newest first."""
    qs = _calls()
    if filters.agent:
        qs = qs.filter(agent__name=filters.agent)
    if filters.provider:
        qs = qs.filter(provider__name=filters.provider)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.session:
        qs = qs.filter(session_id=_uuid_or_none(filters.session))
    if filters.created_from:
        qs = qs.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        qs = qs.filter(created_at__date__lte=filters.created_to)
    return qs.order_by("-created_at", "-pk")


def _uuid_or_none(value: str) -> Any:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        from ninja.errors import ValidationError

        raise ValidationError([{"loc": ("query", "session"), "msg": "Not a session id (a UUID)."}]) from None


@router.get("/calls/{call_id}", response={200: CallOut, **READ_ERRORS})
def get_call(request: HttpRequest, call_id: int = Path(..., ge=1, le=MAX_ID)):
    return get_object_or_404(_calls(), pk=call_id)
