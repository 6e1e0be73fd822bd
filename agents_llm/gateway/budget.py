"""Budgets on the gateway path: every vendor request of a call in a session is reserved
before it is sent and settled when its answer (or failure) comes back
(agents_llm.metering.sessions decides; this is the event-loop side of it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from agents_llm.agents.chain import Link, worst_case_price
from agents_llm.metering import pricing, sessions
from agents_llm.metering.sessions import Reservation
from tradingagents.dbthreads import db_call


@dataclass
class Meter:
    session_id: Any
    prompt_tokens: int

    async def reserve(self, link: Link, max_tokens: int | None) -> Reservation:
        """Raises sessions.BudgetRefused when the request does not fit."""
        return await db_call(
            sessions.reserve, session_id=self.session_id, prompt_tokens=self.prompt_tokens, max_tokens=max_tokens,
            price=worst_case_price(link), synthetic=link.offline,
            ceiling=settings.SESSION_MAX_OUTPUT_TOKENS,
        )

    async def settle(self, reservation: Reservation | None, link: Link, usage: pricing.TokenUsage) -> None:
        cost = pricing.price(link.price, usage).cost
        await db_call(sessions.settle, reservation=reservation, session_id=self.session_id, usage=usage, cost=cost)
