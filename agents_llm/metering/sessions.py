"""Sessions: one piece of work's spend, and the budgets its calls and runs may not exceed."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents_llm.metering.models import MeteredSession, SessionStatus
from tradingagents import events
from tradingagents.services import token_hash

SESSION_TOKEN_PREFIX = "tas_"


def session_create(
    *, owner: Any, name: str, budget_usd: Decimal | None = None, budget_tokens: int | None = None,
    metadata: dict[str, Any] | None = None, lineup_id: int | None = None,
) -> tuple[MeteredSession, str]:
    """Open a session (with `lineup_id`, its calls for the agents the lineup names are
    routed by it). Returns (session, token); only a hash of the token is stored, so
    this is the only moment it can be shown."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = MeteredSession(
        owner=owner, name=name, budget_usd=budget_usd, budget_tokens=budget_tokens, metadata=metadata or {},
        token_prefix=token[:10], token_hash=token_hash(token), lineup_id=lineup_id,
    )
    # Not checked again: the owner given (a user), the token's hash (32 random bytes).
    session.full_clean(exclude=["owner", "token_hash", "token_prefix"])
    session.save()
    _publish(session)
    return session, token


def session_token_rotate(*, session: MeteredSession) -> str:
    """A new token for the session; the old one stops working at once. Returns it (only
    its hash is stored)."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    MeteredSession.objects.filter(pk=session.pk).update(token_prefix=token[:10], token_hash=token_hash(token))
    session.token_prefix, session.token_hash = token[:10], token_hash(token)
    return token


def session_close(*, session: MeteredSession) -> MeteredSession:
    if session.status != SessionStatus.CLOSED:
        MeteredSession.objects.filter(pk=session.pk).update(status=SessionStatus.CLOSED, closed_at=timezone.now())
        session.refresh_from_db()
        _publish(session)
    return session


def session_set_budget(
    *, session: MeteredSession, changes: dict[str, Any], user: Any = None,
) -> MeteredSession:
    """Change a session's budgets (`budget_usd`, `budget_tokens`; None removes one).
    Changing a budget re-opens an over-budget session: its next call is admitted or
    refused by the new numbers. A closed session stays closed. Recorded in the
    session's history with who changed it. Raises ValidationError naming the field."""
    unknown = set(changes) - {"budget_usd", "budget_tokens"}
    if unknown:
        raise ValidationError({name: "Only budget_usd and budget_tokens can be changed." for name in sorted(unknown)})
    if session.status == SessionStatus.CLOSED:
        raise ValidationError({"status": f"Session '{session.name}' is closed: its budget can no longer change."})
    with transaction.atomic():
        session = MeteredSession.objects.select_for_update().get(pk=session.pk)
        for name, value in changes.items():
            setattr(session, name, value)
        if session.status == SessionStatus.OVER_BUDGET:
            session.status = SessionStatus.OPEN
        session.full_clean(exclude=["owner", "token_hash", "token_prefix"])
        session._history_user = user  # simple-history's documented way to name who changed it
        session.save(update_fields=["budget_usd", "budget_tokens", "status"])
    _publish(session)
    return session


def session_for_token(token: str) -> MeteredSession | None:
    """The open (or over-budget) session a session token belongs to; None once closed."""
    if not token.startswith(SESSION_TOKEN_PREFIX):
        return None
    return (
        MeteredSession.objects.filter(token_hash=token_hash(token))
        .exclude(status=SessionStatus.CLOSED)
        .select_related("owner")
        .first()
    )


def session_event_data(session: MeteredSession) -> dict[str, Any]:
    return {
        "id": str(session.pk), "name": session.name, "status": session.status,
        "budget_usd": None if session.budget_usd is None else format(session.budget_usd, "f"),
        "budget_tokens": session.budget_tokens, "spent_usd": format(session.spent_usd, "f"),
        "spent_tokens": session.spent_tokens, "reserved_usd": format(session.reserved_usd, "f"),
        "reserved_tokens": session.reserved_tokens,
    }


def _publish(session: MeteredSession) -> None:
    events.publish("sessions", "session.updated", str(session.pk), session_event_data(session))


def session_publish(session_id: Any) -> None:
    session = MeteredSession.objects.filter(pk=session_id).first()
    if session is not None:
        _publish(session)
