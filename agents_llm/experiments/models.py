"""Daily closes, an analysis' outcome (its trade's later alpha), and experiments: grids of
tickers × trade dates × arms (lineups) whose analyses are compared by alpha per dollar."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents_llm.metering.models import MoneyField

DEFAULT_BENCHMARK = "SPY"
DEFAULT_HOLDING_DAYS = 5
# TradingAgents' five-step scale as a position (its reflection's reading of a rating).
POSITIONS = {"Buy": 1.0, "Overweight": 0.5, "Hold": 0.0, "Underweight": -0.5, "Sell": -1.0}


class CloseSource(models.TextChoices):
    API = "api", "API"
    UPLOAD = "upload", "Upload"
    LIVE = "live", "Live (TradingAgents' data layer)"


class DailyClose(models.Model):
    """A symbol's close on a trading day: what outcomes are computed from. One row per
    symbol and date; posting the same day again replaces its close."""

    symbol = models.CharField(max_length=16)
    date = models.DateField()
    close = models.DecimalField(max_digits=20, decimal_places=6)
    source = models.CharField(max_length=8, choices=CloseSource.choices, default=CloseSource.API)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "daily_closes"
        ordering = ["symbol", "date"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "date"], name="daily_close_one_per_symbol_and_date"),
            models.CheckConstraint(condition=Q(close__gt=0), name="daily_close_positive",
                                   violation_error_message="A close must be more than 0."),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.date}: {self.close}"


class OutcomeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"


class Outcome(models.Model):
    """What a succeeded analysis' decision earned, as TradingAgents' own reflection
    computes it (`TradingAgentsGraph._fetch_returns`, v0.3.0): from the first close on or
    after the trade date to the close `holding_days` trading days later, the ticker's
    return, the benchmark's, alpha = raw − benchmark; the decision's alpha = position ×
    alpha. Pending (and why) until every close it needs is stored."""

    analysis = models.OneToOneField("agents_llm.Analysis", on_delete=models.CASCADE, primary_key=True,
                                    related_name="outcome")
    status = models.CharField(max_length=8, choices=OutcomeStatus.choices, default=OutcomeStatus.PENDING)
    pending_reason = models.TextField(blank=True)
    # Missing closes as ["SYMBOL YYYY-MM-DD", ...] (for the prices page).
    missing = models.JSONField(default=list, blank=True)
    benchmark = models.CharField(max_length=16)
    holding_days = models.PositiveSmallIntegerField()
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    start_close = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    end_close = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    benchmark_start_close = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    benchmark_end_close = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    raw_return = models.FloatField(null=True, blank=True)
    benchmark_return = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    position = models.FloatField(null=True, blank=True)
    decision_alpha = models.FloatField(null=True, blank=True)
    # None for a Hold (no position: neither a hit nor a miss).
    hit = models.BooleanField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outcomes"
        indexes = [models.Index(fields=["status"], name="outcomes_status")]

    def __str__(self) -> str:
        return f"outcome of analysis {self.analysis_id} ({self.status})"


class ExperimentStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped (total budget)"
    CANCELLED = "cancelled", "Cancelled"


class Experiment(models.Model):
    """A grid: every ticker × trade date × arm is one analysis (a cell), the arms of a
    ticker × date paired. Cells start on the workers at most `concurrency` at a time;
    with a total budget a cell starts only if its worst case (its own budget) still
    fits, and the experiment stops when none can."""

    name = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING)
    tickers = models.JSONField(default=list)
    trade_dates = models.JSONField(default=list)  # ISO dates, in order
    holding_days = models.PositiveSmallIntegerField(default=DEFAULT_HOLDING_DAYS)
    benchmark = models.CharField(max_length=16, default=DEFAULT_BENCHMARK)
    market_data = models.CharField(max_length=8, default="live")  # analyses.models.MarketData
    options = models.JSONField(default=dict, blank=True)  # the analyses' options
    concurrency = models.PositiveSmallIntegerField(default=2)
    budget_usd_per_analysis = MoneyField(null=True, blank=True)
    budget_tokens_per_analysis = models.PositiveBigIntegerField(null=True, blank=True)
    budget_usd_total = MoneyField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)
    gateway_url = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Written at each scheduling step: the step's first statement, so concurrent steps
    # of one experiment take turns (a row lock on PostgreSQL, the write lock on SQLite).
    advanced_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "experiments"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_usd_total__isnull=True) | Q(budget_usd_per_analysis__isnull=False),
                name="experiment_total_budget_needs_per_analysis",
                violation_error_message="A total budget needs a budget per analysis (a cell's worst case).",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExperimentArm(models.Model):
    """One column of the grid: a lineup, under a name of the experiment's own."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=64)
    lineup = models.ForeignKey("agents_llm.Lineup", on_delete=models.PROTECT, related_name="experiment_arms")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "experiment_arms"
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="experiment_arm_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.lineup_id and self.lineup})"
