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


# The fields a resolution writes (and a pending outcome clears).
RESULT_FIELDS = ("start_close", "end_close", "benchmark_start_close", "benchmark_end_close", "raw_return",
                 "benchmark_return", "alpha", "position", "decision_alpha", "hit")
STATE_FIELDS = ("status", "pending_reason", "missing", "start_date", "end_date", *RESULT_FIELDS)


def outcome_state(outcome: Outcome, today: date) -> dict[str, Any]:
    """What the outcome is by the closes stored now (a read, no write): resolved with
    its numbers if its window has closed and all four closes are there; else pending,
    with the reason and the missing closes."""
    analysis = outcome.analysis
    start, end = trading_window(analysis.trade_date, outcome.holding_days)
    state: dict[str, Any] = {"start_date": start, "end_date": end, "status": OutcomeStatus.PENDING, "missing": [],
                             **dict.fromkeys(RESULT_FIELDS)}
    if analysis.status != AnalysisStatus.SUCCEEDED or analysis.rating not in POSITIONS:
        return {**state, "pending_reason": f"The analysis is {analysis.status} without a rating: no outcome."}
    if end >= today:
        return {**state, "pending_reason": f"The holding window ends on {end.isoformat()}: not closed yet."}
    ticker, benchmark = analysis.ticker, outcome.benchmark
    needed = [(ticker, start), (ticker, end), (benchmark, start), (benchmark, end)]
    closes = {
        (row.symbol, row.date): row.close
        for row in DailyClose.objects.filter(symbol__in={ticker, benchmark}, date__in=[start, end])
    }
    missing = list(dict.fromkeys(missing_label(s, d) for s, d in needed if (s, d) not in closes))
    if missing:
        return {**state, "pending_reason": f"Missing closes: {', '.join(missing)}.", "missing": missing}
    s0, s1, b0, b1 = (closes[key] for key in needed)
    raw = float((s1 - s0) / s0)
    bench = float((b1 - b0) / b0)
    alpha = raw - bench
    position = POSITIONS[analysis.rating]
    decision_alpha = position * alpha
    return {
        **state, "status": OutcomeStatus.RESOLVED, "pending_reason": "",
        "start_close": s0, "end_close": s1, "benchmark_start_close": b0, "benchmark_end_close": b1,
        "raw_return": raw, "benchmark_return": bench, "alpha": alpha, "position": position,
        "decision_alpha": decision_alpha, "hit": None if position == 0 else decision_alpha > 0,
    }


def _same(outcome: Outcome, state: dict[str, Any]) -> bool:
    return all(getattr(outcome, name) == value for name, value in state.items())


def outcome_resolve(outcome: Outcome, *, today: date | None = None, only_if_changed: bool = False) -> bool:
    """Bring the row to what the stored closes say (outcome_state); True when it is
    resolved. The row is written under its lock, the closes read again after taking it:
    two resolutions of one outcome (a post of closes, the periodic job) take turns, and
    the last one reads the last closes. With `only_if_changed` (the periodic job) a row
    that would not change is not written."""
    today = today or timezone.localdate()
    if only_if_changed and _same(outcome, outcome_state(outcome, today)):
        return outcome.status == OutcomeStatus.RESOLVED
    now = timezone.now()
    with transaction.atomic():
        # The first statement writes: a row lock on PostgreSQL, the write lock on SQLite.
        Outcome.objects.filter(pk=outcome.pk).update(checked_at=now)
        state = outcome_state(outcome, today)
        changed = not _same(outcome, state)
        for name, value in state.items():
            setattr(outcome, name, value)
        outcome.checked_at = now
        if outcome.status != OutcomeStatus.RESOLVED:
            outcome.resolved_at = None
        elif changed or outcome.resolved_at is None:
            outcome.resolved_at = now
        outcome.save()
    return outcome.status == OutcomeStatus.RESOLVED


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
        if outcome_resolve(outcome, today=today, only_if_changed=True):
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

