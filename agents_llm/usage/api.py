"""/api/v1/usage: tokens, requests and cost of runs and gateway calls, grouped."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at runtime.

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from ninja.errors import ValidationError as InputError

from agents_llm.usage.schemas import UsageFilters, UsageOut
from agents_llm.usage.selectors import day_bounds, usage_rows, usage_total
from tradingagents.auth import require_read
from tradingagents.schemas import AUTH_ERRORS

router = Router()

# Usage -------------------------------------------------------------------------------


def _usage_row(row: Any) -> dict[str, Any]:
    return {
        "key": None if row.key is None else str(row.key), "label": row.label, "runs": row.runs, "calls": row.calls,
        "requests": row.requests, "input_tokens": row.input_tokens, "output_tokens": row.output_tokens,
        "cache_read_tokens": row.cache_read_tokens, "cache_write_tokens": row.cache_write_tokens,
        "reasoning_tokens": row.reasoning_tokens, "cost": row.cost, "runs_without_cost": row.unpriced,
        "failed": row.failed + row.refused, "fell_back": row.fell_back,
    }


@router.get("/usage", response={200: UsageOut, **AUTH_ERRORS}, tags=["usage"])
def usage(request: HttpRequest, filters: UsageFilters = Query(...)):
    """Tokens, requests and cost of runs and gateway calls over a date range (UTC days,
    both ends included), grouped by agent, provider, model, day or session."""
    require_read(request, "agents_llm.agentrun")
    require_read(request, "agents_llm.llmcall")
    today = timezone.now().date()
    date_to = filters.date_to or today
    date_from = filters.date_from or (date_to - timedelta(days=30) if date_to.toordinal() > 30 else date_to)
    if date_from > date_to:
        raise InputError([{"loc": ("query", "date_from"), "msg": "date_from must be on or before date_to."}])
    since, until = day_bounds(date_from, date_to)
    return {
        "group_by": filters.group_by,
        "date_from": date_from,
        "date_to": date_to,
        "rows": [_usage_row(row) for row in usage_rows(group_by=filters.group_by, since=since, until=until)],
        "total": {**_usage_row(usage_total(since=since, until=until)), "key": "total"},
    }
