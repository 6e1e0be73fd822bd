"""The admin's usage dashboard (/admin/usage/): what runs and gateway calls spent, by
day, agent, provider/model and session, as charts (Chart.js, served from static/) and
the tables behind them. All figures come from agents_llm.selectors_usage, like
`GET /api/v1/usage`."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from agents_llm.agents.models import AgentConfig
from agents_llm.metering.models import MeteredSession
from agents_llm.usage.selectors import UsageRow, day_bounds, usage_merge, usage_rows

PRESETS = (("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"))
DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_SERIES = 8  # agents drawn as their own area; the others are added up as "other"


def can_view_usage(user: Any) -> bool:
    return user.is_active and user.is_staff and user.has_perm("agents_llm.view_agentrun")


class PeriodForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.ChoiceField(required=False, choices=(("", "Custom"), *PRESETS), label="Period")

    def preset(self) -> str:
        """The preset the period is (what the selector shows): the default's when nothing
        (valid) is chosen, "" (custom) for dates."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("days"):
            return data["days"]
        return "" if data.get("date_from") or data.get("date_to") else str(DEFAULT_DAYS)

    def period(self) -> tuple[date, date]:
        """UTC days, both included; the last 30 days when nothing (valid) is chosen."""
        today = timezone.now().date()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("days"):
            return today - timedelta(days=int(data["days"]) - 1), today
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or date_to - timedelta(days=DEFAULT_DAYS - 1)
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        return max(date_from, date_to - timedelta(days=MAX_DAYS - 1)), date_to

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            self.add_error("date_from", "The start is after the end.")
        return cleaned


def usage_dashboard(*, date_from: date, date_to: date) -> dict[str, Any]:
    """Everything the dashboard shows for a period: rows, totals and chart series.
    Two groupings of each source, whatever the number of rows: day × agent × provider
    × model (a few thousand rows at most, added up here by day × agent and by provider
    × model) and session."""
    since, until = day_bounds(date_from, date_to)
    fine = usage_rows(group_by=("day", "agent", "provider", "model"), since=since, until=until)
    by_day_agent = usage_merge(fine, position=(0, 1))
    by_model = usage_merge(fine, position=(2, 3))
    by_session = usage_rows(group_by="session", since=since, until=until)
    days = [(date_from + timedelta(days=n)).isoformat() for n in range((date_to - date_from).days + 1)]
    by_day = {row.key: row for row in usage_merge(by_day_agent, position=0)}
    by_day_full = [by_day.get(d) or UsageRow(keys=(d,), labels=(d,)) for d in days]
    by_agent = sorted(usage_merge(by_day_agent, position=1), key=lambda r: (-r.cost, -r.tokens, str(r.key)))
    total = usage_merge(by_day_agent)[0]
    by_model.sort(key=lambda r: (-r.cost, -r.tokens, r.label))
    by_session.sort(key=lambda r: (-r.cost, -r.tokens, r.label))
    return {
        "date_from": date_from,
        "date_to": date_to,
        "total": total,
        "by_day": by_day_full,
        "by_agent": by_agent,
        "by_model": by_model,
        "by_session": by_session,
        "charts": _charts(days, by_day_agent, by_day_full, by_agent, by_model, by_session),
    }


def _money(value: Decimal) -> float:
    return float(round(value, 6))


def _charts(
    days: list[str], by_day_agent: list[UsageRow], by_day: list[UsageRow], by_agent: list[UsageRow],
    by_model: list[UsageRow], by_session: list[UsageRow],
) -> dict[str, Any]:
    top = [row.key for row in by_agent[:TOP_SERIES]]
    index = {d: n for n, d in enumerate(days)}
    series: dict[str, list[float]] = {agent: [0.0] * len(days) for agent in top}
    other = [0.0] * len(days)
    for row in by_day_agent:
        day, agent = row.keys
        target = series.get(agent, other)
        target[index[day]] += _money(row.cost)
    spend = [{"label": agent, "data": series[agent]} for agent in top]
    if any(other):
        spend.append({"label": "other agents", "data": other})
    return {
        "days": days,
        "spend_by_day_agent": spend,
        "tokens_by_day": {
            "input": [r.input_tokens for r in by_day],
            "output": [r.output_tokens for r in by_day],
            "cache_read": [r.cache_read_tokens for r in by_day],
            "reasoning": [r.reasoning_tokens for r in by_day],
        },
        "outcomes_by_day": {
            "failed": [r.failed + r.refused for r in by_day],
            "fell_back": [r.fell_back for r in by_day],
            "ok": [r.count - r.failed - r.refused for r in by_day],
        },
        "agents": _bars(by_agent),
        "models": _bars(by_model[:15]),
        "sessions": _bars(by_session[:15]),
    }


def _bars(rows: list[UsageRow]) -> dict[str, list[Any]]:
    return {
        "labels": [row.label for row in rows],
        "cost": [_money(row.cost) for row in rows],
        "tokens": [row.tokens for row in rows],
    }


def usage_summary(*, days: int = 7) -> dict[str, Any]:
    """The admin index's summary: the last `days` UTC days (today included) and today."""
    today = timezone.now().date()
    since, until = day_bounds(today - timedelta(days=days - 1), today)
    rows = {row.key: row for row in usage_rows(group_by="day", since=since, until=until)}
    period = usage_merge(rows.values())[0]
    return {"days": days, "period": period, "today": rows.get(today.isoformat()) or UsageRow()}


def _linked(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The tables' rows with what they link to: an agent's page, a session's page (two
    queries, whatever the rows). Sessions are named with their time and short id, as
    several often share a name."""
    agents = dict(AgentConfig.objects.filter(name__in=[r.key for r in data["by_agent"]]).values_list("name", "pk"))
    session_ids = [r.key for r in data["by_session"] if r.key is not None]
    sessions = {str(s.pk): s for s in MeteredSession.objects.filter(pk__in=session_ids)}

    def agent(row: UsageRow) -> dict[str, Any]:
        pk = agents.get(row.key)
        url = reverse("admin:agents_llm_agentconfig_change", args=[pk]) if pk else ""
        return {"row": row, "label": row.label, "url": url}

    def session(row: UsageRow) -> dict[str, Any]:
        found = sessions.get(row.key)
        if found is None:
            return {"row": row, "label": row.label, "url": ""}
        return {"row": row, "label": str(found), "url": reverse("admin:agents_llm_meteredsession_change", args=[found.pk])}

    return {
        "by_agent": [agent(r) for r in data["by_agent"]],
        "by_session": [session(r) for r in data["by_session"]],
        "by_model": [{"row": r, "label": r.label, "url": ""} for r in data["by_model"]],
        "by_day": [{"row": r, "label": r.label, "url": ""} for r in data["by_day"]],
    }


def usage_dashboard_view(request: HttpRequest) -> HttpResponse:
    if not can_view_usage(request.user):
        raise PermissionDenied
    chosen = PeriodForm(request.GET or None)
    date_from, date_to = chosen.period()
    data = usage_dashboard(date_from=date_from, date_to=date_to)
    table = {
        name: [row.as_dict() for row in data[name]] for name in ("by_day", "by_agent", "by_model", "by_session")
    }
    tables = _linked(data)
    data["charts"]["sessions"]["labels"] = [item["label"] for item in tables["by_session"][:15]]
    # The selector shows the period the page shows: the preset, and its dates.
    form = PeriodForm(initial={"days": chosen.preset(), "date_from": date_from, "date_to": date_to})
    context = {
        **admin.site.each_context(request),
        "title": "Usage and spend",
        "subtitle": f"{date_from.isoformat()} to {date_to.isoformat()}",
        "form": form,
        "errors": chosen.errors if chosen.is_bound else {},
        "presets": PRESETS,
        **data,
        "tables": tables,
        # What the charts draw and the tables show, for the page's script (and tests).
        "usage_data": {"charts": data["charts"], "total": data["total"].as_dict(), **table},
    }
    return TemplateResponse(request, "admin/usage_dashboard.html", context)
