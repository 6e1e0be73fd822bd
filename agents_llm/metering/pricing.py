"""What a model response cost.

One place prices usage (runs and gateway calls alike): the LLM config's explicit
per-1k prices when it sets them, else the price catalog (genai-prices) on the full
usage — cached and cache-write input tokens included — at the time of the request,
else unknown: None with the reason, never a silent 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from providers import catalog

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
