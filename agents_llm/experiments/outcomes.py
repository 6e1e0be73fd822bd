"""An analysis' outcome: what its decision earned over its holding window, computed as
TradingAgents' reflection computes it (`TradingAgentsGraph._fetch_returns`, v0.3.0) but
from stored daily closes, on dates named in advance:

- trading days are the weekdays that are not holidays of settings.OUTCOME_CALENDAR;
- the window starts on the first trading day on or after the trade date and ends
  `holding_days` trading days later;
- raw = (end − start) / start for the ticker, likewise for the benchmark; alpha = raw −
  benchmark return; the decision's alpha = position (models.POSITIONS, from the rating)
  × alpha; a hit when a position other than Hold earned a positive decision alpha.

Never from missing data: an outcome stays pending, and says why (the window has not
closed, or which closes are missing), until its four closes are stored. What is stored
is what the closes say: storing a close again recomputes the outcomes that used it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import holidays
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agents_llm.analyses.models import Analysis, AnalysisStatus
from agents_llm.experiments.models import POSITIONS, DailyClose, Outcome, OutcomeStatus

logger = logging.getLogger(__name__)

NOT_RESOLVED = "Not resolved yet."


# Trading days ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _holidays(calendar: str, year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays(calendar, years=year))


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(settings.OUTCOME_CALENDAR, day.year)


def trading_window(trade_date: date, holding_days: int) -> tuple[date, date]:
    """The first trading day on or after the trade date, and the trading day
    `holding_days` trading days after it."""
    start = trade_date
    while not is_trading_day(start):
        start += timedelta(days=1)
    end, left = start, holding_days
    while left:
        end += timedelta(days=1)
        if is_trading_day(end):
            left -= 1
    return start, end


def missing_label(symbol: str, day: date) -> str:
    return f"{symbol} {day.isoformat()}"


# Opening and resolving --------------------------------------------------------------------


def outcome_open(analysis: Analysis) -> Outcome | None:
    """The outcome row of a succeeded analysis with a rating (pending until resolved),
    opened once, and resolved at once if its closes are there. None for any other."""
    if analysis.status != AnalysisStatus.SUCCEEDED or analysis.rating not in POSITIONS:
        return None
    outcome, _ = Outcome.objects.get_or_create(
        analysis=analysis, defaults={"benchmark": analysis.benchmark, "holding_days": analysis.holding_days},
    )
    outcome.analysis = analysis
    if outcome.status == OutcomeStatus.PENDING:
        outcome_resolve(outcome)
    return outcome


def outcome_resolve(outcome: Outcome, *, today: date | None = None) -> bool:
    """Compute the outcome from the stored closes if its window has closed and all four
    are there (True); else it stays (or goes back to) pending with the reason and the
    missing closes. Writes the row either way."""
    analysis = outcome.analysis
    today = today or timezone.localdate()
    now = timezone.now()
    start, end = trading_window(analysis.trade_date, outcome.holding_days)
    outcome.start_date, outcome.end_date, outcome.checked_at = start, end, now
    if analysis.status != AnalysisStatus.SUCCEEDED or analysis.rating not in POSITIONS:
        return _pending(outcome, f"The analysis is {analysis.status} without a rating: no outcome.", [])
    if end >= today:
        return _pending(outcome, f"The holding window ends on {end.isoformat()}: not closed yet.", [])
    ticker, benchmark = analysis.ticker, outcome.benchmark
    needed = [(ticker, start), (ticker, end), (benchmark, start), (benchmark, end)]
    closes = {
        (row.symbol, row.date): row.close
        for row in DailyClose.objects.filter(symbol__in={ticker, benchmark}, date__in=[start, end])
    }
    missing = list(dict.fromkeys(missing_label(s, d) for s, d in needed if (s, d) not in closes))
    if missing:
        return _pending(outcome, f"Missing closes: {', '.join(missing)}.", missing)
    s0, s1, b0, b1 = (closes[key] for key in needed)
    raw = float((s1 - s0) / s0)
    bench = float((b1 - b0) / b0)
    alpha = raw - bench
    position = POSITIONS[analysis.rating]
    decision_alpha = position * alpha
    changed = outcome.status != OutcomeStatus.RESOLVED or (outcome.start_close, outcome.end_close,
                                                          outcome.benchmark_start_close,
                                                          outcome.benchmark_end_close) != (s0, s1, b0, b1)
    outcome.status, outcome.pending_reason, outcome.missing = OutcomeStatus.RESOLVED, "", []
    outcome.start_close, outcome.end_close = s0, s1
    outcome.benchmark_start_close, outcome.benchmark_end_close = b0, b1
    outcome.raw_return, outcome.benchmark_return, outcome.alpha = raw, bench, alpha
    outcome.position, outcome.decision_alpha = position, decision_alpha
    outcome.hit = None if position == 0 else decision_alpha > 0
    if changed or outcome.resolved_at is None:
        outcome.resolved_at = now
    outcome.save()
    return True


def _pending(outcome: Outcome, reason: str, missing: list[str]) -> bool:
    outcome.status, outcome.pending_reason, outcome.missing = OutcomeStatus.PENDING, reason, missing
    for name in ("start_close", "end_close", "benchmark_start_close", "benchmark_end_close", "raw_return",
                 "benchmark_return", "alpha", "position", "decision_alpha", "hit", "resolved_at"):
        setattr(outcome, name, None)
    outcome.save()
    return False


def _with_analysis(qs) -> Any:
    return qs.select_related("analysis").order_by("analysis_id")


def outcomes_open_missing() -> int:
    """Open the rows of succeeded analyses (with a rating) that have none: a receiver
    that failed, or analyses that succeeded before outcomes existed."""
    opened = 0
    lacking = Analysis.objects.filter(status=AnalysisStatus.SUCCEEDED, rating__in=list(POSITIONS),
                                      outcome__isnull=True).only("pk", "benchmark", "holding_days")
    for analysis in lacking.iterator(chunk_size=500):
        _, created = Outcome.objects.get_or_create(
            analysis=analysis, defaults={"benchmark": analysis.benchmark, "holding_days": analysis.holding_days},
        )
        opened += created
    return opened


def outcomes_resolve_pending() -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS; also `manage.py resolve_outcomes`): open
    the missing rows, then resolve every pending outcome whose closes are there."""
    opened = outcomes_open_missing()
    resolved = pending = 0
    today = timezone.localdate()
    for outcome in _with_analysis(Outcome.objects.filter(status=OutcomeStatus.PENDING)).iterator(chunk_size=500):
        if outcome_resolve(outcome, today=today):
            resolved += 1
        else:
            pending += 1
    return {"opened": opened, "resolved": resolved, "pending": pending}


def outcomes_resolve_for(symbol: str, dates: Iterable[date]) -> int:
    """After closes of `symbol` were stored on `dates`: resolve the pending outcomes that
    need the symbol, and recompute the resolved ones that used one of those closes.
    The number of outcomes now resolved among them."""
    dates = sorted(set(dates))
    if not dates:
        return 0
    uses = Q(analysis__ticker=symbol) | Q(benchmark=symbol)
    qs = Outcome.objects.filter(uses).filter(
        Q(status=OutcomeStatus.PENDING)
        | Q(status=OutcomeStatus.RESOLVED) & (Q(start_date__in=dates) | Q(end_date__in=dates))
    )
    today = timezone.localdate()
    return sum(outcome_resolve(outcome, today=today) for outcome in _with_analysis(qs))


def on_analysis_finished(analysis: Analysis) -> None:
    """analysis_finished's receiver (agents_llm/signals.py): open (and try to resolve)
    the outcome of an analysis that succeeded. It never fails the analysis' end: the
    periodic job opens what a failure here left out."""
    if analysis.status != AnalysisStatus.SUCCEEDED:
        return
    try:
        # A savepoint inside a caller's transaction (a failed statement must not end
        # it); none outside one (on SQLite a transaction that reads, then writes, fails
        # at once when another process writes).
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            outcome_open(analysis)
    except Exception:
        logger.exception("could not open the outcome of analysis %s; the periodic job will", analysis.pk)


def outcome_decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")
