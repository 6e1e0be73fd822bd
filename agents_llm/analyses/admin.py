"""Admin for analyses: the list (with filters), "New analysis", and the analysis page:
its pipeline in graph order filling in live, cost per role, and the reports rendered
from Markdown and sanitized (rendering.py). Analyses are written by the runner only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from agents_llm.agents.models import Lineup
from agents_llm.analyses import install, rendering, selectors, services
from agents_llm.analyses.models import (
    ANALYST_NODES,
    OFFLINE_LABEL,
    REPORTS,
    Analysis,
    AnalysisStatus,
    MarketData,
)
from tradingagents import formatting

STATUS_COLOURS = {
    AnalysisStatus.SUCCEEDED: "#2e7d32", AnalysisStatus.FAILED: "#c62828", AnalysisStatus.STOPPED: "#ef6c00",
    AnalysisStatus.RUNNING: "#1565c0", AnalysisStatus.QUEUED: "#6d6d6d",
}
RATING_COLOURS = {"Buy": "#1b5e20", "Overweight": "#558b2f", "Hold": "#616161", "Underweight": "#e65100",
                  "Sell": "#b71c1c"}
DEFAULT_LINEUP = "tradingagents-default"


def last_weekday(today: date | None = None) -> date:
    """The last weekday before today: a day whose trading is over."""
    day = (today or timezone.localdate()) - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def badge(text: str, colour: str) -> str:
    return format_html('<span class="analysis-badge" style="background: {}">{}</span>', colour, text)


def outcome_context(analysis: Analysis) -> dict[str, Any]:
    """The page's Outcome block: what its decision earned (agents_llm.experiments), read
    through the reverse relation the selector joins."""
    outcome = selectors.analysis_outcome(analysis)
    if outcome is None:
        return {"outcome": None}
    row = getattr(analysis, "outcome", None)  # None: not opened yet
    return {"outcome": outcome, "outcome_row": row if "pending" not in outcome else None,
            "missing_url": reverse("admin:agents_llm_dailyclose_missing")}


class NewAnalysisForm(forms.Form):
    ticker = forms.CharField(max_length=16, help_text="e.g. NVDA")
    trade_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Not in the future.")
    lineup = forms.ModelChoiceField(
        queryset=Lineup.objects.order_by("name"), required=False, to_field_name="name",
        empty_label="None: the agents' current configs", help_text="The model each role answers with.",
    )
    budget_usd = forms.DecimalField(required=False, max_digits=14, decimal_places=8, label="Budget (USD)",
                                    help_text="Empty: no budget. The analysis stops when it is spent.")
    budget_tokens = forms.IntegerField(required=False, label="Budget (tokens)", help_text="Empty: no budget.")
    market_data = forms.ChoiceField(choices=MarketData.choices, initial=MarketData.LIVE, widget=forms.RadioSelect)
    analysts = forms.MultipleChoiceField(
        choices=[(key, node) for key, node in ANALYST_NODES.items()], initial=list(ANALYST_NODES),
        widget=forms.CheckboxSelectMultiple,
    )
    debate_rounds = forms.IntegerField(min_value=1, max_value=services.MAX_ROUNDS, initial=1,
                                       help_text="Bull/bear debate rounds.")
    risk_rounds = forms.IntegerField(min_value=1, max_value=services.MAX_ROUNDS, initial=1,
                                     help_text="Risk debate rounds.")


class LaunchAdminMixin:
    """An admin whose rows are launched by a page of its own (New analysis, New
    experiment): who may launch (`launch_perms`), and whether TradingAgents is
    installed, for the list's and the launch page's templates."""

    launch_perms: tuple[str, ...] = ("agents_llm.add_analysis", "agents_llm.use_gateway")

    def has_launch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(self.launch_perms)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), **self._install_context(request)}
        return super().changelist_view(request, extra_context)

    def _install_context(self, request: HttpRequest) -> dict[str, Any]:
        return {"installed": install.tradingagents_python() is not None, "install_help": install.INSTALL_HELP,
                "may_launch": self.has_launch_permission(request)}


@admin.register(Analysis)
class AnalysisAdmin(LaunchAdminMixin, admin.ModelAdmin):
    list_display = ("ticker", "trade_date", "lineup", "rating_badge", "status_badge", "cost", "tokens",
                    "duration", "created")
    list_display_links = ("ticker",)
    list_filter = ("status", "rating", "lineup", "ticker", "market_data")
    list_select_related = ("lineup", "session")
    search_fields = ("ticker",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # "New analysis" (new_view) launches one

    def has_change_permission(self, request: HttpRequest, obj: Analysis | None = None) -> bool:
        return False


    @admin.display(description="Status", ordering="status")
    def status_badge(self, analysis: Analysis) -> str:
        return badge(analysis.get_status_display(), STATUS_COLOURS.get(analysis.status, "#6d6d6d"))

    @admin.display(description="Rating", ordering="rating")
    def rating_badge(self, analysis: Analysis) -> str:
        return badge(analysis.rating, RATING_COLOURS[analysis.rating]) if analysis.rating else "—"

    @admin.display(description="Cost (USD)", ordering="session__spent_usd")
    def cost(self, analysis: Analysis) -> str:
        return formatting.money(analysis.session.spent_usd)

    @admin.display(description="Tokens", ordering="session__spent_tokens")
    def tokens(self, analysis: Analysis) -> str:
        return formatting.count(analysis.session.spent_tokens)

    @admin.display(description="Duration")
    def duration(self, analysis: Analysis) -> str:
        seconds = analysis.duration_seconds
        return "—" if seconds is None else f"{seconds:,.1f} s"

    @admin.display(description="Created", ordering="created_at")
    def created(self, analysis: Analysis) -> str:
        return formatting.when(analysis.created_at)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("new/", view(self.new_view), name="agents_llm_analysis_new"),
            path("<int:analysis_id>/cancel/", view(require_POST(self.cancel_view)), name="agents_llm_analysis_cancel"),
            *super().get_urls(),
        ]

    # New analysis -------------------------------------------------------------------

    def new_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_launch_permission(request):
            raise PermissionDenied
        form = NewAnalysisForm(request.POST or None, initial=self._initial(request))
        context = self._install_context(request)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                analysis = services.analysis_create(
                    ticker=data["ticker"], trade_date=data["trade_date"], user=request.user, lineup=data["lineup"],
                    budget_usd=data["budget_usd"], budget_tokens=data["budget_tokens"],
                    market_data=data["market_data"], gateway_url=request.build_absolute_uri("/"),
                    options={"analysts": data["analysts"], "debate_rounds": data["debate_rounds"],
                             "risk_rounds": data["risk_rounds"]},
                )
            except install.NotInstalled:
                form.add_error(None, install.INSTALL_HELP)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                self.message_user(request, f"Analysis of {analysis.ticker} on {analysis.trade_date} queued.",
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:agents_llm_analysis_change", args=[analysis.pk]))
        return TemplateResponse(request, "admin/agents_llm/analysis/new.html", {
            **self.admin_site.each_context(request), **context,
            "title": "New analysis", "form": form, "opts": self.model._meta,
        })

    def _initial(self, request: HttpRequest) -> dict[str, Any]:
        """The form's start: TradingAgents' defaults, or an earlier analysis' choices
        ("Run again with lineup…", `?from=<id>`)."""
        initial: dict[str, Any] = {"trade_date": last_weekday(), "lineup": DEFAULT_LINEUP}
        source = request.GET.get("from", "")
        earlier = Analysis.objects.select_related("lineup").filter(pk=source).first() if source.isdigit() else None
        if earlier is not None:
            initial.update(
                ticker=earlier.ticker, trade_date=earlier.trade_date, market_data=earlier.market_data,
                lineup=earlier.lineup.name if earlier.lineup_id else None, **earlier.options,
            )
        return initial

    # The analysis page --------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        analysis = selectors.analysis_list().filter(pk=object_id).first() if object_id.isdigit() else None
        if analysis is None or not self.has_view_permission(request, analysis):
            return super().change_view(request, object_id, form_url, extra_context)  # Django's 404 / 403
        roles = selectors.analysis_roles(analysis)
        reports = [
            {"name": name, "title": title, "html": rendering.report_html(analysis.reports[name])}
            for name, title in REPORTS.items() if analysis.reports.get(name)
        ]
        title = f"{analysis.ticker} on {analysis.trade_date}"
        return TemplateResponse(request, "admin/agents_llm/analysis/detail.html", {
            **self.admin_site.each_context(request), **self._install_context(request),
            "title": title, "subtitle": None, "opts": self.model._meta, "analysis": analysis, "original": analysis,
            "roles": roles, "reports": reports, "offline_label": OFFLINE_LABEL,
            "status_badge": self.status_badge(analysis), "rating_badge": self.rating_badge(analysis),
            "cost": formatting.money(analysis.session.spent_usd), "tokens": formatting.count(analysis.session.spent_tokens),
            "duration": self.duration(analysis), **outcome_context(analysis),
            "chart": {"labels": [r.node for r in roles], "costs": [float(r.cost) for r in roles]},
            "may_cancel": not analysis.finished and request.user.has_perm("agents_llm.change_analysis"),
            "session_url": reverse("admin:agents_llm_meteredsession_change", args=[analysis.session_id]),
            "calls_url": reverse("admin:agents_llm_llmcall_changelist") + f"?session={analysis.session_id}",
        })

    def cancel_view(self, request: HttpRequest, analysis_id: int) -> HttpResponse:
        if not request.user.has_perm("agents_llm.change_analysis"):
            raise PermissionDenied
        analysis = get_object_or_404(Analysis, pk=analysis_id)
        analysis = services.analysis_cancel(analysis=analysis, user=request.user)
        self.message_user(request, "Cancelled." if analysis.finished else "Cancelling: its process is being stopped.",
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_llm_analysis_change", args=[analysis_id]))
