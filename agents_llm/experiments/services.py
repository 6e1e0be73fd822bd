"""Writes: launching an experiment (its arms and one waiting analysis per cell), the
scheduling step that starts its next cells within its concurrency and total budget,
and cancelling one."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from agents_llm.agents.models import Lineup
from agents_llm.analyses.install import NotInstalled, tradingagents_python
from agents_llm.analyses.models import FINISHED, Analysis, AnalysisStatus, MarketData
from agents_llm.analyses.selectors import analysis_event_data
from agents_llm.analyses.services import (
    TICKER,
    analysis_cancel,
    analysis_create,
    analysis_options,
    analysis_send,
    clean_benchmark,
    clean_holding_days,
)
from agents_llm.experiments.models import Experiment, ExperimentArm, ExperimentStatus
from tradingagents import events

logger = logging.getLogger(__name__)

MAX_CONCURRENCY = 20
MAX_NAME = 120
MAX_ARM_NAME = 64
ACTIVE = (AnalysisStatus.QUEUED, AnalysisStatus.RUNNING)


# Launching --------------------------------------------------------------------------------


def trade_dates_every(start: date, end: date, step_days: int) -> list[date]:
    """`start`, then every `step_days` calendar days up to `end` (included); a
    ValidationError on "trade_dates" when the range is backwards, the step is not a
    whole number of days from 1, or it makes more dates than an experiment may have
    cells."""
    if not isinstance(step_days, int) or isinstance(step_days, bool) or step_days < 1:
        raise ValidationError({"trade_dates": "The step is a whole number of days from 1."})
    if end < start:
        raise ValidationError({"trade_dates": f"The range ends ({end}) before it starts ({start})."})
    count = (end - start).days // step_days + 1
    if count > settings.EXPERIMENT_MAX_CELLS:
        raise ValidationError({"trade_dates": f"{count} dates: more than the {settings.EXPERIMENT_MAX_CELLS} cells "
                                              "an experiment may have (EXPERIMENT_MAX_CELLS)."})
    return [start + timedelta(days=i * step_days) for i in range(count)]


def _clean_tickers(tickers: Any) -> list[str]:
    if not isinstance(tickers, list | tuple) or not tickers:
        raise ValidationError({"tickers": "At least one ticker."})
    cleaned: list[str] = []
    for raw in tickers:
        ticker = (raw if isinstance(raw, str) else "").strip().upper()
        if not TICKER.match(ticker):
            raise ValidationError({"tickers": f"'{str(raw)[:20]}' is not a ticker (letters, digits and . - ^ =; "
                                              "at most 16)."})
        if ticker in cleaned:
            raise ValidationError({"tickers": f"{ticker} is listed twice."})
        cleaned.append(ticker)
    return cleaned


def _clean_dates(trade_dates: Any) -> list[date]:
    if not isinstance(trade_dates, list | tuple) or not trade_dates:
        raise ValidationError({"trade_dates": "At least one trade date."})
    today = timezone.localdate()
    cleaned: list[date] = []
    for day in trade_dates:
        if not isinstance(day, date):
            raise ValidationError({"trade_dates": f"{str(day)[:20]!r} is not a date."})
        if day > today:
            raise ValidationError({"trade_dates": f"{day} is in the future: an analysis' outcome needs the closes "
                                                  "after its trade date."})
        if day in cleaned:
            raise ValidationError({"trade_dates": f"{day} is listed twice."})
        cleaned.append(day)
    return sorted(cleaned)


def _clean_arms(arms: Any) -> list[tuple[str, Lineup]]:
    if not isinstance(arms, list | tuple) or not arms:
        raise ValidationError({"arms": "At least one arm (a name and a lineup)."})
    cleaned: list[tuple[str, Lineup]] = []
    for arm in arms:
        if not isinstance(arm, list | tuple) or len(arm) != 2:
            raise ValidationError({"arms": "Each arm is a name and a lineup."})
        name, lineup_name = ((arm[0] or "").strip() if isinstance(arm[0], str) else "",
                             arm[1] if isinstance(arm[1], str) else "")
        if not name or len(name) > MAX_ARM_NAME:
            raise ValidationError({"arms": f"An arm's name is 1 to {MAX_ARM_NAME} characters."})
        if any(name == other for other, _ in cleaned):
            raise ValidationError({"arms": f"Two arms are named {name!r}: each arm needs a name of its own."})
        lineup = Lineup.objects.filter(name=lineup_name).first() if lineup_name else None
        if lineup is None:
            raise ValidationError({"arms": f"Arm {name!r}: no lineup named {lineup_name[:64]!r}."})
        cleaned.append((name, lineup))
    return cleaned


def _clean_budgets(per: Decimal | None, tokens: int | None, total: Decimal | None) -> None:
    if per is not None and per <= 0:
        raise ValidationError({"budget_usd_per_analysis": "More than 0 (or empty: no budget)."})
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens <= 0):
        raise ValidationError({"budget_tokens_per_analysis": "A whole number of tokens more than 0 (or empty)."})
    if total is not None:
        if per is None:
            raise ValidationError({"budget_usd_total": "A total budget needs a budget per analysis: a cell starts "
                                                       "only if its worst case (its own budget) still fits."})
        if total < per:
            raise ValidationError({"budget_usd_total": f"Less than one analysis' budget ({per}): no cell could "
                                                       "start."})


def experiment_create(
    *,
    name: str,
    tickers: list[str],
    trade_dates: list[date],
    arms: list[tuple[str, str]],  # (arm name, lineup name)
    user: Any,
    gateway_url: str,
    budget_usd_per_analysis: Decimal | None = None,
    budget_tokens_per_analysis: int | None = None,
    budget_usd_total: Decimal | None = None,
    holding_days: int = 5,
    benchmark: str = "SPY",
    market_data: str = MarketData.LIVE,
    options: dict[str, Any] | None = None,
    concurrency: int | None = None,
) -> Experiment:
    """Store the experiment, its arms and one waiting analysis per cell (for each date,
    for each ticker, each arm: the arms of a cell side by side), and start its first
    cells once the transaction commits. Bad input raises a ValidationError naming the
    field, a missing TradingAgents NotInstalled; nothing is stored then."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        raise ValidationError({"name": f"A name of 1 to {MAX_NAME} characters."})
    tickers = _clean_tickers(tickers)
    days = _clean_dates(trade_dates)
    lineups = _clean_arms(arms)
    cells = len(tickers) * len(days) * len(lineups)
    if cells > settings.EXPERIMENT_MAX_CELLS:
        raise ValidationError({"trade_dates": (
            f"{len(tickers)} tickers × {len(days)} dates × {len(lineups)} arms = {cells} cells: more than the "
            f"{settings.EXPERIMENT_MAX_CELLS} an experiment may have (EXPERIMENT_MAX_CELLS).")})
    _clean_budgets(budget_usd_per_analysis, budget_tokens_per_analysis, budget_usd_total)
    if concurrency is None:
        concurrency = settings.EXPERIMENT_DEFAULT_CONCURRENCY
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationError({"concurrency": f"A whole number of analyses at once from 1 to {MAX_CONCURRENCY}."})
    clean_holding_days(holding_days)
    benchmark = clean_benchmark(benchmark)
    if market_data not in MarketData.values:
        raise ValidationError({"market_data": f"One of {', '.join(MarketData.values)}."})
    options = analysis_options(options)
    if tradingagents_python() is None:
        raise NotInstalled
    # The experiment's INSERT is the transaction's first statement: on SQLite it takes
    # the write lock before any read (a transaction that read first could not write
    # once another connection had), so the cells' checks cannot fail it.
    with transaction.atomic():
        experiment = Experiment.objects.create(
            name=name, tickers=tickers, trade_dates=[d.isoformat() for d in days], holding_days=holding_days,
            benchmark=benchmark, market_data=market_data, options=options, concurrency=concurrency,
            budget_usd_per_analysis=budget_usd_per_analysis, budget_tokens_per_analysis=budget_tokens_per_analysis,
            budget_usd_total=budget_usd_total, gateway_url=gateway_url.rstrip("/"), created_by=user,
        )
        arm_rows = [ExperimentArm.objects.create(experiment=experiment, name=arm_name, lineup=lineup, position=i)
                    for i, (arm_name, lineup) in enumerate(lineups)]
        for day in days:
            for ticker in tickers:
                for arm in arm_rows:
                    analysis_create(
                        ticker=ticker, trade_date=day, user=user, gateway_url=gateway_url, lineup=arm.lineup,
                        budget_usd=budget_usd_per_analysis, budget_tokens=budget_tokens_per_analysis,
                        market_data=market_data, options=options, benchmark=benchmark, holding_days=holding_days,
                        experiment=experiment, arm=arm,
                    )
        experiment_publish(experiment)
        experiment_id = experiment.pk
        transaction.on_commit(lambda: experiment_advance(experiment_id))
    return experiment


# Scheduling -------------------------------------------------------------------------------


def _committed_usd(experiment: Experiment) -> Decimal:
    """What the experiment has spent or may still spend: what its finished cells spent,
    plus each queued or running cell's worst case (its session's budget)."""
    cells = Analysis.objects.filter(experiment=experiment)
    spent = cells.filter(status__in=FINISHED).aggregate(s=Sum("session__spent_usd"))["s"] or Decimal(0)
    active = cells.filter(status__in=ACTIVE)
    worst = active.aggregate(s=Sum("session__budget_usd"))["s"] or Decimal(0)
    # A cell without a budget of its own (there is none when the experiment has a total).
    worst += (experiment.budget_usd_per_analysis or Decimal(0)) * active.filter(session__budget_usd__isnull=True).count()
    return spent + worst


def experiment_advance(experiment_id: int, *, quiet: bool = False) -> None:
    """One scheduling step (idempotent; safe when several workers call it at once). While
    fewer than `concurrency` cells are queued or running, queue the next waiting cell —
    with a total budget only if what is committed plus the cell's worst case still fits.
    When the next cell does not fit and nothing runs, the experiment stops and its waiting
    cells with it; when nothing waits and nothing runs, it is finished. `quiet`: tell
    watchers only if the step changed something (the periodic step)."""
    sent: list[int] = []
    changed = False
    with transaction.atomic():
        # First statement: concurrent steps of one experiment take turns here (a row
        # lock on PostgreSQL, the write lock on SQLite) and each sees the last one's work.
        if not Experiment.objects.filter(pk=experiment_id).update(advanced_at=timezone.now()):
            return
        experiment = Experiment.objects.get(pk=experiment_id)
        if experiment.status != ExperimentStatus.RUNNING:
            return
        cells = Analysis.objects.filter(experiment=experiment)
        active = cells.filter(status__in=ACTIVE).count()
        total = experiment.budget_usd_total
        committed = _committed_usd(experiment) if total is not None else Decimal(0)
        worst = experiment.budget_usd_per_analysis or Decimal(0)
        stop_reason = ""
        waiting = cells.filter(status=AnalysisStatus.WAITING).order_by("pk").values_list("pk", flat=True)
        for cell_id in waiting.iterator():
            if active >= experiment.concurrency:
                break
            if total is not None and committed + worst > total:
                if active == 0:
                    stop_reason = (f"Total budget reached: ${committed} committed of ${total}, and the next cell's "
                                   f"worst case (${worst}) does not fit.")
                break
            if cells.filter(pk=cell_id, status=AnalysisStatus.WAITING).update(status=AnalysisStatus.QUEUED):
                active += 1
                committed += worst
                sent.append(cell_id)
        stopped_cells: list[int] = []
        if stop_reason:
            stopped_cells = list(cells.filter(status=AnalysisStatus.WAITING).values_list("pk", flat=True))
            cells.filter(pk__in=stopped_cells, status=AnalysisStatus.WAITING).update(
                status=AnalysisStatus.STOPPED, error=f"Not started: {stop_reason}", finished_at=timezone.now(),
            )
            Experiment.objects.filter(pk=experiment.pk).update(
                status=ExperimentStatus.STOPPED, stop_reason=stop_reason, finished_at=timezone.now(),
            )
            changed = True
        elif not sent and active == 0 and not cells.filter(status=AnalysisStatus.WAITING).exists():
            Experiment.objects.filter(pk=experiment.pk).update(
                status=ExperimentStatus.FINISHED, finished_at=timezone.now(),
            )
            changed = True
        for cell_id in [*sent, *stopped_cells]:
            _publish_cell(cell_id)
        # A step follows a change (a cell ended): its progress as it is now. The
        # periodic one tells only of what it changed itself.
        if changed:
            experiment.refresh_from_db()
        if not quiet or sent or changed:
            experiment_publish(experiment)
        for cell_id in sent:
            transaction.on_commit(lambda cell_id=cell_id: analysis_send(cell_id))


def experiments_advance_all() -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS): a scheduling step for every running
    experiment (a step a worker missed, a cell sent while the broker was down)."""
    count = 0
    for experiment_id in Experiment.objects.filter(status=ExperimentStatus.RUNNING).values_list("pk", flat=True):
        experiment_advance(experiment_id, quiet=True)
        count += 1
    return {"advanced": count}


def experiment_cancel(*, experiment: Experiment, user: Any = None) -> Experiment:
    """Cancel a running experiment: its waiting cells are stopped, its queued and running
    ones cancelled (a running one's driver is killed within a second or so). A finished,
    stopped or cancelled one stays as it is."""
    who = f" by {user.get_username()}" if user is not None and getattr(user, "is_authenticated", False) else ""
    with transaction.atomic():
        if not Experiment.objects.filter(pk=experiment.pk, status=ExperimentStatus.RUNNING).update(
            advanced_at=timezone.now(), status=ExperimentStatus.CANCELLED, stop_reason=f"Cancelled{who}.",
            finished_at=timezone.now(),
        ):
            experiment.refresh_from_db()
            return experiment
        cells = Analysis.objects.filter(experiment=experiment)
        waiting = list(cells.filter(status=AnalysisStatus.WAITING).values_list("pk", flat=True))
        cells.filter(pk__in=waiting, status=AnalysisStatus.WAITING).update(
            status=AnalysisStatus.STOPPED, error=f"Not started: the experiment was cancelled{who}.",
            finished_at=timezone.now(),
        )
        for cell_id in waiting:
            _publish_cell(cell_id)
        active = list(cells.filter(status__in=ACTIVE).select_related("session"))
    for analysis in active:
        analysis_cancel(analysis=analysis, user=user)
    experiment.refresh_from_db()
    experiment_publish(experiment)
    return experiment


# Telling watchers ---------------------------------------------------------------------------


def _publish_cell(analysis_id: int) -> None:
    """`analysis.updated` for a cell this room moved (without analysis_finished: the
    experiment's own step moved it)."""
    analysis = Analysis.objects.select_related("session", "lineup").get(pk=analysis_id)
    events.publish("analyses", "analysis.updated", analysis.pk, analysis_event_data(analysis))


def experiment_publish(experiment: Experiment) -> None:
    """`experiment.updated` on the `experiments` topic (sent once the transaction commits)."""
    events.publish("experiments", "experiment.updated", experiment.pk, experiment_event_data(experiment))


def experiment_event_data(experiment: Experiment) -> dict[str, Any]:
    """What an `experiment.updated` event says: its state and progress (names and counts)."""
    from agents_llm.experiments.results import experiment_progress

    progress = experiment_progress(experiment)
    return {
        "id": experiment.pk, "name": experiment.name, "status": experiment.status,
        "stop_reason": experiment.stop_reason, **progress,
        "spent_usd": format(progress["spent_usd"].normalize(), "f"),
    }


def experiment_events_snapshot() -> list[tuple[str, int, dict[str, Any]]]:
    """What a (re)subscribing socket may have missed: the running experiments' state."""
    running = Experiment.objects.filter(status=ExperimentStatus.RUNNING).order_by("-created_at")[:50]
    return [("experiment.updated", e.pk, experiment_event_data(e)) for e in running]
