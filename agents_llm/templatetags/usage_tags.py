"""Template helpers of the usage dashboard and the admin index's summary."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: float) -> str:
    return f"{value * 100:.1f} %"


@register.filter
def usd(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


@register.filter
def thousands(value: int) -> str:
    return f"{value:,}"


@register.inclusion_tag("admin/usage/summary.html", takes_context=True)
def usage_summary(context: dict[str, Any]) -> dict[str, Any]:
    from agents_llm.usage.dashboard import can_view_usage
    from agents_llm.usage.dashboard import usage_summary as summary

    request = context.get("request")
    if request is None or not can_view_usage(request.user):
        return {"visible": False}
    return {"visible": True, **summary(days=7)}
