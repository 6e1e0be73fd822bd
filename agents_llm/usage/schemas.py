"""Request and response shapes of the usage API."""

from __future__ import annotations

from datetime import date
from typing import Literal

from ninja import Field, Schema

from tradingagents.schemas import Money

# Usage ----------------------------------------------------------------------------


class UsageFilters(Schema):
    group_by: Literal["agent", "provider", "model", "day", "session"] = "agent"
    date_from: date | None = Field(None, description="On or after this day (UTC); default: 30 days ago.")
    date_to: date | None = Field(None, description="On or before this day (UTC); default: today.")


class UsageRow(Schema):
    key: str | None = Field(..., description="Agent name, provider name, model name, ISO day or session id.")
    label: str = Field("", description="For people: e.g. a session's name.")
    runs: int
    calls: int = Field(..., description="Gateway calls.")
    requests: int
    input_tokens: int = Field(..., description="All prompt tokens, cached ones included.")
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: Money = Field(..., description="USD over the runs and calls whose price is known.")
    runs_without_cost: int = Field(..., description="Runs and calls whose price is unknown (not counted in cost).")
    failed: int = Field(..., description="Failed runs, failed or refused calls.")
    fell_back: int = Field(..., description="Answered by a model after the first of the chain.")


class UsageOut(Schema):
    group_by: str
    date_from: date
    date_to: date
    rows: list[UsageRow]
    total: UsageRow
