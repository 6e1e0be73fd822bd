"""Writes: launching an analysis, cancelling one, and the sweep that re-queues one whose
worker died (once), then fails it."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents_llm.agents.chain import AgentNotFound, chain_for_model
from agents_llm.agents.models import Lineup
from agents_llm.analyses.install import NotInstalled, tradingagents_python
from agents_llm.analyses.live import analysis_publish
from agents_llm.analyses.models import ANALYST_NODES, NODES, Analysis, AnalysisStatus, MarketData
from agents_llm.metering.sessions import session_create, session_token_rotate

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # the first run and one re-queue after a lost worker
TICKER = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,15}$")
MAX_ROUNDS = 5
MAX_HOLDING_DAYS = 60


def analysis_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The options of an analysis, completed with TradingAgents' defaults; a ValidationError
    on "options" naming what is wrong."""
    options = dict(options or {})
    unknown = sorted(set(options) - {"analysts", "debate_rounds", "risk_rounds"})
    if unknown:
        raise ValidationError({"options": f"Unknown option(s): {', '.join(unknown)}. Options: analysts, "
                                          "debate_rounds, risk_rounds."})
    analysts = options.get("analysts") or list(ANALYST_NODES)
    if not isinstance(analysts, list) or not set(analysts) <= set(ANALYST_NODES):
        raise ValidationError({"options": f"analysts: a list of {', '.join(ANALYST_NODES)}."})
    rounds = {}
    for name in ("debate_rounds", "risk_rounds"):
        value = options.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ROUNDS:
            raise ValidationError({"options": f"{name}: a whole number from 1 to {MAX_ROUNDS}."})
        rounds[name] = value
    return {"analysts": [a for a in ANALYST_NODES if a in analysts], **rounds}


def clean_benchmark(benchmark: Any) -> str:
    """The benchmark symbol, upper-cased; a ValidationError on "benchmark"."""
    benchmark = benchmark.strip().upper() if isinstance(benchmark, str) else ""
    if not TICKER.match(benchmark):
        raise ValidationError({"benchmark": f"'{benchmark[:20]}' is not a symbol (letters, digits and . - ^ =; "
                                            "at most 16)."})
    return benchmark


def clean_holding_days(holding_days: Any) -> int:
    if not isinstance(holding_days, int) or isinstance(holding_days, bool) or not 1 <= holding_days <= MAX_HOLDING_DAYS:
        raise ValidationError({"holding_days": f"A whole number of trading days from 1 to {MAX_HOLDING_DAYS}."})
    return holding_days


def roles_at_launch(lineup_id: int | None, analysts: list[str]) -> list[dict[str, Any]]:
    """Each graph node the analysis runs, with the agent, provider and vendor model its
    calls are routed to now (by the lineup, else the agent's configs)."""
    skipped = {node for key, node in ANALYST_NODES.items() if key not in analysts}
    roles = []
    for node in NODES:
        if node in skipped:
            continue
        try:
            chain = chain_for_model(node, lineup_id)
        except AgentNotFound:
            roles.append({"node": node, "agent": None, "provider": "", "model": ""})
            continue
        first = chain.links[0] if chain.links else None
        roles.append({
            "node": node, "agent": chain.agent_name,
            "provider": first.provider_name if first else "", "model": first.model_name if first else "",
        })
    return roles


def analysis_create(
    *,
    ticker: str,
    trade_date: date,
    user: Any,
    gateway_url: str,
    lineup: Lineup | None = None,
    budget_usd: Decimal | None = None,
    budget_tokens: int | None = None,
    market_data: str = MarketData.LIVE,
    options: dict[str, Any] | None = None,
    benchmark: str = "SPY",
    holding_days: int = 5,
    experiment: Any = None,
    arm: Any = None,
    enqueue: bool = True,
) -> Analysis:
    """Open the analysis' session (with its lineup and budget) and queue the analysis for
    a worker once the transaction commits. Bad input raises a ValidationError naming the
    field, a missing TradingAgents NotInstalled; nothing is stored then.

    An experiment's cell (`experiment`, `arm`) is stored `waiting`: its experiment
    queues it when its turn comes (agents_llm.experiments)."""
    ticker = (ticker or "").strip().upper()
    if not ticker:
        raise ValidationError({"ticker": "A ticker is required."})
    if not TICKER.match(ticker):
        raise ValidationError({"ticker": f"'{ticker[:20]}' is not a ticker (letters, digits and . - ^ =; at most 16)."})
    if trade_date > timezone.localdate():
        raise ValidationError({"trade_date": f"{trade_date} is in the future: TradingAgents analyses past dates."})
    if budget_usd is not None and budget_usd <= 0:
        raise ValidationError({"budget_usd": "The USD budget must be more than 0 (or empty: no budget)."})
    if budget_tokens is not None and budget_tokens <= 0:
        raise ValidationError({"budget_tokens": "The token budget must be more than 0 (or empty: no budget)."})
    if market_data not in MarketData.values:
        raise ValidationError({"market_data": f"One of {', '.join(MarketData.values)}."})
    benchmark = clean_benchmark(benchmark)
    clean_holding_days(holding_days)
    options = analysis_options(options)
    if tradingagents_python() is None:
        raise NotInstalled
    lineup_id = lineup.pk if lineup is not None else None
    analysis = Analysis(
        ticker=ticker, trade_date=trade_date, lineup=lineup, market_data=market_data, options=options,
        benchmark=benchmark, holding_days=holding_days, experiment=experiment, arm=arm,
        status=AnalysisStatus.WAITING if experiment is not None else AnalysisStatus.QUEUED,
        roles=roles_at_launch(lineup_id, options["analysts"]), gateway_url=gateway_url.rstrip("/"), created_by=user,
    )
    # The rows given (lineup, experiment, arm, user) are not looked up again.
    analysis.full_clean(exclude=["session", "lineup", "experiment", "arm", "created_by"])
    # No transaction around the two inserts: on SQLite a transaction that reads (the
    # checks of full_clean) before it writes fails at once when another one writes,
    # and every check is done above.
    analysis.session, _ = session_create(
        owner=user, name=f"{ticker} {trade_date} analysis", budget_usd=budget_usd, budget_tokens=budget_tokens,
        lineup_id=lineup_id, metadata={"tradingagents": "analysis"},
    )
    analysis.save()
    analysis_publish(analysis)
    if enqueue and experiment is None:
        transaction.on_commit(lambda: analysis_send(analysis.pk))
    return analysis


def analysis_send(analysis_id: int) -> bool:
    from agents_llm.analyses.actors import run_analysis

    try:
        run_analysis.send(analysis_id)
    except Exception as exc:  # broker down: it stays queued; the sweep sends it again
        logger.warning("could not enqueue analysis %s (%s); it stays queued", analysis_id, type(exc).__name__)
        return False
    Analysis.objects.filter(pk=analysis_id).update(enqueued_at=timezone.now())
    return True


def analysis_cancel(*, analysis: Analysis, user: Any = None) -> Analysis:
    """Stop an analysis: a waiting or queued one at once; a running one's worker kills its driver
    within a second or so and marks it stopped. A finished one stays as it is."""
    who = f" by {user.get_username()}" if user is not None and user.is_authenticated else ""
    now = timezone.now()
    if Analysis.objects.filter(pk=analysis.pk, status__in=(AnalysisStatus.WAITING, AnalysisStatus.QUEUED)).update(
        status=AnalysisStatus.STOPPED, error=f"Cancelled{who} before it started.", finished_at=now,
    ):
        analysis.refresh_from_db()
        analysis_publish(analysis)
    elif Analysis.objects.filter(pk=analysis.pk, status=AnalysisStatus.RUNNING).update(
        cancel_requested=True, error=f"Cancelled{who}.",
    ):
        analysis.refresh_from_db()
    return analysis


# The sweep -------------------------------------------------------------------------------


def analyses_requeue_stale(*, first_after_seconds: int = 60, again_after_seconds: int = 600) -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS). A running analysis whose worker stopped
    writing its heartbeat lost its worker: it is queued again once (a new attempt gets a
    new session token, so a driver left behind can spend no more), and failed after
    that. Queued analyses whose message never reached the broker are sent again."""
    now = timezone.now()
    lost = Analysis.objects.filter(
        status=AnalysisStatus.RUNNING, heartbeat_at__lte=now - timedelta(seconds=settings.ANALYSIS_LOST_AFTER_SECONDS),
    )
    requeued: list[int] = []
    for analysis in lost.select_related("session").only("pk", "attempts", "heartbeat_at", "session__id"):
        again = analysis.attempts < MAX_ATTEMPTS
        changes: dict[str, Any] = (
            {"status": AnalysisStatus.QUEUED, "started_at": None, "enqueued_at": None, "pid": None,
             "error": "Its worker stopped without a result; it was queued again."}
            if again else
            {"status": AnalysisStatus.FAILED, "finished_at": now, "pid": None,
             "error": f"Its worker stopped without a result {analysis.attempts} times; it was not queued again."}
        )
        if Analysis.objects.filter(pk=analysis.pk, status=AnalysisStatus.RUNNING,
                                   heartbeat_at=analysis.heartbeat_at).update(**changes):
            # A driver the dead worker left behind can make no more calls in the session.
            session_token_rotate(session=analysis.session)
            if again:
                requeued.append(analysis.pk)
            analysis_publish(Analysis.objects.select_related("session").get(pk=analysis.pk))
    stale = Analysis.objects.filter(status=AnalysisStatus.QUEUED).filter(
        Q(enqueued_at__isnull=True, created_at__lte=now - timedelta(seconds=first_after_seconds))
        | Q(enqueued_at__lte=now - timedelta(seconds=again_after_seconds))
        | Q(pk__in=requeued)
    )
    counts = {"queued": 0, "failed": 0}
    for analysis_id in stale.order_by("created_at").values_list("pk", flat=True):
        counts["queued" if analysis_send(analysis_id) else "failed"] += 1
    return counts

