"""What a model response cost, and the record of every gateway call.

One place prices usage (runs and gateway calls alike): the LLM config's explicit
per-1k prices when it sets them, else the price catalog (genai-prices) on the full
usage — cached and cache-write input tokens included — at the time of the request,
else unknown: None with the reason, never a silent 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from agents_llm.models import CallStatus, LLMCall
from providers import catalog

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


def price(source: PriceSource, usage: TokenUsage, *, at: datetime | None = None) -> Priced:
    """Cost of one response (None = unknown, with the reason)."""
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
    sources: set[str] = set()
    for source, usage in responses:
        priced = price(source, usage, at=at)
        if priced.cost is None:
            unknown.append(priced.note)
            continue
        total += priced.cost
        sources |= priced.sources
    if unknown:
        return Priced(None, short(" ".join(sorted(set(unknown)))))
    if sources == {"offline"}:
        return Priced(Decimal(0), "Offline provider: synthetic output, no cost.", sources)
    names = {"config": "the LLM config's per-1k prices", "catalog": "the price catalog", "offline": "offline (free)"}
    return Priced(total.quantize(COST_PLACES), "From " + " and ".join(names[s] for s in sorted(sources)) + ".", sources)


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
            "cost": self.cost, "cost_note": self.cost_note[:300], "synthetic": self.synthetic,
            "fell_back": self.fell_back, "streamed": self.streamed, "latency_ms": self.latency_ms,
            "created_at": self.created_at,
        }


def call_record(outcome: CallOutcome) -> LLMCall:
    """Store one gateway call (one row per client request)."""
    return LLMCall.objects.create(**outcome.fields())


def call_update(call_id: int, outcome: CallOutcome) -> None:
    """Complete a streamed call's row once its stream has ended."""
    LLMCall.objects.filter(pk=call_id).update(**outcome.fields())
