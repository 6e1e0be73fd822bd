"""/api/v1/prices: post daily closes (outcomes are computed from them), list them, and
see which closes pending outcomes wait for."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate

from agents_llm.experiments.models import CloseSource, DailyClose, Outcome, OutcomeStatus
from agents_llm.experiments.prices import Bar, PricesInvalid, prices_store
from agents_llm.experiments.schemas_prices import CloseOut, MissingOut, PriceFilters, PricesIn, PricesOut
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, WRITE_ERRORS, Page

router = Router(tags=["prices"])

# Posting may add closes and replace stored ones.
POST_PERMS = ("agents_llm.add_dailyclose", "agents_llm.change_dailyclose")


@router.post("/prices", response={200: PricesOut, **WRITE_ERRORS})
def post_prices(request: HttpRequest, payload: PricesIn):
    """Store a symbol's daily closes, idempotent per symbol and date (the same close
    again changes nothing; another value replaces it and recomputes the outcomes that
    used it), then resolve the outcomes waiting for them. Nothing is stored when any
    close is bad (422 naming it)."""
    require_perm(request, *POST_PERMS)
    try:
        return prices_store(symbol=payload.symbol, bars=[Bar(date=b.date, close=b.close) for b in payload.bars],
                            source=CloseSource.API)
    except PricesInvalid as exc:
        raise InputError([{"loc": ("body", *loc), "msg": msg} for loc, msg in exc.errors]) from None


@router.get("/prices", response={200: list[CloseOut], **AUTH_ERRORS})
@paginate(Page)
def list_prices(request: HttpRequest, filters: PriceFilters = Query(...)) -> QuerySet[DailyClose]:
    require_read(request, "agents_llm.dailyclose")
    qs = DailyClose.objects.all()
    if filters.symbol:
        qs = qs.filter(symbol=filters.symbol.strip().upper())
    if filters.start:
        qs = qs.filter(date__gte=filters.start)
    if filters.end:
        qs = qs.filter(date__lte=filters.end)
    if filters.source:
        qs = qs.filter(source=filters.source)
    return qs.order_by("symbol", "date", "pk")


@router.get("/prices/missing", response={200: list[MissingOut], **AUTH_ERRORS})
@paginate(Page)
def missing_prices(request: HttpRequest) -> QuerySet[Outcome]:
    """Every pending outcome, oldest analysis first: why it is pending and the closes
    it misses (`missing`: post them to resolve it)."""
    require_read(request, "agents_llm.dailyclose")
    return Outcome.objects.filter(status=OutcomeStatus.PENDING).select_related("analysis").order_by("analysis_id")
