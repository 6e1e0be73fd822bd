"""The admin index's usage summary; its figures are formatted by `{% load admin_formats %}`."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("admin/usage/summary.html", takes_context=True)
def usage_summary(context: dict[str, Any]) -> dict[str, Any]:
    from agents_llm.usage.dashboard import can_view_usage
    from agents_llm.usage.dashboard import usage_summary as summary

    request = context.get("request")
    if request is None or not can_view_usage(request.user):
        return {"visible": False}
    return {"visible": True, **summary(days=7)}
