"""Request and response shapes of the analyses API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema

from agents_llm.analyses.models import OFFLINE_LABEL, AnalysisStatus, MarketData, Rating
from agents_llm.analyses.selectors import analysis_outcome, analysis_roles
from agents_llm.analyses.services import MAX_HOLDING_DAYS
from tradingagents.schemas import Money

StatusName = Literal[tuple(AnalysisStatus.values)]  # type: ignore[valid-type]
RatingName = Literal[tuple(Rating.values)]  # type: ignore[valid-type]
MarketDataName = Literal[tuple(MarketData.values)]  # type: ignore[valid-type]


class AnalysisIn(Schema):
    ticker: str = Field(..., min_length=1, max_length=16, description="e.g. NVDA.")
    trade_date: date = Field(..., description="The day analysed (not in the future).")
    lineup: str | None = Field(None, min_length=1, max_length=64,
                               description="A lineup's name; null: the agents' current configs.")
    budget_usd: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=8, description="USD, e.g. \"0.50\".")
    budget_tokens: int | None = Field(None, gt=0, le=2**62, description="Input plus output tokens.")
    market_data: MarketDataName = Field(
        "live", description="live: TradingAgents fetches its own data; offline: empty data (not for decisions).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="analysts (market, social, news, fundamentals), debate_rounds, risk_rounds.",
    )
    benchmark: str = Field("SPY", min_length=1, max_length=16,
                           description="Its outcome's alpha is measured against this symbol.")
    holding_days: int = Field(5, ge=1, le=MAX_HOLDING_DAYS,
                              description="Its outcome's holding window, in trading days from the trade date.")


class RoleOut(Schema):
    agent: str | None = Field(..., description="The agent answering this graph node.")
    node: str = Field(..., description="TradingAgents' graph node, e.g. \"Bull Researcher\".")
    provider: str = Field(..., description="The provider it was routed to at launch.")
    model: str = Field(..., description="The vendor model it was routed to at launch.")
    status: str = Field(..., description="waiting, running, done or failed.")
    calls: int
    tokens: int
    cost_usd: Money
    latency_ms: int
    answered_by: list[str] = Field(..., description="provider/model of what answered its calls.")


class OutcomeResolvedOut(Schema):
    raw_return: float = Field(..., description="The ticker's return over the window, (end - start) / start.")
    benchmark: str
    benchmark_return: float
    alpha: float = Field(..., description="raw_return - benchmark_return.")
    holding_days: int = Field(..., description="Trading days from start_date to end_date.")
    position: float = Field(..., description="From the rating: Buy 1, Overweight 0.5, Hold 0, Underweight -0.5, Sell -1.")
    decision_alpha: float = Field(..., description="position × alpha.")
    hit: bool | None = Field(..., description="Whether the decision earned a positive alpha; null for Hold.")
    start_date: date
    end_date: date


class OutcomePendingOut(Schema):
    pending: str = Field(..., description="Why it has no outcome yet (e.g. which closes are missing).")


class AnalysisOut(Schema):
    id: int
    ticker: str
    trade_date: date
    lineup: str | None
    status: str
    rating: str
    decision: str
    market_data: str
    market_data_note: str | None = Field(..., description="Set when its market data was not real.")
    options: dict[str, Any]
    benchmark: str
    holding_days: int
    experiment: int | None = Field(..., description="The experiment it is a cell of.")
    outcome: OutcomeResolvedOut | OutcomePendingOut | None = Field(
        ..., description="What its decision earned (a succeeded analysis'); null for any other.",
    )
    session: str
    cost_usd: Money
    tokens: int
    error: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_lineup(obj: Any) -> str | None:
        return obj.lineup.name if obj.lineup_id else None  # joined by the selector

    @staticmethod
    def resolve_session(obj: Any) -> str:
        return str(obj.session_id)

    @staticmethod
    def resolve_cost_usd(obj: Any) -> Decimal:
        return obj.session.spent_usd  # its session's: one source of truth

    @staticmethod
    def resolve_tokens(obj: Any) -> int:
        return obj.session.spent_tokens

    @staticmethod
    def resolve_market_data_note(obj: Any) -> str | None:
        return OFFLINE_LABEL if obj.offline else None

    @staticmethod
    def resolve_experiment(obj: Any) -> int | None:
        return obj.experiment_id

    @staticmethod
    def resolve_outcome(obj: Any) -> dict[str, Any] | None:
        return analysis_outcome(obj)


class AnalysisDetailOut(AnalysisOut):
    reports: dict[str, str] = Field(..., description="Report name -> Markdown, as TradingAgents wrote it.")
    roles: list[RoleOut]

    @staticmethod
    def resolve_roles(obj: Any) -> list[dict[str, Any]]:
        return [
            {**row.as_dict(), "status": row.state, "cost_usd": row.cost} for row in analysis_roles(obj)
        ]


class AnalysisFilters(Schema):
    ticker: str | None = Field(None, max_length=16)
    status: StatusName | None = None
    lineup: str | None = Field(None, max_length=64, description="A lineup's name.")
    rating: RatingName | None = None
    experiment: int | None = Field(None, ge=1, le=2**63 - 1, description="An experiment's id: its cells.")
