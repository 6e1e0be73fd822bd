"""Budgets on the gateway path: every vendor request of a call in a session is reserved
before it is sent and settled when its answer (or failure) comes back
(agents_llm.metering decides; this is the event-loop side of it)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from agents_llm import metering
from agents_llm.gateway.routing import Target
from agents_llm.metering import Reservation, TokenUsage
from agents_llm.runner import db_call
from providers import catalog
from providers.catalog import Price


def worst_price(target: Target) -> Price | None:
    """The most a token of `target` can cost (None: unknown)."""
    source = target.price
    if target.offline:
        return Price(Decimal(0), Decimal(0))
    if source is not None and source.explicit:
        assert source.input_per_1k is not None and source.output_per_1k is not None
        return Price(max(source.input_per_1k, source.cached_input_per_1k or Decimal(0)), source.output_per_1k)
    return catalog.worst_price_per_1k(target.provider_type, target.model_name)


@dataclass
class Meter:
    session_id: Any
    prompt_tokens: int

    async def reserve(self, target: Target, max_tokens: int | None) -> Reservation:
        """Raises metering.BudgetRefused when the request does not fit."""
        return await db_call(
            metering.reserve, session_id=self.session_id, prompt_tokens=self.prompt_tokens, max_tokens=max_tokens,
            price=worst_price(target), synthetic=target.offline, ceiling=settings.SESSION_MAX_OUTPUT_TOKENS,
        )

    async def settle(self, reservation: Reservation | None, target: Target, usage: TokenUsage) -> None:
        assert target.price is not None
        cost = metering.price(target.price, usage).cost
        await db_call(metering.settle, reservation=reservation, session_id=self.session_id, usage=usage, cost=cost)
