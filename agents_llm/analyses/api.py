"""/api/v1/analyses: launch a TradingAgents analysis, follow it, cancel it."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate
from ninja.responses import Status

from agents_llm.agents.models import Lineup
from agents_llm.analyses import install, selectors, services
from agents_llm.analyses.models import Analysis
from agents_llm.analyses.schemas import AnalysisDetailOut, AnalysisFilters, AnalysisIn, AnalysisOut
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, WRITE_ERRORS, Page

router = Router(tags=["analyses"])

Id = Path(..., ge=1, le=MAX_ID)
LAUNCH_PERMS = ("agents_llm.add_analysis", "agents_llm.use_gateway")
CANCEL_PERM = "agents_llm.change_analysis"


def launch_url(request: HttpRequest) -> str:
    """Where the analysis was launched from: the request's scheme and host."""
    return request.build_absolute_uri("/").rstrip("/")


def not_installed() -> JsonResponse:
    return JsonResponse({"detail": install.INSTALL_HELP,
                         "errors": [{"loc": ["settings", "TRADINGAGENTS_PYTHON"], "msg": "Not set."}]}, status=409)


def _lineup(name: str | None, loc: tuple[str, str]) -> Lineup | None:
    if name is None:
        return None
    lineup = Lineup.objects.filter(name=name).first()
    if lineup is None:
        raise InputError([{"loc": loc, "msg": f"No lineup named {name!r}."}])
    return lineup


@router.post("/analyses", response={202: AnalysisDetailOut, **WRITE_ERRORS})
def create_analysis(request: HttpRequest, payload: AnalysisIn):
    """Queue an analysis (202) in a new session of yours with the budget given; 409 when
    TradingAgents is not installed (TRADINGAGENTS_PYTHON)."""
    require_perm(request, *LAUNCH_PERMS)
    try:
        analysis = services.analysis_create(
            ticker=payload.ticker, trade_date=payload.trade_date, user=request.auth,
            lineup=_lineup(payload.lineup, ("body", "lineup")), budget_usd=payload.budget_usd,
            budget_tokens=payload.budget_tokens, market_data=payload.market_data, options=payload.options,
            gateway_url=launch_url(request), benchmark=payload.benchmark, holding_days=payload.holding_days,
        )
    except install.NotInstalled:
        return not_installed()
    return Status(202, analysis)  # as queued (a worker may have claimed it by now)


@router.get("/analyses", response={200: list[AnalysisOut], **AUTH_ERRORS})
@paginate(Page)
def list_analyses(request: HttpRequest, filters: AnalysisFilters = Query(...)) -> QuerySet[Analysis]:
    require_read(request, "agents_llm.analysis")
    qs = selectors.analysis_list()
    if filters.ticker:
        qs = qs.filter(ticker=filters.ticker.strip().upper())
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.rating:
        qs = qs.filter(rating=filters.rating)
    if filters.experiment:
        qs = qs.filter(experiment_id=filters.experiment)
    if filters.lineup:
        qs = qs.filter(lineup=_lineup(filters.lineup, ("query", "lineup")))
    return qs.order_by("-created_at", "-pk")


@router.get("/analyses/{analysis_id}", response={200: AnalysisDetailOut, **READ_ERRORS})
def get_analysis(request: HttpRequest, analysis_id: int = Id):
    """An analysis with its reports (Markdown) and its roles: each graph node's agent,
    the vendor model it was routed to, and its calls, tokens and cost in the session."""
    require_read(request, "agents_llm.analysis")
    return get_object_or_404(selectors.analysis_list(), pk=analysis_id)


@router.post("/analyses/{analysis_id}/cancel", response={202: AnalysisDetailOut, **WRITE_ERRORS})
def cancel_analysis(request: HttpRequest, analysis_id: int = Id):
    """Stop it: a queued one at once, a running one (its TradingAgents process killed)
    within a second or so; it ends `stopped`. A finished one is answered as it is."""
    require_perm(request, CANCEL_PERM)
    analysis = get_object_or_404(selectors.analysis_list(), pk=analysis_id)
    services.analysis_cancel(analysis=analysis, user=request.auth)
    return Status(202, get_object_or_404(selectors.analysis_list(), pk=analysis_id))
