"""Budgets: what a session's vendor requests may reserve, and how their spend is counted.

A request in a budgeted session first reserves its worst case: its prompt tokens (an
exact count, or a bound never below the vendor's: agents_llm.metering.tokens) plus its
output cap, in tokens and in dollars (prompt tokens at the input price, output tokens
at the output price). One conditional UPDATE per reservation, so concurrent requests
in any number of processes never reserve together more than the budget; a Reservation
row records it, in the same transaction.

Each of these writes may be tried again after a connection the database ended
(`db_call_durably`), and a transaction whose COMMIT was answered by a dropped
connection may have been applied: so each is idempotent. A reservation carries its
request's key (a second insert of it fails and finds the first); a shrink applies only
to the hold as it was; a call's row is stored once (agents_llm.metering.calls).

A request that would fit once other requests' reservations are settled waits for them
(`reserve` returns None; the caller polls, see gateway.budget); one that would not fit
even then is refused, and only then is the session marked over budget.

Spend is counted in the transaction that writes the call's or run's row (`account`),
which also releases its reservations: a session's spent is always the sum of its rows,
and its reserved the sum of its Reservation rows. Reservations a dead process left
behind expire; the sweep (`reservations_release_expired`) releases them.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents_llm.metering.models import MeteredSession, Reservation, SessionStatus, money
from agents_llm.metering.pricing import COST_PLACES
from providers.catalog import Price
from tradingagents.dbthreads import db_call_durably

# Below this many output tokens an answer is not worth asking for: wait or refuse instead.
MIN_OUTPUT_TOKENS = 16
# More output tokens than any model writes: a free call's cap under a USD budget alone.
NO_LIMIT = 2**31 - 1


class BudgetRefused(Exception):
    """A call that does not fit what its session has left (or whose price is unknown
    under a USD budget). `code` is the OpenAI error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Hold:
    """A request's reservation in its session: `pk` None when the session has no
    budget (nothing is reserved; spend is still counted). `max_tokens` is the output
    cap it was sized on, which must be sent to the vendor."""

    session_id: Any
    pk: int | None
    tokens: int
    usd: Decimal
    max_tokens: int | None


@dataclass(frozen=True)
class Ask:
    """A vendor request's worst case: its prompt tokens, the output cap set by the
    config or the client (None: the session's default), and per-1k prices (None:
    unknown)."""

    prompt_tokens: int
    max_tokens: int | None
    price: Price | None
    free: bool = False  # the offline provider: no price, no cost

    @property
    def in_price(self) -> Decimal:
        return Decimal(0) if self.free or self.price is None else self.price.input_per_1k

    @property
    def out_price(self) -> Decimal:
        return Decimal(0) if self.free or self.price is None else self.price.output_per_1k

    @property
    def costs_nothing(self) -> bool:
        return self.in_price == 0 and self.out_price == 0

    def usd(self, cap: int) -> Decimal:
        cost = (Decimal(self.prompt_tokens) * self.in_price + Decimal(cap) * self.out_price) / 1000
        return cost.quantize(COST_PLACES, ROUND_CEILING)


def reserve(*, session_id: Any, ask: Ask, key: uuid.UUID | None = None) -> Hold | None:
    """Reserve `ask`'s worst case in the session. Returns the Hold, or None when it
    would fit once the session's other reservations are settled (wait and ask again).
    Raises BudgetRefused when it cannot fit even then, or the session is closed.
    `key` names the request: asked again with it, an earlier success is returned (one
    committed by a try whose answer was lost stands in its own way otherwise)."""
    try:
        hold = _reserve(session_id, ask, key)
    except BudgetRefused:
        if key is None or (hold := _held(key, ask)) is None:
            raise
    if hold is None and key is not None:
        return _held(key, ask)
    return hold


def _held(key: uuid.UUID, ask: Ask) -> Hold | None:
    row = Reservation.objects.filter(key=key).first()
    return None if row is None else Hold(row.session_id, row.pk, row.tokens, row.usd, row.tokens - ask.prompt_tokens)


def _reserve(session_id: Any, ask: Ask, key: uuid.UUID | None) -> Hold | None:
    session = MeteredSession.objects.get(pk=session_id)
    if session.status == SessionStatus.CLOSED:
        raise BudgetRefused("session_closed", f"Session '{session.name}' is closed.")
    if session.budget_tokens is None and session.budget_usd is None:
        return Hold(session_id, None, 0, Decimal(0), ask.max_tokens)
    if session.budget_usd is not None and ask.price is None and not ask.free:
        raise BudgetRefused("price_unknown", (
            f"Session '{session.name}' has a budget of ${session.budget_usd.normalize():f} but this model's price is "
            "unknown, so the call's cost cannot be bounded; set per-1k prices on the agent's LLM config."
        ))
    for _ in range(5):  # again only when a concurrent request took what the cap was sized on
        now_left = _output_left(session, ask, with_reserved=True)
        ever_left = _output_left(session, ask, with_reserved=False)
        wanted = ask.max_tokens or settings.SESSION_DEFAULT_MAX_TOKENS
        if wanted <= now_left:
            cap = wanted
        elif wanted <= ever_left:
            return None  # fits once in-flight requests settle
        elif ask.max_tokens is None and now_left >= MIN_OUTPUT_TOKENS:
            cap = now_left  # the budget's last tokens: a shorter answer
        elif ask.max_tokens is None and ever_left >= MIN_OUTPUT_TOKENS:
            return None
        else:
            break
        hold = _take(session, ask, cap, key)
        if hold is not None:
            return hold
        session.refresh_from_db()
        if session.status == SessionStatus.CLOSED:
            raise BudgetRefused("session_closed", f"Session '{session.name}' is closed.")
    else:
        return None
    MeteredSession.objects.filter(pk=session_id, status=SessionStatus.OPEN).update(status=SessionStatus.OVER_BUDGET)
    session.refresh_from_db()
    raise BudgetRefused("budget_exceeded", _over_budget_message(session, ask))


async def areserve(*, session_id: Any, ask: Ask) -> Hold:
    """`reserve`, waiting up to SESSION_BUDGET_WAIT_SECONDS while other requests'
    reservations stand in the way. Raises BudgetRefused."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.SESSION_BUDGET_WAIT_SECONDS
    key = uuid.uuid4()
    pause = 0.01
    while True:
        hold = await db_call_durably(reserve, session_id=session_id, ask=ask, key=key)
        if hold is not None:
            return hold
        left = deadline - loop.time()
        if left <= 0:
            raise BudgetRefused("budget_wait_timeout", (
                f"Waited {settings.SESSION_BUDGET_WAIT_SECONDS:g} s for other calls in this session to finish: "
                "the budget fits this call only once they do. Try again."
            ))
        event = _waiting.setdefault((loop, session_id), asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), min(pause, left))
        except TimeoutError:
            pass
        pause = min(pause * 2, POLL_MAX_SECONDS)


# Longest pause between two looks at a session a request waits in: requests of other
# processes settle without telling this one.
POLL_MAX_SECONDS = 0.25
# Requests of this process waiting in a session, woken when one of its requests settles.
_waiting: dict[tuple[asyncio.AbstractEventLoop, Any], asyncio.Event] = {}


def settled(session_id: Any) -> None:
    """Wake this loop's requests waiting in the session: its reservations changed."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    event = _waiting.pop((loop, session_id), None)
    if event is not None:
        event.set()


def _output_left(session: MeteredSession, ask: Ask, *, with_reserved: bool) -> int:
    """The most output tokens the session's budgets leave after this prompt, counting
    what is spent (and reserved, `with_reserved`)."""
    caps = [NO_LIMIT]
    if session.budget_tokens is not None:
        used = session.spent_tokens + (session.reserved_tokens if with_reserved else 0)
        caps.append(session.budget_tokens - used - ask.prompt_tokens)
    if session.budget_usd is not None and not ask.costs_nothing:
        used_usd = session.spent_usd + (session.reserved_usd if with_reserved else 0)
        left = session.budget_usd - used_usd - Decimal(ask.prompt_tokens) * ask.in_price / 1000
        caps.append(-1 if left < 0 else int(left * 1000 / ask.out_price) if ask.out_price else NO_LIMIT)
    return min(caps)


def _take(session: MeteredSession, ask: Ask, cap: int, key: uuid.UUID | None) -> Hold | None:
    tokens, usd = ask.prompt_tokens + cap, ask.usd(cap)
    fits = MeteredSession.objects.filter(pk=session.pk).exclude(status=SessionStatus.CLOSED)
    if session.budget_tokens is not None:
        fits = fits.filter(budget_tokens__gte=F("spent_tokens") + F("reserved_tokens") + tokens)
    if session.budget_usd is not None and usd:
        fits = fits.filter(budget_usd__gte=F("spent_usd") + F("reserved_usd") + money(usd))
    try:
        with transaction.atomic():
            row = Reservation.objects.create(
                key=key, session_id=session.pk, tokens=tokens, usd=usd,
                expires_at=timezone.now() + timedelta(seconds=settings.SESSION_RESERVATION_TTL_SECONDS),
            )
            if not fits.update(
                reserved_tokens=F("reserved_tokens") + tokens, reserved_usd=F("reserved_usd") + money(usd),
            ):
                transaction.set_rollback(True)
                return None
    except IntegrityError:  # this request's reservation, committed by a try whose answer was lost
        hold = _held(key, ask) if key is not None else None
        if hold is None:
            raise
        return hold
    return Hold(session.pk, row.pk, tokens, usd, cap)


def _over_budget_message(session: MeteredSession, ask: Ask) -> str:
    parts = []
    if session.budget_tokens is not None:
        parts.append(f"{session.budget_tokens} tokens, {max(session.budget_tokens - session.spent_tokens, 0)} not spent")
    if session.budget_usd is not None:
        left_usd = max(session.budget_usd - session.spent_usd, Decimal(0))
        parts.append(f"${session.budget_usd.normalize():f}, ${left_usd.normalize():f} not spent")
    cap = ask.max_tokens or MIN_OUTPUT_TOKENS
    return (
        f"Budget exceeded in session '{session.name}' ({session.pk}): its budget is {'; '.join(parts)}, and this "
        f"call needs {ask.prompt_tokens} prompt tokens plus {cap}{'' if ask.max_tokens else ' or more'} output tokens "
        f"(up to ${ask.usd(cap).normalize():f}). The session is now over budget; raise its budget to go on."
    )


def shrink(hold: Hold, tokens: int, usd: Decimal | None) -> None:
    """Hold only what a finished request used (tokens, dollars: None = its price is
    unknown, keep the dollars), until its row is written."""
    if hold.pk is None:
        return
    usd = hold.usd if usd is None else usd
    with transaction.atomic():  # only the hold as it was: tried again after its commit, a no-op
        if Reservation.objects.filter(pk=hold.pk, tokens=hold.tokens, usd=hold.usd).update(tokens=tokens, usd=usd):
            MeteredSession.objects.filter(pk=hold.session_id).update(
                reserved_tokens=F("reserved_tokens") - hold.tokens + tokens,
                reserved_usd=F("reserved_usd") - money(hold.usd) + money(usd),
            )
    hold.tokens, hold.usd = tokens, usd


def account(
    *, session_id: Any, holds: list[Hold], tokens: int, usd: Decimal | None, unpriced: int = 0,
) -> None:
    """Count a row's spend in its session and release its holds. Call it inside the
    transaction that writes the row: spent stays the sum of the rows. A hold the sweep
    already released is not released twice."""
    released_tokens, released_usd = 0, Decimal(0)
    for hold in holds:
        if hold.pk is not None and Reservation.objects.filter(pk=hold.pk).delete()[0]:
            released_tokens += hold.tokens
            released_usd += hold.usd
    MeteredSession.objects.filter(pk=session_id).update(
        spent_tokens=F("spent_tokens") + tokens,
        spent_usd=F("spent_usd") + money(usd or Decimal(0)),
        reserved_tokens=F("reserved_tokens") - released_tokens,
        reserved_usd=F("reserved_usd") - money(released_usd),
        unpriced_calls=F("unpriced_calls") + unpriced,
    )


def reservations_release_expired(*, now: Any = None) -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS): release the reservations whose process
    never settled them (it died, or lost its database for longer than their TTL)."""
    now = now or timezone.now()
    released = 0
    for row in Reservation.objects.filter(expires_at__lte=now).only("pk", "session_id", "tokens", "usd"):
        with transaction.atomic():
            if Reservation.objects.filter(pk=row.pk).delete()[0]:
                MeteredSession.objects.filter(pk=row.session_id).update(
                    reserved_tokens=F("reserved_tokens") - row.tokens, reserved_usd=F("reserved_usd") - money(row.usd),
                )
                released += 1
    return {"released": released}
