"""Admin for experiments: the list, "New experiment" (tickers × dates × arms, budgets,
market data, concurrency) and the experiment page: its progress live (cells by state),
the results per arm and per pair of arms, a cost-against-alpha scatter and alpha per
dollar (admin_charts.py), and the grid of its analyses. Everything on the page is read
from stored rows (results.py); experiments are written by their services only."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from agents_llm.agents.models import Lineup
from agents_llm.analyses import install
from agents_llm.analyses.admin import (
    DEFAULT_LINEUP,
    RATING_COLOURS,
    STATUS_COLOURS,
    LaunchAdminMixin,
    badge,
    last_weekday,
)
from agents_llm.analyses.models import ANALYST_NODES, FINISHED, Analysis, AnalysisStatus, MarketData
from agents_llm.analyses.services import MAX_HOLDING_DAYS, MAX_ROUNDS
from agents_llm.experiments import admin_charts, results, services
from agents_llm.experiments.models import (
    DEFAULT_BENCHMARK,
    DEFAULT_HOLDING_DAYS,
    Experiment,
    ExperimentStatus,
    Outcome,
    OutcomeStatus,
)
from tradingagents import formatting

EXPERIMENT_COLOURS = {
    ExperimentStatus.RUNNING: "#1565c0", ExperimentStatus.FINISHED: "#2e7d32",
    ExperimentStatus.STOPPED: "#ef6c00", ExperimentStatus.CANCELLED: "#6d6d6d",
}
CELL_STATES = ["waiting", "queued", "running", "succeeded", "failed", "stopped"]
ARM_ROWS = 4
# The prices admin's page of closes that pending outcomes wait for (its own branch may
# not be merged yet: then the path it will have).
MISSING_CLOSES = ("admin:agents_llm_dailyclose_missing", "/admin/agents_llm/dailyclose/missing/")
# "New experiment"'s first fieldset; the rest are budgets, outcomes and running.
GRID_FIELDS = ("name", "tickers", "trade_dates", "start", "end", "step_days")
SEPARATORS = re.compile(r"[\s,;]+")


def _split(text: str) -> list[str]:
    return [part for part in SEPARATORS.split(text or "") if part]


class DatesField(forms.CharField):
    """ISO dates separated by commas, spaces or lines; each wrong one named."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": "2026-11-16, 2026-11-17"})

    def to_python(self, value: Any) -> list[date]:  # type: ignore[override]
        dates, wrong = [], []
        for part in _split(super().to_python(value)):
            try:
                dates.append(date.fromisoformat(part))
            except ValueError:
                wrong.append(part[:20])
        if wrong:
            raise ValidationError(f"Not a date (YYYY-MM-DD): {', '.join(wrong)}.")
        return dates


class NewExperimentForm(forms.Form):
    name = forms.CharField(max_length=120)
    tickers = forms.CharField(max_length=2000, help_text="Separated by commas or spaces, e.g. NVDA AAPL MSFT.",
                              widget=forms.TextInput(attrs={"size": 60}))
    trade_dates = DatesField(required=False, label="Trade dates",
                             help_text="Dates (YYYY-MM-DD) separated by commas, spaces or lines — or a range below.")
    start = forms.DateField(required=False, label="Range from", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="Range to", widget=forms.DateInput(attrs={"type": "date"}))
    step_days = forms.IntegerField(required=False, min_value=1, max_value=366, initial=7, label="Every (days)",
                                   help_text="A range's trade dates: the first, then every this many calendar days up to the last.")
    budget_usd_per_analysis = forms.DecimalField(required=False, max_digits=14, decimal_places=8,
                                                 label="Budget per analysis (USD)",
                                                 help_text="Empty: none. A cell stops when its budget is spent.")
    budget_tokens_per_analysis = forms.IntegerField(required=False, min_value=1, label="Budget per analysis (tokens)")
    budget_usd_total = forms.DecimalField(
        required=False, max_digits=14, decimal_places=8, label="Total budget (USD)",
        help_text="Empty: none. Needs a budget per analysis: a cell starts only if its budget still fits.")
    holding_days = forms.IntegerField(min_value=1, max_value=MAX_HOLDING_DAYS, initial=DEFAULT_HOLDING_DAYS,
                                      help_text="Trading days from the trade date over which an outcome's alpha is measured.")
    benchmark = forms.CharField(max_length=16, initial=DEFAULT_BENCHMARK, help_text="Alpha is measured against it.")
    market_data = forms.ChoiceField(choices=MarketData.choices, initial=MarketData.LIVE, widget=forms.RadioSelect)
    concurrency = forms.IntegerField(required=False, min_value=1, max_value=services.MAX_CONCURRENCY, label="Concurrency",
                                     help_text="Cells running at once. Empty: the server's default.")
    analysts = forms.MultipleChoiceField(
        choices=[(key, node) for key, node in ANALYST_NODES.items()], initial=list(ANALYST_NODES),
        widget=forms.CheckboxSelectMultiple,
    )
    debate_rounds = forms.IntegerField(min_value=1, max_value=MAX_ROUNDS, initial=1, help_text="Bull/bear debate rounds.")
    risk_rounds = forms.IntegerField(min_value=1, max_value=MAX_ROUNDS, initial=1, help_text="Risk debate rounds.")

    def clean_tickers(self) -> list[str]:
        return _split(self.cleaned_data["tickers"])


class ArmForm(forms.Form):
    """A column of the grid; a row left blank is no arm."""

    name = forms.CharField(max_length=64, required=False, widget=forms.TextInput(attrs={"size": 20}))
    lineup = forms.ModelChoiceField(queryset=Lineup.objects.order_by("name"), to_field_name="name", required=False,
                                    empty_label="—")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("name") and not data.get("lineup") and "lineup" not in self.errors:
            self.add_error("lineup", "Choose the arm's lineup.")
        if data.get("lineup") and not (data.get("name") or "").strip():
            self.add_error("name", "Name the arm.")
        return data


class BaseArmFormSet(forms.BaseFormSet):
    def _construct_form(self, i: int, **kwargs: Any) -> forms.Form:
        # Every row is read: a prefilled row left as it was is an arm too (Django skips
        # an unchanged extra form), a blank one none (ArmForm.clean).
        form = super()._construct_form(i, **kwargs)
        form.empty_permitted = False
        return form


ArmFormSet = forms.formset_factory(ArmForm, formset=BaseArmFormSet, extra=ARM_ROWS - 1, max_num=ARM_ROWS, absolute_max=ARM_ROWS)


def missing_closes_url() -> str:
    try:
        return reverse(MISSING_CLOSES[0])
    except NoReverseMatch:
        return MISSING_CLOSES[1]


def ci_text(interval: list[float] | None, fmt=admin_charts.signed_percent) -> str:
    if not interval or None in interval:
        return formatting.MISSING
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def ratings_text(ratings: dict[str, int]) -> str:
    return " · ".join(f"{rating} {n}" for rating, n in ratings.items() if n) or formatting.MISSING


def outcome_of(analysis: Analysis) -> Outcome | None:
    try:
        return analysis.outcome
    except Outcome.DoesNotExist:
        return None


@admin.register(Experiment)
class ExperimentAdmin(LaunchAdminMixin, admin.ModelAdmin):
    launch_perms = ("agents_llm.add_experiment", *LaunchAdminMixin.launch_perms)

    list_display = ("name", "status_badge", "cells", "spent", "arms_list", "created")
    list_filter = ("status", "market_data", "benchmark")
    search_fields = ("name",)
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return super().get_queryset(request).annotate(
            n_cells=Count("analyses"), n_done=Count("analyses", filter=Q(analyses__status__in=FINISHED)),
            n_spent=Sum("analyses__session__spent_usd"),
        ).prefetch_related("arms")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # "New experiment" (new_view) launches one

    def has_change_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        return False  # read-only: its rows are computed; Cancel is its own view


    @admin.display(description="Status", ordering="status")
    def status_badge(self, experiment: Experiment) -> str:
        return badge(experiment.get_status_display(), EXPERIMENT_COLOURS.get(experiment.status, "#6d6d6d"))

    @admin.display(description="Cells done", ordering="n_done")
    def cells(self, experiment: Experiment) -> str:
        return f"{formatting.count(experiment.n_done)} / {formatting.count(experiment.n_cells)}"

    @admin.display(description="Spent (USD)", ordering="n_spent")
    def spent(self, experiment: Experiment) -> str:
        return formatting.money(experiment.n_spent or 0)

    @admin.display(description="Arms")
    def arms_list(self, experiment: Experiment) -> str:
        return ", ".join(arm.name for arm in experiment.arms.all())

    @admin.display(description="Created", ordering="created_at")
    def created(self, experiment: Experiment) -> str:
        return formatting.when(experiment.created_at)


    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("new/", view(self.new_view), name="agents_llm_experiment_new"),
            path("<int:experiment_id>/live/", view(self.live_view), name="agents_llm_experiment_live"),
            path("<int:experiment_id>/results/", view(self.results_view), name="agents_llm_experiment_results"),
            path("<int:experiment_id>/cancel/", view(require_POST(self.cancel_view)),
                 name="agents_llm_experiment_cancel"),
            *super().get_urls(),
        ]

    # New experiment -----------------------------------------------------------------

    def new_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_launch_permission(request):
            raise PermissionDenied
        form = NewExperimentForm(request.POST or None, initial={
            "end": last_weekday(), "concurrency": settings.EXPERIMENT_DEFAULT_CONCURRENCY})
        arms = ArmFormSet(request.POST or None, prefix="arms", initial=[{"name": "default", "lineup": DEFAULT_LINEUP}])
        arm_errors: list[str] = []
        if request.method == "POST" and all([form.is_valid(), arms.is_valid()]):
            experiment = self._launch(request, form, arms, arm_errors)
            if experiment is not None:
                cells = experiment.analyses.count()
                self.message_user(request, f"Experiment “{experiment.name}” launched: {cells} cells.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:agents_llm_experiment_change", args=[experiment.pk]))
        return TemplateResponse(request, "admin/agents_llm/experiment/new.html", {
            **self.admin_site.each_context(request), **self._install_context(request),
            "title": "New experiment", "form": form, "arms": arms, "arm_errors": arm_errors,
            "opts": self.model._meta, "max_cells": settings.EXPERIMENT_MAX_CELLS, "grid_fields": GRID_FIELDS,
        })

    def _launch(self, request: HttpRequest, form: NewExperimentForm, arms: forms.BaseFormSet,
                arm_errors: list[str]) -> Experiment | None:
        """Launch from a valid form, or put each error on its field and return None."""
        data = form.cleaned_data
        chosen = [(f.cleaned_data["name"].strip(), f.cleaned_data["lineup"].name)
                  for f in arms if f.cleaned_data.get("name") and f.cleaned_data.get("lineup")]
        if not chosen:
            arm_errors.append("At least one arm: a name and a lineup.")
        dates = data["trade_dates"]
        ranged = data["start"] is not None  # "to" starts filled in (the last weekday)
        if dates and ranged:
            form.add_error("trade_dates", "Give dates or a range, not both.")
        elif not dates and not ranged:
            form.add_error("trade_dates", "Give trade dates, or a range (from, to, every N days).")
        elif not dates and data["end"] is None:
            form.add_error("end", "The range's last date.")
        elif not dates:
            try:
                dates = services.trade_dates_every(data["start"], data["end"], data["step_days"] or 1)
            except ValidationError as exc:
                self._show(form, exc, arm_errors, aliases={"trade_dates": "start"})
        if form.errors or arm_errors:
            return None
        try:
            return services.experiment_create(
                name=data["name"], tickers=data["tickers"], trade_dates=dates, arms=chosen, user=request.user,
                gateway_url=request.build_absolute_uri("/"),
                budget_usd_per_analysis=data["budget_usd_per_analysis"],
                budget_tokens_per_analysis=data["budget_tokens_per_analysis"],
                budget_usd_total=data["budget_usd_total"], holding_days=data["holding_days"],
                benchmark=data["benchmark"], market_data=data["market_data"], concurrency=data["concurrency"],
                options={"analysts": data["analysts"], "debate_rounds": data["debate_rounds"],
                         "risk_rounds": data["risk_rounds"]},
            )
        except install.NotInstalled:
            form.add_error(None, install.INSTALL_HELP)
        except ValidationError as exc:
            self._show(form, exc, arm_errors, aliases={"trade_dates": "start" if data["trade_dates"] == [] else
                                                       "trade_dates"})
        return None

    @staticmethod
    def _show(form: forms.Form, exc: ValidationError, arm_errors: list[str], aliases: dict[str, str]) -> None:
        """A service's errors on the form's fields (an arm's on the arms' table)."""
        if not hasattr(exc, "error_dict"):
            form.add_error(None, exc.messages)
            return
        for key, errors in exc.message_dict.items():
            field = aliases.get(key, key)
            if key.startswith(("arms", "lineup")):
                arm_errors.extend(errors)
            elif key == "options":
                form.add_error("analysts", errors)
            elif field in form.fields and field not in form.errors:
                form.add_error(field, errors)
            else:
                form.add_error(None, errors)

    # The experiment page ------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        experiment = self._experiment(object_id)
        if experiment is None or not self.has_view_permission(request, experiment):
            return super().change_view(request, object_id, form_url, extra_context)  # Django's 404 / 403
        return TemplateResponse(request, "admin/agents_llm/experiment/detail.html", {
            **self.admin_site.each_context(request), **self._install_context(request),
            "title": experiment.name, "subtitle": None, "opts": self.model._meta, "original": experiment,
            "experiment": experiment, "arms": list(experiment.arms.all()),
            "budget_per_analysis": formatting.money(experiment.budget_usd_per_analysis),
            "budget_total": formatting.money(experiment.budget_usd_total),
            "created": formatting.when(experiment.created_at),
            **self._live_context(request, experiment), **self._results_context(experiment),
        })

    def live_view(self, request: HttpRequest, experiment_id: int) -> HttpResponse:
        """The page's live part alone (progress and the grid), fetched on each event."""
        experiment = self._visible(request, experiment_id)
        return TemplateResponse(request, "admin/agents_llm/experiment/live.html",
                                {"experiment": experiment, **self._live_context(request, experiment)})

    def results_view(self, request: HttpRequest, experiment_id: int) -> HttpResponse:
        """The page's results alone, fetched when a cell finishes."""
        experiment = self._visible(request, experiment_id)
        return TemplateResponse(request, "admin/agents_llm/experiment/results.html",
                                {"experiment": experiment, **self._results_context(experiment)})

    def _experiment(self, object_id: Any) -> Experiment | None:
        if not str(object_id).isdigit():
            return None
        return Experiment.objects.select_related("created_by").filter(pk=object_id).first()

    def _visible(self, request: HttpRequest, experiment_id: int) -> Experiment:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Experiment.objects.select_related("created_by"), pk=experiment_id)

    def _live_context(self, request: HttpRequest, experiment: Experiment) -> dict[str, Any]:
        progress = results.experiment_progress(experiment)
        cells = progress["cells"]
        return {
            "progress": progress, "states": [(state, cells.get(state, 0)) for state in CELL_STATES],
            "cells_done": sum(cells.get(state, 0) for state in FINISHED), "cells_total": cells.get("total", 0),
            "spent": formatting.money(progress["spent_usd"]),
            "experiment_badge": self.status_badge(experiment),
            "may_cancel": experiment.status == ExperimentStatus.RUNNING
            and request.user.has_perm("agents_llm.change_experiment"),
            "missing_closes_url": missing_closes_url(),
            **self._grid(experiment),
        }

    def _grid(self, experiment: Experiment) -> dict[str, Any]:
        """Rows ticker × trade date, a column per arm, each cell its analysis."""
        arms = list(experiment.arms.all())
        cells: dict[tuple[str, str, int], Analysis] = {}
        for analysis in Analysis.objects.filter(experiment=experiment).select_related("session", "outcome"):
            cells[(analysis.ticker, analysis.trade_date.isoformat(), analysis.arm_id)] = analysis
        rows = []
        for ticker in experiment.tickers:
            for day in experiment.trade_dates:
                row = []
                for arm in arms:
                    analysis = cells.get((ticker, str(day), arm.pk))
                    row.append(self._cell(analysis) if analysis is not None else None)
                rows.append({"ticker": ticker, "trade_date": day, "cells": row})
        return {"grid_arms": arms, "grid_rows": rows}

    def _cell(self, analysis: Analysis) -> dict[str, Any]:
        outcome = outcome_of(analysis)
        resolved = outcome is not None and outcome.status == OutcomeStatus.RESOLVED
        return {
            "id": analysis.pk, "url": reverse("admin:agents_llm_analysis_change", args=[analysis.pk]),
            "status": analysis.status,
            "status_badge": badge(analysis.get_status_display(), STATUS_COLOURS.get(analysis.status, "#9e9e9e")),
            "rating_badge": badge(analysis.rating, RATING_COLOURS[analysis.rating]) if analysis.rating else "",
            "cost": formatting.money(analysis.session.spent_usd),
            "alpha": admin_charts.signed_percent(outcome.decision_alpha) if resolved else
            ("pending" if outcome is not None and analysis.status == AnalysisStatus.SUCCEEDED else ""),
        }

    def _results_context(self, experiment: Experiment) -> dict[str, Any]:
        found = results.experiment_results(experiment)
        colours = admin_charts.arm_colours(arm["name"] for arm in found["arms"])
        url = lambda pk: reverse("admin:agents_llm_analysis_change", args=[pk])  # noqa: E731
        arms = [{
            "name": arm["name"], "lineup": arm["lineup"], "colour": colours[arm["name"]],
            "analyses": formatting.count(arm["analyses"]), "succeeded": formatting.count(arm["succeeded"]),
            "failed": formatting.count(arm["failed"]), "stopped": formatting.count(arm["stopped"]),
            "cost": formatting.money(arm["cost_usd_mean"]),
            "tokens": formatting.count(None if arm["tokens_mean"] is None else round(arm["tokens_mean"])),
            "ratings": ratings_text(arm["ratings"]), "outcomes": formatting.count(arm["outcomes"]),
            "alpha": admin_charts.signed_percent(arm["decision_alpha_mean"]),
            "alpha_ci": ci_text(arm["decision_alpha_ci"]),
            "hit_rate": formatting.MISSING if arm["hit_rate"] is None else formatting.percent(arm["hit_rate"]),
            "per_usd": admin_charts.per_usd(arm["decision_alpha_per_usd"]),
            "per_usd_ci": ci_text(arm.get("decision_alpha_per_usd_ci")),
        } for arm in found["arms"]]
        pairs = [{
            "a": pair["a"], "b": pair["b"], "cells": formatting.count(pair["cells"]),
            "alpha": admin_charts.signed_percent(pair["decision_alpha_diff"]),
            "alpha_ci": ci_text(pair["decision_alpha_diff_ci"]),
            "cost": formatting.money(pair["cost_usd_diff"]),
            "cost_ci": ci_text(pair.get("cost_usd_diff_ci"), formatting.money),
            "differs_in": ", ".join(pair.get("differs_in") or []) or formatting.MISSING,
        } for pair in found["pairs"]]
        return {
            "result_arms": arms, "pairs": pairs, "pending_outcomes": found["pending_outcomes"],
            "scatter": admin_charts.cost_alpha_scatter(found["points"], colours, url),
            "per_usd_chart": admin_charts.alpha_per_usd_chart(found["arms"], colours),
            "missing_closes_url": missing_closes_url(),
        }

    def cancel_view(self, request: HttpRequest, experiment_id: int) -> HttpResponse:
        if not request.user.has_perm("agents_llm.change_experiment"):
            raise PermissionDenied
        experiment = get_object_or_404(Experiment, pk=experiment_id)
        experiment = services.experiment_cancel(experiment=experiment, user=request.user)
        self.message_user(request, format_html("Experiment “{}” cancelled: no cell starts any more.", experiment.name),
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_llm_experiment_change", args=[experiment_id]))
