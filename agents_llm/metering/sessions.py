"""Sessions: one piece of work's spend, and the budgets its calls and runs may not exceed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db.models import F
from django.utils import timezone

from agents_llm.metering.models import MeteredSession, SessionStatus
from agents_llm.metering.pricing import COST_PLACES, TokenUsage
from providers.catalog import Price
from tradingagents import events
from tradingagents.services import token_hash

SESSION_TOKEN_PREFIX = "tas_"
# Below this many output tokens an answer is not worth asking for: refuse instead.
MIN_OUTPUT_TOKENS = 16


class BudgetRefused(Exception):
    """A call that does not fit what its session has left (or whose price is unknown
    under a USD budget). `code` is the OpenAI error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    session.full_clean()
    session.save()
    _publish(session)
    return session, token


def session_close(*, session: MeteredSession) -> MeteredSession:
    if session.status != SessionStatus.CLOSED:
        MeteredSession.objects.filter(pk=session.pk).update(status=SessionStatus.CLOSED, closed_at=timezone.now())
        session.refresh_from_db()
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


@dataclass(frozen=True)
class Reservation:
    session_id: Any
    tokens: int
    usd: Decimal
    max_tokens: int | None  # the output cap that was reserved (and must be sent)


def reserve(
    *, session_id: Any, prompt_tokens: int, max_tokens: int | None, price: Price | None, synthetic: bool,
    ceiling: int,
) -> Reservation:
    """Reserve the worst case of one vendor request in the session: `prompt_tokens`
    (an upper bound of what the vendor will count) plus its output cap, in tokens and,
    at `price` (the most a token of this model costs), in dollars. One conditional
    UPDATE: concurrent requests in any number of processes can never reserve together
    more than the budget. Without a cap, the cap is what the budget leaves (at most
    `ceiling`); the returned reservation's `max_tokens` must be sent to the vendor."""
    session = MeteredSession.objects.get(pk=session_id)
    if session.status == SessionStatus.CLOSED:
        raise BudgetRefused("session_closed", f"Session '{session.name}' is closed.")
    if session.budget_usd is not None and price is None and not synthetic:
        raise BudgetRefused("price_unknown", (
            f"Session '{session.name}' has a budget of ${session.budget_usd.normalize():f} but this model's price is "
            "unknown, so the call's cost cannot be bounded; set per-1k prices on the agent's LLM config."
        ))
    in_price = Decimal(0) if synthetic or price is None else price.input_per_1k
    out_price = Decimal(0) if synthetic or price is None else price.output_per_1k
    for _ in range(5):  # repeated only when a concurrent call took what the cap was sized on
        left = _cap_left(session, prompt_tokens, in_price, out_price)
        cap = max_tokens or (None if left is None else min(left, ceiling))
        if cap is not None and cap < (1 if max_tokens else MIN_OUTPUT_TOKENS):
            break
        tokens = prompt_tokens + (cap or 0)
        usd = ((Decimal(prompt_tokens) * in_price + Decimal(cap or 0) * out_price) / 1000).quantize(
            COST_PLACES, ROUND_CEILING
        )
        fits = MeteredSession.objects.filter(pk=session_id, status=SessionStatus.OPEN)
        if session.budget_tokens is not None:
            fits = fits.filter(budget_tokens__gte=F("spent_tokens") + F("reserved_tokens") + tokens)
        if session.budget_usd is not None:
            fits = fits.filter(budget_usd__gte=F("spent_usd") + F("reserved_usd") + usd)
        if fits.update(reserved_tokens=F("reserved_tokens") + tokens, reserved_usd=F("reserved_usd") + usd):
            return Reservation(session_id, tokens, usd, cap)
        session.refresh_from_db()
        if max_tokens or session.status != SessionStatus.OPEN:
            break
    session.refresh_from_db()
    if session.status == SessionStatus.CLOSED:
        raise BudgetRefused("session_closed", f"Session '{session.name}' is closed.")
    MeteredSession.objects.filter(pk=session_id, status=SessionStatus.OPEN).update(status=SessionStatus.OVER_BUDGET)
    session.refresh_from_db()
    _publish(session)
    raise BudgetRefused("budget_exceeded", _over_budget_message(session, prompt_tokens))


def _budgeted(session: MeteredSession) -> bool:
    return session.budget_tokens is not None or session.budget_usd is not None


def _cap_left(session: MeteredSession, prompt_tokens: int, in_price: Decimal, out_price: Decimal) -> int | None:
    """The most output tokens the session's budgets leave after this prompt (None: no cap)."""
    caps: list[int] = []
    if session.budget_tokens is not None:
        caps.append(session.budget_tokens - session.spent_tokens - session.reserved_tokens - prompt_tokens)
    if session.budget_usd is not None:
        left = session.budget_usd - session.spent_usd - session.reserved_usd - Decimal(prompt_tokens) * in_price / 1000
        caps.append(int(left * 1000 / out_price) if out_price else 1_000_000 if left >= 0 else -1)
    return min(caps) if caps else None


def _over_budget_message(session: MeteredSession, prompt_tokens: int) -> str:
    parts = []
    if session.budget_tokens is not None:
        left = session.budget_tokens - session.spent_tokens - session.reserved_tokens
        parts.append(f"{session.budget_tokens} tokens, {max(left, 0)} left")
    if session.budget_usd is not None:
        left_usd = session.budget_usd - session.spent_usd - session.reserved_usd
        parts.append(f"${session.budget_usd.normalize():f}, ${max(left_usd, Decimal(0)).normalize():f} left")
    return (
        f"Budget exceeded in session '{session.name}' ({session.pk}): its budget is {'; '.join(parts)}, and this "
        f"call needs {prompt_tokens} prompt tokens plus its answer. The session is now over budget."
    )


def settle(*, reservation: Reservation | None, session_id: Any, usage: TokenUsage, cost: Decimal | None) -> None:
    """Replace a reservation by what the request actually used (or record spend in a
    session without budgets). A failed request settles to its usage too: 0 if the
    vendor billed nothing."""
    changes: dict[str, Any] = {
        "spent_tokens": F("spent_tokens") + usage.total,
        "spent_usd": F("spent_usd") + (cost or 0),
    }
    if reservation is not None:
        changes["reserved_tokens"] = F("reserved_tokens") - reservation.tokens
        changes["reserved_usd"] = F("reserved_usd") - reservation.usd
    if cost is None:
        changes["unpriced_calls"] = F("unpriced_calls") + 1
    MeteredSession.objects.filter(pk=session_id).update(**changes)


def session_publish(session_id: Any) -> None:
    session = MeteredSession.objects.filter(pk=session_id).first()
    if session is not None:
        _publish(session)
