"""What a model response cost, and the record of every gateway call.

One place prices usage (runs and gateway calls alike): the LLM config's explicit
per-1k prices when it sets them, else the price catalog (genai-prices) on the full
usage — cached and cache-write input tokens included — at the time of the request,
else unknown: None with the reason, never a silent 0.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db.models import F
from django.utils import timezone

from agents_llm.models import CallStatus, LLMCall, MeteredSession, SessionStatus
from providers import catalog
from providers.catalog import Price
from tradingagents import events, row_writes
from tradingagents.services import token_hash

logger = logging.getLogger(__name__)

COST_PLACES = Decimal("0.00000001")
MESSAGE_LIMIT = 500


@dataclass
class TokenUsage:
    """Tokens of one or more responses. `input_tokens` counts every prompt token,
    cached ones included (as OpenAI's `prompt_tokens` and genai-prices do)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens, "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    def __iadd__(self, other: TokenUsage) -> TokenUsage:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        return self

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_openai(cls, usage: Any) -> TokenUsage:
        """From an OpenAI-protocol `usage` object (vendors differ in the details)."""
        if not isinstance(usage, dict):
            return cls()
        prompt = usage.get("prompt_tokens_details") or {}
        completion = usage.get("completion_tokens_details") or {}
        return cls(
            input_tokens=_count(usage.get("prompt_tokens")),
            output_tokens=_count(usage.get("completion_tokens")),
            # DeepSeek reports cache hits at the top level.
            cache_read_tokens=_count(prompt.get("cached_tokens") or usage.get("prompt_cache_hit_tokens")),
            cache_write_tokens=_count(prompt.get("cache_write_tokens") or prompt.get("cache_creation_tokens")),
            reasoning_tokens=_count(completion.get("reasoning_tokens")),
        )

    @classmethod
    def from_pydantic(cls, usage: Any) -> TokenUsage:
        """From PydanticAI's RequestUsage (its input_tokens include cache reads/writes)."""
        details = getattr(usage, "details", None) or {}
        return cls(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=usage.cache_read_tokens or 0,
            cache_write_tokens=usage.cache_write_tokens or 0,
            reasoning_tokens=_count(details.get("reasoning_tokens")),
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True)
class PriceSource:
    """How one model is priced: its config's explicit prices, or the catalog's."""

    provider_type: str
    model_name: str
    input_per_1k: Decimal | None = None
    output_per_1k: Decimal | None = None
    cached_input_per_1k: Decimal | None = None

    @property
    def synthetic(self) -> bool:
        return self.provider_type == "offline"

    @property
    def explicit(self) -> bool:
        return self.input_per_1k is not None and self.output_per_1k is not None


@dataclass
class Priced:
    cost: Decimal | None
    note: str
    sources: set[str] = field(default_factory=set)
    # Per response: its usage and what priced it (see AgentRun.cost_basis).
    basis: list[dict[str, Any]] = field(default_factory=list)


def price(source: PriceSource, usage: TokenUsage, *, at: datetime | None = None) -> Priced:
    """Cost of one response (None = unknown, with the reason)."""
    priced = _price(source, usage, at=at)
    entry: dict[str, Any] = {
        "provider_type": source.provider_type, "model": source.model_name, "usage": usage.as_dict(),
        "source": next(iter(priced.sources), "unknown"), "at": (at or timezone.now()).isoformat(),
        "cost": None if priced.cost is None else format(priced.cost, "f"),
    }
    if "config" in priced.sources:
        entry["prices_per_1k"] = {
            "input": format(source.input_per_1k, "f"), "output": format(source.output_per_1k, "f"),
            "cached_input": None if source.cached_input_per_1k is None else format(source.cached_input_per_1k, "f"),
        }
    elif "catalog" in priced.sources:
        entry["catalog"] = catalog.catalog_version()
    priced.basis = [entry]
    return priced


def _price(source: PriceSource, usage: TokenUsage, *, at: datetime | None) -> Priced:
    if source.synthetic:
        return Priced(Decimal(0), "Offline provider: synthetic output, no cost.", {"offline"})
    if source.explicit:
        assert source.input_per_1k is not None and source.output_per_1k is not None
        cached = min(usage.cache_read_tokens, usage.input_tokens)
        cached_price = source.cached_input_per_1k if source.cached_input_per_1k is not None else source.input_per_1k
        cost = (
            Decimal(usage.input_tokens - cached) * source.input_per_1k
            + Decimal(cached) * cached_price
            + Decimal(usage.output_tokens) * source.output_per_1k
        ) / 1000
        note = "From the LLM config's per-1k prices."
        if cached and source.cached_input_per_1k is None:
            note = "From the LLM config's per-1k prices (cached input tokens at the input price: the config sets no cached price)."
        return Priced(cost.quantize(COST_PLACES), note, {"config"})
    cost = catalog.cost_of_usage(
        source.provider_type, source.model_name,
        input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens, at=at,
    )
    if cost is None:
        return Priced(None, short(
            f"Unknown price for '{source.model_name}' ({source.provider_type}): the price catalog does not list it; "
            "set per-1k prices on the LLM config."
        ))
    return Priced(cost.quantize(COST_PLACES), "From the price catalog.", {"catalog"})


def price_all(responses: list[tuple[PriceSource, TokenUsage]], *, at: datetime | None = None) -> Priced:
    """Cost of every response a call or run was billed for: unknown when any is."""
    if not responses:
        return Priced(Decimal(0), "No model returned a response, so nothing was billed.")
    total = Decimal(0)
    unknown: list[str] = []
    notes: list[str] = []
    sources: set[str] = set()
    basis: list[dict[str, Any]] = []
    for source, usage in responses:
        priced = price(source, usage, at=at)
        basis += priced.basis
        if priced.cost is None:
            unknown.append(priced.note)
            continue
        total += priced.cost
        sources |= priced.sources
        notes.append(priced.note)
    if unknown:
        return Priced(None, short(" ".join(sorted(set(unknown)))), basis=basis)
    if sources == {"offline"}:
        return Priced(Decimal(0), "Offline provider: synthetic output, no cost.", sources, basis)
    if len(set(notes)) == 1:
        return Priced(total.quantize(COST_PLACES), notes[0], sources, basis)
    names = {"config": "the LLM config's per-1k prices", "catalog": "the price catalog", "offline": "offline (free)"}
    note = "From " + " and ".join(names[s] for s in sorted(sources)) + "."
    return Priced(total.quantize(COST_PLACES), note, sources, basis)


def reprice_basis(basis: list[dict[str, Any]]) -> tuple[Decimal | None, list[dict[str, Any]]]:
    """The cost of stored responses at today's catalog: catalog-priced responses are
    priced again (at their own time), config-priced and offline ones keep what they
    cost. Returns (total, new basis)."""
    total: Decimal | None = Decimal(0)
    fresh: list[dict[str, Any]] = []
    for entry in basis:
        entry = dict(entry)
        if entry.get("source") in ("catalog", "unknown"):
            usage = TokenUsage(**entry["usage"])
            at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
            priced = price(PriceSource(entry["provider_type"], entry["model"]), usage, at=at)
            entry = {**priced.basis[0], "at": entry.get("at")}
        fresh.append(entry)
        if total is not None:
            total = None if entry.get("cost") is None else total + Decimal(entry["cost"])
    return (None if total is None else total.quantize(COST_PLACES)), fresh


def short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


# Gateway calls -------------------------------------------------------------------------


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
            "created_at": self.created_at,
        }


def call_record(outcome: CallOutcome) -> LLMCall:
    """Store one gateway call (one row per client request)."""
    call = LLMCall(**outcome.fields())
    row_writes.insert(call, result=True)  # save(), with its INSERT compiled once
    return call


async def call_record_on_loop(outcome: CallOutcome) -> LLMCall:
    """call_record(), from the caller's event loop (where row_writes.on_loop(LLMCall))."""
    call = LLMCall(**outcome.fields())
    await row_writes.insert_on_loop(call, result=True)
    return call


def call_update(call_id: int, outcome: CallOutcome) -> None:
    """Complete a streamed call's row once its stream has ended."""
    LLMCall.objects.filter(pk=call_id).update(**outcome.fields())


# Sessions and budgets ---------------------------------------------------------------------

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
    metadata: dict[str, Any] | None = None,
) -> tuple[MeteredSession, str]:
    """Open a session. Returns (session, token); only a hash of the token is stored, so
    this is the only moment it can be shown."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = MeteredSession(
        owner=owner, name=name, budget_usd=budget_usd, budget_tokens=budget_tokens, metadata=metadata or {},
        token_prefix=token[:10], token_hash=token_hash(token),
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
