"""Request and response shapes of the experiments API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema

from agents_llm.analyses.models import AnalysisStatus, MarketData
from agents_llm.experiments.models import ExperimentStatus
from tradingagents.schemas import Money

MarketDataName = Literal[tuple(MarketData.values)]  # type: ignore[valid-type]
ExperimentStatusName = Literal[tuple(ExperimentStatus.values)]  # type: ignore[valid-type]
CellStatusName = Literal[tuple(AnalysisStatus.values)]  # type: ignore[valid-type]
MAX_LIST = 200  # no grid has more (settings.EXPERIMENT_MAX_CELLS checks the product)


class ArmIn(Schema):
    name: str = Field(..., min_length=1, max_length=64, description="The arm's name in this experiment.")
    lineup: str = Field(..., min_length=1, max_length=64, description="A lineup's name.")


class ExperimentIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    tickers: list[str] = Field(..., max_length=MAX_LIST, description="e.g. [\"NVDA\", \"AAPL\"].")
    trade_dates: list[date] = Field(..., max_length=MAX_LIST, description="Days analysed (none in the future).")
    arms: list[ArmIn] = Field(..., max_length=MAX_LIST, description="Each a name and a lineup; cells are paired.")
    budget_usd_per_analysis: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=8,
                                                    description="Each analysis' session budget, USD.")
    budget_tokens_per_analysis: int | None = Field(None, gt=0, le=2**62)
    budget_usd_total: Decimal | None = Field(
        None, gt=0, max_digits=14, decimal_places=8,
        description="A cell starts only if what is spent plus the running cells' budgets plus its own fits.",
    )
    holding_days: int = Field(5, ge=1, le=60, description="Trading days of an outcome's window.")
    benchmark: str = Field("SPY", min_length=1, max_length=16)
    market_data: MarketDataName = Field("live")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="analysts (market, social, news, fundamentals), debate_rounds, "
                                                "risk_rounds.")
    concurrency: int | None = Field(None, description="Analyses at once, 1 to 20 (default: the setting).")


class ArmOut(Schema):
    name: str
    lineup: str

    @staticmethod
    def resolve_lineup(obj: Any) -> str:
        return obj.lineup.name


class CellsOut(Schema):
    waiting: int
    queued: int
    running: int
    succeeded: int
    failed: int
    stopped: int
    total: int


class ProgressOut(Schema):
    cells: CellsOut
    spent_usd: Money
    outcomes: int = Field(..., description="Outcomes resolved.")
    pending_outcomes: int = Field(..., description="Succeeded analyses whose outcome is not resolved yet.")


class ExperimentOut(Schema):
    id: int
    name: str
    status: ExperimentStatusName
    stop_reason: str
    tickers: list[str]
    trade_dates: list[date]
    arms: list[ArmOut]
    holding_days: int
    benchmark: str
    market_data: str
    options: dict[str, Any]
    concurrency: int
    budget_usd_per_analysis: Money | None
    budget_tokens_per_analysis: int | None
    budget_usd_total: Money | None
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_arms(obj: Any) -> list[Any]:
        return list(obj.arms.all())  # prefetched by the view


class ExperimentDetailOut(ExperimentOut):
    progress: ProgressOut

    @staticmethod
    def resolve_progress(obj: Any) -> dict[str, Any]:
        from agents_llm.experiments.results import experiment_progress

        return experiment_progress(obj)


Interval = list[float] | None


class ArmResultOut(Schema):
    name: str
    lineup: str
    analyses: int
    succeeded: int
    failed: int
    stopped: int
    cost_usd_mean: float | None = Field(..., description="Over its analyses that started and ended.")
    tokens_mean: float | None
    ratings: dict[str, int]
    outcomes: int
    decision_alpha_mean: float | None = Field(..., description="Over its analyses with an outcome.")
    decision_alpha_ci: Interval = Field(..., description="95%, bootstrap over cells.")
    hit_rate: float | None = Field(..., description="Over its outcomes that are not a Hold.")
    decision_alpha_per_usd: float | None = Field(..., description="Mean decision alpha ÷ mean cost, both over its "
                                                                  "analyses with an outcome.")
    decision_alpha_per_usd_ci: Interval


class PairOut(Schema):
    a: str
    b: str
    cells: int = Field(..., description="Cells where both arms have an outcome.")
    decision_alpha_diff: float | None = Field(..., description="Mean over those cells of a − b.")
    decision_alpha_diff_ci: Interval
    cost_usd_diff: float | None
    cost_usd_diff_ci: Interval
    differs_in: list[str] = Field(..., description="Graph nodes the two arms route differently.")


class PointOut(Schema):
    analysis: int
    arm: str
    ticker: str
    trade_date: date
    status: CellStatusName
    rating: str
    cost_usd: float
    tokens: int
    decision_alpha: float | None


class ResultsOut(Schema):
    arms: list[ArmResultOut]
    pairs: list[PairOut]
    pending_outcomes: int
    points: list[PointOut]


class ExperimentFilters(Schema):
    status: ExperimentStatusName | None = None
