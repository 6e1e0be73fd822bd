"""Request and response shapes of the prices API (daily closes)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import PlainSerializer

from agents_llm.experiments.models import CloseSource
from agents_llm.experiments.prices import CLOSE_PLACES, MAX_BARS

SourceName = Literal[tuple(CloseSource.values)]  # type: ignore[valid-type]
# A close out of the API as a plain decimal string without trailing zeros: "181.59".
Close = Annotated[Decimal, PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str)]


class BarIn(Schema):
    date: dt.date = Field(..., description="The trading day (not in the future).")
    close: Decimal = Field(..., gt=0, max_digits=20, decimal_places=CLOSE_PLACES,
                           description=f"The day's close, more than 0, at most {CLOSE_PLACES} decimal places.")


class PricesIn(Schema):
    symbol: str = Field(..., min_length=1, max_length=16, description="e.g. NVDA, SPY, ^GSPC (upper-cased).")
    bars: list[BarIn] = Field(..., min_length=1, max_length=MAX_BARS,
                              description=f"At most {MAX_BARS} closes, each date once.")


class PricesOut(Schema):
    symbol: str
    created: int = Field(..., description="Closes of new days.")
    updated: int = Field(..., description="Stored closes replaced by another value.")
    outcomes_resolved: int = Field(..., description="Outcomes resolved (or recomputed) with these closes.")


class CloseOut(Schema):
    symbol: str
    date: dt.date
    close: Close
    source: str = Field(..., description="api, upload or live.")
    updated_at: dt.datetime


class PriceFilters(Schema):
    symbol: str | None = Field(None, max_length=16)
    start: dt.date | None = Field(None, description="First day (inclusive).")
    end: dt.date | None = Field(None, description="Last day (inclusive).")
    source: SourceName | None = None


class MissingClose(Schema):
    symbol: str
    date: dt.date


class MissingOut(Schema):
    analysis: int = Field(..., description="The analysis whose outcome is pending.")
    ticker: str
    trade_date: dt.date
    market_data: str
    benchmark: str
    start_date: dt.date | None = Field(..., description="Its holding window's first trading day.")
    end_date: dt.date | None = Field(..., description="Its holding window's last trading day.")
    pending: str = Field(..., description="Why it is pending.")
    missing: list[MissingClose] = Field(..., description="The closes to post (empty until the window has closed).")

    @staticmethod
    def resolve_analysis(obj: Any) -> int:
        return obj.analysis_id

    @staticmethod
    def resolve_ticker(obj: Any) -> str:
        return obj.analysis.ticker

    @staticmethod
    def resolve_trade_date(obj: Any) -> dt.date:
        return obj.analysis.trade_date

    @staticmethod
    def resolve_market_data(obj: Any) -> str:
        return obj.analysis.market_data

    @staticmethod
    def resolve_pending(obj: Any) -> str:
        return obj.pending_reason or "Not checked yet."

    @staticmethod
    def resolve_missing(obj: Any) -> list[dict[str, Any]]:
        items = []
        for label in obj.missing or []:
            symbol, _, day = label.rpartition(" ")
            items.append({"symbol": symbol, "date": day})
        return items
