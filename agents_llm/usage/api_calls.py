"""`GET /api/v1/calls`: the gateway's call records (no prompt or answer text is kept)."""

# No `from __future__ import annotations`: django-ninja reads these signatures at runtime.

from datetime import date, datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema
from ninja.pagination import paginate

from agents_llm.metering.models import CallStatus, LLMCall
from tradingagents.auth import may_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, Money, Page

router = Router(tags=["calls"])

CallStatusName = Literal[tuple(CallStatus.values)]  # type: ignore[valid-type]


class CallOut(Schema):
    id: int
    agent_id: int
    agent: str
    alias: str = Field(..., description="The model name the client asked for.")
    user: str | None
    session_id: str | None
    provider: str | None = Field(..., description="The provider that answered.")
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
    cost: Money | None = Field(..., description="USD; null when the price is unknown (see cost_note).")
    cost_note: str
    synthetic: bool
    fell_back: bool
    streamed: bool
    latency_ms: int | None
    created_at: datetime

    @staticmethod
    def resolve_agent(obj: LLMCall) -> str:
        return obj.agent.name

    @staticmethod
    def resolve_user(obj: LLMCall) -> str | None:
        return obj.user.get_username() if obj.user_id else None

    @staticmethod
    def resolve_session_id(obj: LLMCall) -> str | None:
        return str(obj.session_id) if obj.session_id else None

    @staticmethod
    def resolve_provider(obj: LLMCall) -> str | None:
        return obj.provider.name if obj.provider_id else None


class CallFilters(Schema):
    agent: str | None = Field(None, max_length=64, description="Agent name.")
    provider: str | None = Field(None, max_length=64, description="Provider name.")
    status: CallStatusName | None = None
    session: str | None = Field(None, max_length=36, description="Session id.")
    created_from: date | None = Field(None, description="On or after this day (UTC).")
    created_to: date | None = Field(None, description="On or before this day (UTC).")


def _calls(request: HttpRequest) -> QuerySet[LLMCall]:
    """Every call for who may view calls; else the calls in the caller's own sessions."""
    qs = LLMCall.objects.select_related("agent", "provider", "user")
    return qs if may_read(request, "agents_llm.llmcall") else qs.filter(session__owner_id=request.auth.pk)


@router.get("/calls", response={200: list[CallOut], **AUTH_ERRORS})
@paginate(Page)
def list_calls(request: HttpRequest, filters: CallFilters = Query(...)) -> QuerySet[LLMCall]:
    """Gateway calls, newest first: all of them with the permission to view calls,
    else those in your own sessions."""
    qs = _calls(request)
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
    return get_object_or_404(_calls(request), pk=call_id)
