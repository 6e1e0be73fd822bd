"""An analysis: one TradingAgents run of a ticker on a date, in a session of its own."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# TradingAgents v0.3.0's graph nodes that call a model, in graph order (its
# graph/setup.py): the four analysts, the bull/bear debate, the research manager, the
# trader, the risk debate and the portfolio manager. The seed's agents answer to these
# names as aliases; `analysts` says which of the first four an analysis includes.
ANALYST_NODES = {
    "market": "Market Analyst", "social": "Sentiment Analyst", "news": "News Analyst",
    "fundamentals": "Fundamentals Analyst",
}
NODES = [
    *ANALYST_NODES.values(), "Bull Researcher", "Bear Researcher", "Research Manager", "Trader",
    "Aggressive Analyst", "Conservative Analyst", "Neutral Analyst", "Portfolio Manager",
]
# The reports an analysis shows, in reading order, with their titles.
REPORTS = {
    "market": "Market report",
    "sentiment": "Sentiment report",
    "news": "News report",
    "fundamentals": "Fundamentals report",
    "investment_debate": "Bull/bear debate",
    "investment_plan": "Research manager's plan",
    "trader_plan": "Trader's plan",
    "risk_debate": "Risk debate",
    "final_decision": "Final decision",
}
OFFLINE_LABEL = "offline market data: not for decisions"


class AnalysisStatus(models.TextChoices):
    # A cell of an experiment waiting for its turn (agents_llm.experiments).
    WAITING = "waiting", "Waiting"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


FINISHED = (AnalysisStatus.SUCCEEDED, AnalysisStatus.FAILED, AnalysisStatus.STOPPED)


class Rating(models.TextChoices):
    """TradingAgents' five-step scale."""

    BUY = "Buy"
    OVERWEIGHT = "Overweight"
    HOLD = "Hold"
    UNDERWEIGHT = "Underweight"
    SELL = "Sell"


class MarketData(models.TextChoices):
    LIVE = "live", "Live (TradingAgents fetches its own data)"
    OFFLINE = "offline", "Offline (empty data: not for decisions)"


class Analysis(models.Model):
    """What was asked (ticker, date, lineup, options), what each role was set to answer
    with at launch, how far it got, and what it decided. Its cost and tokens are its
    session's: one source of truth."""

    ticker = models.CharField(max_length=16)
    trade_date = models.DateField()
    lineup = models.ForeignKey(
        "agents_llm.Lineup", on_delete=models.PROTECT, null=True, blank=True, related_name="analyses",
        help_text="The model mix it was launched with; empty: the agents' configs at the time.",
    )
    session = models.ForeignKey(
        "agents_llm.MeteredSession", on_delete=models.PROTECT, related_name="analyses",
    )
    market_data = models.CharField(max_length=8, choices=MarketData.choices, default=MarketData.LIVE)
    # Its outcome (agents_llm.experiments): alpha against this symbol over this many
    # trading days from the trade date.
    benchmark = models.CharField(max_length=16, default="SPY")
    holding_days = models.PositiveSmallIntegerField(default=5)
    # Set for an experiment's cell: the experiment and the arm (lineup) it runs.
    experiment = models.ForeignKey(
        "agents_llm.Experiment", on_delete=models.PROTECT, null=True, blank=True, related_name="analyses",
    )
    arm = models.ForeignKey(
        "agents_llm.ExperimentArm", on_delete=models.PROTECT, null=True, blank=True, related_name="analyses",
    )
    # analysts (market, social, news, fundamentals), debate_rounds, risk_rounds.
    options = models.JSONField(default=dict, blank=True)
    # Per graph node, in graph order: {node, agent, provider, model} as routed at launch.
    roles = models.JSONField(default=list, blank=True)
    # Per graph node: "running", "done" or "failed", as the driver reports them.
    progress = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED)
    rating = models.CharField(max_length=16, choices=Rating.choices, blank=True)
    decision = models.TextField(blank=True)
    # Report name (REPORTS) -> Markdown, as TradingAgents wrote it: model output, never
    # shown without sanitizing (agents_llm.analyses.rendering).
    reports = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Where the driver reaches the gateway (the launching request's scheme and host, or
    # TRADINGAGENTS_GATEWAY_URL).
    gateway_url = models.CharField(max_length=500)
    # Times a worker started it (the sweep re-queues one a dead worker left, once).
    attempts = models.PositiveSmallIntegerField(default=0)
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="The driver's process while it runs.")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker while the driver runs: a running analysis whose heartbeat
    # stopped lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "analyses"
        ordering = ["-created_at"]
        verbose_name_plural = "analyses"
        indexes = [
            models.Index(fields=["status"], name="analyses_status"),
            models.Index(fields=["ticker", "-created_at"], name="analyses_ticker_created"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker} {self.trade_date} ({self.get_status_display().lower()})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def offline(self) -> bool:
        return self.market_data == MarketData.OFFLINE

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or self.heartbeat_at or self.started_at) - self.started_at).total_seconds()
