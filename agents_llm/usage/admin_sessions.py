"""Admin for sessions: what each piece of work spent against its budget, per agent,
and its gateway calls, updated live. Sessions are opened through the API (their token
is shown once there), so the admin reads them, changes their budgets and closes them."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from agents_llm.metering import sessions as metering
from agents_llm.metering.models import LLMCall, MeteredSession, SessionStatus
from agents_llm.runs.models import AgentRun
from agents_llm.usage import selectors
from agents_llm.usage.admin_calls import call_status
from tradingagents.formatting import count, millis, money, when


class BudgetForm(forms.Form):
    budget_usd = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=8)
    budget_tokens = forms.IntegerField(required=False, min_value=1, max_value=2**62)


STATUS_COLOURS = {SessionStatus.OPEN: "#2e7d32", SessionStatus.OVER_BUDGET: "#c62828", SessionStatus.CLOSED: "#6d6d6d"}
CALLS_SHOWN = 200
RUNS_SHOWN = 200


def _change_url(model: type, pk: object) -> str:
    return reverse(f"admin:agents_llm_{model._meta.model_name}_change", args=[pk])


def _all_of_session(model: type, session: MeteredSession, shown: int, total: int) -> str:
    """The link to the list of every call (or run) of the session, with its filters."""
    url = reverse(f"admin:agents_llm_{model._meta.model_name}_changelist") + f"?session={session.pk}"
    what = model._meta.verbose_name_plural
    label = f"All {count(total)} {what} of this session" if total > shown else f"The {what} of this session in their list"
    return format_html('<p><a href="{}" class="session-{}-list">{} &rsaquo;</a></p>', url, model._meta.model_name, label)


@admin.register(MeteredSession)
class MeteredSessionAdmin(admin.ModelAdmin):
    list_display = ("name", "short_id", "status_badge", "spend_bar", "call_count", "run_count", "cost", "created")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "=id")
    date_hierarchy = "created_at"
    actions = ("close_sessions",)
    fieldsets = (
        (None, {"fields": ("status_badge", "owner", "spend_bar", "cost", "tokens", "unpriced", "created", "closed")}),
        ("Budget", {"fields": ("budget_form",)}),
        ("By agent", {"fields": ("by_agent_table",)}),
        ("Gateway calls", {"fields": ("calls_table",)}),
        ("Runs", {"fields": ("runs_table",)}),
    )
    readonly_fields = (
        "status_badge", "owner", "spend_bar", "cost", "tokens", "unpriced", "created", "closed", "budget_form",
        "by_agent_table", "calls_table", "runs_table",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[MeteredSession]:
        return selectors.sessions_with_counts().select_related("owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MeteredSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MeteredSession | None = None) -> bool:
        return False  # a session is the record of what a piece of work spent: it is closed, not deleted

    def get_urls(self) -> list:
        close = path("<uuid:session_id>/close/", self.admin_site.admin_view(self.close_view),
                     name="agents_llm_meteredsession_close")
        budget = path("<uuid:session_id>/budget/", self.admin_site.admin_view(self.budget_view),
                      name="agents_llm_meteredsession_budget")
        return [close, budget, *super().get_urls()]

    def may_close(self, request: HttpRequest, session: MeteredSession) -> bool:
        """Its owner, or whoever may change sessions."""
        return session.owner_id == request.user.pk or request.user.has_perm("agents_llm.change_meteredsession")

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        session = self.get_object(request, object_id)
        can_close = session is not None and session.status != SessionStatus.CLOSED and self.may_close(request, session)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_close": can_close})

    def close_view(self, request: HttpRequest, session_id: object) -> HttpResponse:
        """The session page's "Close session" button."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        session = get_object_or_404(MeteredSession, pk=session_id)
        if not self.may_close(request, session):
            raise PermissionDenied
        if session.status == SessionStatus.CLOSED:
            self.message_user(request, f"Session '{session}' was already closed.", messages.WARNING)
        else:
            metering.session_close(session=session)
            self.message_user(request, f"Closed session '{session}': new calls in it get 409.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_llm_meteredsession_change", args=[session.pk]))

    def budget_view(self, request: HttpRequest, session_id: object) -> HttpResponse:
        """The session page's "Change budget" button: its owner, or whoever may change
        sessions. Changing a budget re-opens an over-budget session (history keeps it)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        session = get_object_or_404(MeteredSession, pk=session_id)
        if not self.may_close(request, session):
            raise PermissionDenied
        form = BudgetForm(request.POST)
        page = HttpResponseRedirect(reverse("admin:agents_llm_meteredsession_change", args=[session.pk]))
        if not form.is_valid():
            problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
            self.message_user(request, f"The budget was not changed ({problems}).", messages.ERROR)
            return page
        try:
            metering.session_set_budget(session=session, changes=form.cleaned_data, user=request.user)
        except ValidationError as exc:
            self.message_user(request, f"The budget was not changed: {' '.join(exc.messages)}", messages.ERROR)
            return page
        self.message_user(request, f"Changed the budget of session '{session}'.", messages.SUCCESS)
        return page

    @admin.display(description="Change it")
    def budget_form(self, session: MeteredSession) -> str:
        if session.status == SessionStatus.CLOSED:
            return "The session is closed: its budget no longer changes."
        usd = "" if session.budget_usd is None else f"{session.budget_usd.normalize():f}"
        tokens = "" if session.budget_tokens is None else str(session.budget_tokens)
        return format_html(
            '<label>USD <input type="text" inputmode="decimal" name="budget_usd" value="{}" size="10" '
            'aria-label="Budget in USD"></label> '
            '<label>tokens <input type="number" min="1" name="budget_tokens" value="{}" size="10" '
            'aria-label="Budget in tokens"></label> '
            '<input type="submit" value="Change budget" data-role="change-budget" formaction="{}" formmethod="post">'
            "<br><small>Empty: no budget of that kind. Changing a budget re-opens an over-budget session.</small>",
            usd, tokens, reverse("admin:agents_llm_meteredsession_budget", args=[session.pk]),
        )

    @admin.action(description="Close the selected sessions (new calls in them get 409)")
    def close_sessions(self, request: HttpRequest, queryset: QuerySet[MeteredSession]) -> None:
        if not request.user.has_perm("agents_llm.change_meteredsession"):
            self.message_user(request, "Closing sessions needs the 'change session' permission.", messages.ERROR)
            return
        for session in queryset:
            metering.session_close(session=session)
        self.message_user(request, f"Closed {queryset.count()} session(s).")

    @admin.display(description="Status", ordering="status")
    def status_badge(self, session: MeteredSession) -> str:
        return format_html('<strong style="color: {}">{}</strong>', STATUS_COLOURS.get(session.status, "inherit"),
                           session.get_status_display())

    @admin.display(description="Spent / budget")
    def spend_bar(self, session: MeteredSession) -> str:
        parts = []
        for spent, budget, unit in (
            (session.spent_usd, session.budget_usd, "$"), (Decimal(session.spent_tokens), session.budget_tokens, "tokens"),
        ):
            if budget is None:
                continue
            share = min(Decimal(1), spent / Decimal(budget)) if budget else Decimal(1)
            colour = "#c62828" if share >= Decimal("0.9") else "#1565c0"
            label = (f"{money(spent)} of {money(Decimal(budget))}" if unit == "$"
                     else f"{count(spent)} of {count(budget)} tokens")
            parts.append(format_html(
                '<div class="spend" title="{}"><div class="spend-bar" style="width: 10em; background: #e0e0e0; height: .7em;">'
                '<div style="width: {}%; background: {}; height: 100%;"></div></div><small>{}</small></div>',
                label, f"{share * 100:.1f}", colour, label,
            ))
        if not parts:
            return format_html("<small>no budget: {} and {} tokens spent</small>", money(session.spent_usd),
                               count(session.spent_tokens))
        return format_html_join("", "{}", ((p,) for p in parts))

    @admin.display(description="Id")
    def short_id(self, session: MeteredSession) -> str:
        return format_html('<code title="{}">{}</code>', session.pk, str(session.pk)[:8])

    @admin.display(description="Calls")
    def call_count(self, session: MeteredSession) -> str:
        return count(session.n_calls)

    @admin.display(description="Runs")
    def run_count(self, session: MeteredSession) -> str:
        return count(session.n_runs)

    @admin.display(description="Cost (USD)", ordering="spent_usd")
    def cost(self, session: MeteredSession) -> str:
        note = f" (+{count(session.unpriced_calls)} of unknown price)" if session.unpriced_calls else ""
        reserved = f", {money(session.reserved_usd)} reserved by calls in flight" if session.reserved_usd else ""
        return money(session.spent_usd) + note + reserved

    @admin.display(description="Tokens")
    def tokens(self, session: MeteredSession) -> str:
        reserved = f", {count(session.reserved_tokens)} reserved by calls in flight" if session.reserved_tokens else ""
        return f"{count(session.spent_tokens)} spent{reserved}"

    @admin.display(description="Unpriced calls")
    def unpriced(self, session: MeteredSession) -> str:
        return count(session.unpriced_calls)

    @admin.display(description="Created", ordering="created_at")
    def created(self, session: MeteredSession) -> str:
        return when(session.created_at)

    @admin.display(description="Closed", ordering="closed_at")
    def closed(self, session: MeteredSession) -> str:
        return when(session.closed_at)

    @admin.display(description="Per agent")
    def by_agent_table(self, session: MeteredSession) -> str:
        rows = selectors.session_by_agent(session.pk)
        if not rows:
            return "No calls or runs yet."
        body = format_html_join("", (
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td></tr>'
        ), (
            (r["agent"], count(r["calls"]), count(r["runs"]), count(r["input_tokens"]), count(r["output_tokens"]),
             money(r["cost"]), millis(r["latency_ms"]), f"{r['share'] * 100:.1f}")
            for r in rows
        ))
        return format_html(
            '<table class="session-agents"><thead><tr><th>Agent</th><th>Calls</th><th>Runs</th><th>Input tokens</th>'
            "<th>Output tokens</th><th>Cost (USD)</th><th>Latency</th><th>Share of cost</th></tr></thead>"
            "<tbody>{}</tbody></table>", body,
        )

    @admin.display(description="Latest calls")
    def calls_table(self, session: MeteredSession) -> str:
        calls = list(
            LLMCall.objects.filter(session=session).select_related("agent").order_by("-created_at")[:CALLS_SHOWN]
        )
        if not calls:
            return "No gateway calls yet."
        body = format_html_join("", (
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{} / {}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>'
        ), (
            (_change_url(LLMCall, c.pk), c.pk, when(c.created_at), c.agent.name, c.model_name or "—",
             count(c.input_tokens), count(c.output_tokens), money(c.cost, unknown="unknown"), millis(c.latency_ms),
             call_status(c))
            for c in calls
        ))
        return format_html(
            '<table class="session-calls"><thead><tr><th>Call</th><th>Time</th><th>Agent</th><th>Vendor model</th>'
            "<th>Tokens in/out</th><th>Cost (USD)</th><th>Latency</th><th>Status</th></tr></thead><tbody>{}</tbody>"
            "</table>{}",
            body, _all_of_session(LLMCall, session, CALLS_SHOWN, getattr(session, "n_calls", len(calls))),
        )

    @admin.display(description="Latest runs")
    def runs_table(self, session: MeteredSession) -> str:
        runs = list(
            AgentRun.objects.filter(session=session).select_related("agent", "task").order_by("-created_at")[:RUNS_SHOWN]
        )
        if not runs:
            return "No runs yet."
        body = format_html_join("", (
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{} / {}</td>'
            '<td class="num">{}</td><td>{}</td></tr>'
        ), (
            (_change_url(AgentRun, r.pk), r.pk, when(r.created_at), r.agent.name, r.task.name,
             count(r.input_tokens), count(r.output_tokens), money(r.cost, unknown="unknown"), r.get_status_display())
            for r in runs
        ))
        return format_html(
            '<table class="session-runs"><thead><tr><th>Run</th><th>Time</th><th>Agent</th><th>Task</th>'
            "<th>Tokens in/out</th><th>Cost (USD)</th><th>Status</th></tr></thead><tbody>{}</tbody></table>{}",
            body, _all_of_session(AgentRun, session, RUNS_SHOWN, getattr(session, "n_runs", len(runs))),
        )
