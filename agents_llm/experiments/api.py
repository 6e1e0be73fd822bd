"""/api/v1/experiments: launch an experiment (a grid of analyses), follow its progress,
read its results, cancel it."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.pagination import paginate
from ninja.responses import Status

from agents_llm.analyses import install
from agents_llm.analyses.api import LAUNCH_PERMS, launch_url, not_installed
from agents_llm.experiments import results, services
from agents_llm.experiments.models import Experiment
from agents_llm.experiments.schemas import (
    ExperimentDetailOut,
    ExperimentFilters,
    ExperimentIn,
    ExperimentOut,
    ResultsOut,
)
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, WRITE_ERRORS, Page

router = Router(tags=["experiments"])

Id = Path(..., ge=1, le=MAX_ID)
CREATE_PERMS = ("agents_llm.add_experiment", *LAUNCH_PERMS)
CANCEL_PERM = "agents_llm.change_experiment"
READ = "agents_llm.experiment"


def _experiments() -> QuerySet[Experiment]:
    return Experiment.objects.prefetch_related("arms__lineup")


@router.post("/experiments", response={202: ExperimentDetailOut, **WRITE_ERRORS})
def create_experiment(request: HttpRequest, payload: ExperimentIn):
    """Launch an experiment (202): one analysis per ticker × trade date × arm, started on
    the workers at most `concurrency` at a time, within the total budget if one is set.
    422 naming the field for a bad grid; 409 when TradingAgents is not installed."""
    require_perm(request, *CREATE_PERMS)
    try:
        experiment = services.experiment_create(
            name=payload.name, tickers=payload.tickers, trade_dates=payload.trade_dates,
            arms=[(arm.name, arm.lineup) for arm in payload.arms], user=request.auth,
            gateway_url=launch_url(request), budget_usd_per_analysis=payload.budget_usd_per_analysis,
            budget_tokens_per_analysis=payload.budget_tokens_per_analysis, budget_usd_total=payload.budget_usd_total,
            holding_days=payload.holding_days, benchmark=payload.benchmark, market_data=payload.market_data,
            options=payload.options, concurrency=payload.concurrency,
        )
    except install.NotInstalled:
        return not_installed()
    return Status(202, get_object_or_404(_experiments(), pk=experiment.pk))


@router.get("/experiments", response={200: list[ExperimentOut], **AUTH_ERRORS})
@paginate(Page)
def list_experiments(request: HttpRequest, filters: ExperimentFilters = Query(...)) -> QuerySet[Experiment]:
    require_read(request, READ)
    qs = _experiments()
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.order_by("-created_at", "-pk")


@router.get("/experiments/{experiment_id}", response={200: ExperimentDetailOut, **READ_ERRORS})
def get_experiment(request: HttpRequest, experiment_id: int = Id):
    """An experiment with its progress: cells by state, what they spent, outcomes."""
    require_read(request, READ)
    return get_object_or_404(_experiments(), pk=experiment_id)


@router.get("/experiments/{experiment_id}/results", response={200: ResultsOut, **READ_ERRORS})
def get_experiment_results(request: HttpRequest, experiment_id: int = Id):
    """Per arm: cells by end, mean cost and tokens, ratings, mean decision alpha, hit rate
    and alpha per dollar with 95% bootstrap intervals; per pair of arms the paired
    differences; one point per analysis. Computed from stored rows on each request."""
    require_read(request, READ)
    return results.experiment_results(get_object_or_404(Experiment, pk=experiment_id))


@router.post("/experiments/{experiment_id}/cancel", response={202: ExperimentDetailOut, **WRITE_ERRORS})
def cancel_experiment(request: HttpRequest, experiment_id: int = Id):
    """Cancel it: waiting cells stop, queued and running ones are cancelled. A finished,
    stopped or cancelled experiment is answered as it is."""
    require_perm(request, CANCEL_PERM)
    experiment = get_object_or_404(Experiment, pk=experiment_id)
    services.experiment_cancel(experiment=experiment, user=request.auth)
    return Status(202, get_object_or_404(_experiments(), pk=experiment_id))
