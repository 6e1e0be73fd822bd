"""`/api/v1/sessions`: open a session (its token is shown once), read its totals and
per-agent breakdown, close it. A session belongs to the user who opened it: another
user's session is a 404."""

# No `from __future__ import annotations`: django-ninja reads these signatures at runtime.

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate
from ninja.responses import Status

from agents_llm.agents.models import Lineup
from agents_llm.metering import sessions as metering
from agents_llm.metering.models import MeteredSession, SessionStatus
from agents_llm.usage import selectors
from tradingagents.auth import require_perm
from tradingagents.schemas import AUTH_ERRORS, READ_ERRORS, WRITE_ERRORS, Money, Page

router = Router(tags=["sessions"])

SessionStatusName = Literal[tuple(SessionStatus.values)]  # type: ignore[valid-type]
GATEWAY_PERM = "agents_llm.use_gateway"
CHANGE_PERM = "agents_llm.change_meteredsession"


class SessionIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=8, description="USD, e.g. \"0.50\".")
    budget_tokens: int | None = Field(None, ge=1, le=2**62, description="Input plus output tokens.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    lineup: str | None = Field(
        None, min_length=1, max_length=64,
        description="A lineup's name: the session's calls for the agents it names are routed by it.",
    )


class SessionPatch(Schema):
    budget_usd: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=8, description="null removes it.")
    budget_tokens: int | None = Field(None, ge=1, le=2**62, description="null removes it.")


class SessionOut(Schema):
    id: str
    name: str
    status: str
    budget_usd: Money | None
    budget_tokens: int | None
    spent_usd: Money
    spent_tokens: int
    reserved_usd: Money
    reserved_tokens: int
    unpriced_calls: int = Field(..., description="Calls whose price is unknown (not in spent_usd).")
    calls: int
    runs: int
    metadata: dict[str, Any]
    lineup: str | None = Field(..., description="The lineup the session was opened with, if any.")
    created_at: datetime
    closed_at: datetime | None

    @staticmethod
    def resolve_id(obj: MeteredSession) -> str:
        return str(obj.pk)

    @staticmethod
    def resolve_lineup(obj: MeteredSession) -> str | None:
        return obj.lineup.name if obj.lineup_id is not None else None  # joined by the selector

    @staticmethod
    def resolve_calls(obj: MeteredSession) -> int:
        return obj.n_calls  # annotated by the selector

    @staticmethod
    def resolve_runs(obj: MeteredSession) -> int:
        return obj.n_runs


class SessionCreatedOut(SessionOut):
    token: str = Field(..., description="Shown once: use it as the Bearer key of gateway calls in this session.")


class AgentSpendOut(Schema):
    agent: str
    calls: int
    runs: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost: Money
    unpriced: int
    latency_ms: int = Field(..., description="Total latency of the agent's calls and runs.")
    share: float = Field(..., description="The agent's part of the session's known cost, 0 to 1.")


class SessionDetailOut(SessionOut):
    by_agent: list[AgentSpendOut]


class SessionFilters(Schema):
    status: SessionStatusName | None = None


def _own(request: HttpRequest, session_id: str) -> MeteredSession:
    return _find(selectors.sessions_with_counts().filter(owner_id=request.auth.pk), session_id)


def _find(qs: QuerySet[MeteredSession], session_id: str) -> MeteredSession:
    try:
        key = uuid.UUID(session_id)
    except ValueError:
        key = None
    return get_object_or_404(qs, pk=key)


@router.post("/sessions", response={201: SessionCreatedOut, **WRITE_ERRORS})
def create_session(request: HttpRequest, payload: SessionIn):
    """Open a session for one piece of work. Gateway calls join it with its token as
    the Bearer key or with `X-Session-Id`; runs with `"session": id`. With `"lineup"`,
    its calls for the agents the lineup names are routed by the lineup."""
    require_perm(request, GATEWAY_PERM)
    data = payload.dict()
    lineup_name = data.pop("lineup")
    if lineup_name is not None:
        lineup = Lineup.objects.filter(name=lineup_name).first()
        if lineup is None:
            raise InputError([{"loc": ("body", "lineup"), "msg": f"No lineup named {lineup_name!r}."}])
        data["lineup_id"] = lineup.pk
    session, token = metering.session_create(owner=request.auth, **data)
    created = selectors.sessions_with_counts().get(pk=session.pk)
    created.token = token
    return Status(201, created)


@router.get("/sessions", response={200: list[SessionOut], **AUTH_ERRORS})
@paginate(Page)
def list_sessions(request: HttpRequest, filters: SessionFilters = Query(...)) -> QuerySet[MeteredSession]:
    qs = selectors.sessions_with_counts().filter(owner_id=request.auth.pk)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("-created_at")


@router.get("/sessions/{session_id}", response={200: SessionDetailOut, **READ_ERRORS})
def get_session(request: HttpRequest, session_id: str = Path(..., max_length=64)):
    session = _own(request, session_id)
    session.by_agent = selectors.session_by_agent(session.pk)
    return session


@router.patch("/sessions/{session_id}", response={200: SessionOut, **WRITE_ERRORS})
def update_session(request: HttpRequest, payload: SessionPatch, session_id: str = Path(..., max_length=64)):
    """Change a session's budgets (the owner, or a user who may change sessions).
    Changing a budget re-opens an over-budget session; the change is kept in the
    session's history."""
    if request.auth.has_perm(CHANGE_PERM):
        session = _find(selectors.sessions_with_counts(), session_id)
    else:
        require_perm(request, GATEWAY_PERM)
        session = _own(request, session_id)
    metering.session_set_budget(session=session, changes=payload.dict(exclude_unset=True), user=request.auth)
    return _find(selectors.sessions_with_counts(), session_id)


@router.post("/sessions/{session_id}/close", response={200: SessionOut, **WRITE_ERRORS})
def close_session(request: HttpRequest, session_id: str = Path(..., max_length=64)):
    """New calls in a closed session get 409; its token stops working."""
    require_perm(request, GATEWAY_PERM)
    session = _own(request, session_id)
    metering.session_close(session=session)
    return _own(request, session_id)
