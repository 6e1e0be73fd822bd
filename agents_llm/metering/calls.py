"""The record of every gateway call, and its spend in its session: one transaction
writes the row, counts what it cost and releases what its requests had reserved (a
call outside a session is its row alone: one statement, no transaction around it).

Both writes may be tried again after the database ended the connection
(`db_call_durably`), even when the first try's COMMIT was applied and only its answer
was lost: a call's row carries its request's key (stored once), and a stream's
completion applies only to the row as the stream's start left it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents_llm.metering import budgets
from agents_llm.metering.budgets import Hold
from agents_llm.metering.models import CallStatus, LLMCall
from agents_llm.metering.pricing import TokenUsage, short


@dataclass
class CallOutcome:
    """What the gateway learnt from one client request, for its record."""

    agent_id: int
    alias: str
    user_id: int | None
    session_id: Any = None
    provider_id: int | None = None
    model_name: str = ""
    status: str = CallStatus.FAILED
    error_code: str = ""
    error: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost: Decimal | None = Decimal(0)
    cost_note: str = ""
    cost_basis: list[dict[str, Any]] = field(default_factory=list)
    synthetic: bool = False
    fell_back: bool = False
    streamed: bool = False
    latency_ms: int | None = None
    created_at: datetime = field(default_factory=timezone.now)
    request_key: uuid.UUID = field(default_factory=uuid.uuid4)

    def fields(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id, "alias": self.alias[:200], "user_id": self.user_id,
            "session_id": self.session_id, "provider_id": self.provider_id, "model_name": self.model_name,
            "status": self.status, "error_code": self.error_code, "error": short(self.error),
            "attempts": self.attempts, "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens, "cache_read_tokens": self.usage.cache_read_tokens,
            "cache_write_tokens": self.usage.cache_write_tokens, "reasoning_tokens": self.usage.reasoning_tokens,
            "cost": self.cost, "cost_note": self.cost_note[:300], "cost_basis": self.cost_basis,
            "synthetic": self.synthetic,
            "fell_back": self.fell_back, "streamed": self.streamed, "latency_ms": self.latency_ms,
            "created_at": self.created_at, "request_key": self.request_key,
        }


def call_record(outcome: CallOutcome, holds: list[Hold] | None = None) -> LLMCall:
    """Store one gateway call (one row per client request), count its spend in its
    session and release `holds`, at once. Outside a session it is one INSERT, its own
    transaction: no BEGIN and COMMIT round trips around it. Stored already (by a try
    whose answer was lost), the stored row."""
    try:
        if outcome.session_id is None:
            return LLMCall.objects.create(**outcome.fields())
        with transaction.atomic():
            call = LLMCall.objects.create(**outcome.fields())
            budgets.account(
                session_id=outcome.session_id, holds=holds or [], tokens=outcome.usage.total, usd=outcome.cost,
                unpriced=int(outcome.cost is None),
            )
        return call
    except IntegrityError:
        stored = LLMCall.objects.filter(request_key=outcome.request_key).first()
        if stored is None:
            raise
        return stored


def call_update(call_id: int, outcome: CallOutcome, holds: list[Hold], *, recorded: tuple[int, Decimal | None]) -> None:
    """Complete a streamed call's row once its stream has ended: the spend beyond what
    the row `recorded` (tokens, cost) when the stream began is counted with it. Outside
    a session it is one UPDATE. Only the row as the stream's start left it is updated,
    so a try repeated after its commit counts nothing twice."""
    tokens, cost = recorded
    as_started = LLMCall.objects.alias(recorded_tokens=F("input_tokens") + F("output_tokens")).filter(
        pk=call_id, recorded_tokens=tokens, cost__isnull=cost is None,
    )
    if outcome.session_id is None:
        as_started.update(**outcome.fields())
        return
    with transaction.atomic():
        if not as_started.update(**outcome.fields()):  # completed already: its holds at most
            budgets.account(session_id=outcome.session_id, holds=holds, tokens=0, usd=Decimal(0))
            return
        if cost is None:  # unknown stays unknown: counted once already
            usd, unpriced = Decimal(0), 0
        elif outcome.cost is None:
            usd, unpriced = -cost, 1
        else:
            usd, unpriced = outcome.cost - cost, 0
        budgets.account(
            session_id=outcome.session_id, holds=holds, tokens=outcome.usage.total - tokens, usd=usd,
            unpriced=unpriced,
        )
