"""Admin for sessions: what each piece of work spent against its budget, per agent,
and its gateway calls, updated live. Sessions are opened through the API (their token
is shown once there), so the admin only reads them and can close them."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from agents_llm.metering import sessions as metering
from agents_llm.metering.models import LLMCall, MeteredSession, SessionStatus
from agents_llm.runs.admin import _to_the_second
from agents_llm.usage import selectors

STATUS_COLOURS = {SessionStatus.OPEN: "#2e7d32", SessionStatus.OVER_BUDGET: "#c62828", SessionStatus.CLOSED: "#6d6d6d"}
CALLS_SHOWN = 200


def _money(value: Decimal | None) -> str:
    return "unknown" if value is None else f"{value.normalize():f}" if value else "0"


@admin.register(MeteredSession)
class MeteredSessionAdmin(admin.ModelAdmin):
    list_display = ("name", "status_badge", "spend_bar", "call_count", "run_count", "cost", "created")
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name", "=id")
    date_hierarchy = "created_at"
    actions = ("close_sessions",)
    fieldsets = (
        (None, {"fields": ("status_badge", "owner", "spend_bar", "cost", "tokens", "unpriced_calls", "created", "closed")}),
        ("By agent", {"fields": ("by_agent_table",)}),
        ("Gateway calls", {"fields": ("calls_table",)}),
    )
    readonly_fields = (
        "status_badge", "owner", "spend_bar", "cost", "tokens", "unpriced_calls", "created", "closed",
        "by_agent_table", "calls_table",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[MeteredSession]:
        return selectors.sessions_with_counts().select_related("owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MeteredSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MeteredSession | None = None) -> bool:
        return False  # a session is the record of what a piece of work spent: it is closed, not deleted

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
            label = f"${_money(spent)} of ${_money(Decimal(budget))}" if unit == "$" else f"{spent:f} of {budget} tokens"
            parts.append(format_html(
                '<div class="spend" title="{}"><div class="spend-bar" style="width: 10em; background: #e0e0e0; height: .7em;">'
                '<div style="width: {}%; background: {}; height: 100%;"></div></div><small>{}</small></div>',
                label, f"{share * 100:.1f}", colour, label,
            ))
        if not parts:
            return format_html("<small>no budget: ${} and {} tokens spent</small>", _money(session.spent_usd), session.spent_tokens)
        return format_html_join("", "{}", ((p,) for p in parts))

    @admin.display(description="Calls")
    def call_count(self, session: MeteredSession) -> int:
        return session.n_calls

    @admin.display(description="Runs")
    def run_count(self, session: MeteredSession) -> int:
        return session.n_runs

    @admin.display(description="Cost (USD)", ordering="spent_usd")
    def cost(self, session: MeteredSession) -> str:
        note = f" (+{session.unpriced_calls} of unknown price)" if session.unpriced_calls else ""
        return _money(session.spent_usd) + note

    @admin.display(description="Tokens")
    def tokens(self, session: MeteredSession) -> str:
        reserved = f", {session.reserved_tokens} reserved by calls in flight" if session.reserved_tokens else ""
        return f"{session.spent_tokens} spent{reserved}"

    @admin.display(description="Created", ordering="created_at")
    def created(self, session: MeteredSession) -> str:
        return _to_the_second(session.created_at)

    @admin.display(description="Closed", ordering="closed_at")
    def closed(self, session: MeteredSession) -> str:
        return _to_the_second(session.closed_at)

    @admin.display(description="Per agent")
    def by_agent_table(self, session: MeteredSession) -> str:
        rows = selectors.session_by_agent(session.pk)
        if not rows:
            return "No calls or runs yet."
        body = format_html_join("", (
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td></tr>'
        ), (
            (r["agent"], r["calls"], r["runs"], r["input_tokens"], r["output_tokens"], _money(r["cost"]),
             f"{r['latency_ms']} ms", f"{r['share'] * 100:.1f}")
            for r in rows
        ))
        return format_html(
            '<table class="session-agents"><thead><tr><th>Agent</th><th>Calls</th><th>Runs</th><th>Input tokens</th>'
            "<th>Output tokens</th><th>Cost (USD)</th><th>Latency</th><th>Share of cost</th></tr></thead>"
            "<tbody>{}</tbody></table>", body,
        )

    @admin.display(description="Latest calls")
    def calls_table(self, session: MeteredSession) -> str:
        calls = LLMCall.objects.filter(session=session).select_related("agent", "provider").order_by("-created_at")[:CALLS_SHOWN]
        if not calls:
            return "No gateway calls yet."
        body = format_html_join("", (
            '<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{} / {}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td>{}</td></tr>'
        ), (
            (_to_the_second(c.created_at), c.agent.name, c.model_name or "—", c.input_tokens, c.output_tokens,
             _money(c.cost), "—" if c.latency_ms is None else f"{c.latency_ms} ms", c.get_status_display())
            for c in calls
        ))
        return format_html(
            '<table class="session-calls"><thead><tr><th>Time</th><th>Agent</th><th>Vendor model</th>'
            "<th>Tokens in/out</th><th>Cost (USD)</th><th>Latency</th><th>Status</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )
