"""Admin for gateway calls: a read-only list and a readable call page. Calls are
written by the gateway only; no prompt or answer text is ever stored."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from agents_llm.metering.models import CallStatus, LLMCall
from agents_llm.runs.admin import SessionFilter, SpendColumns
from tradingagents import formatting

REASON_CHARS = 200  # in lists; the call's page shows the whole error
STATUS_COLOURS = {CallStatus.SUCCEEDED: "#2e7d32", CallStatus.FAILED: "#c62828", CallStatus.REFUSED: "#b26a00"}


def call_status(call: LLMCall) -> str:
    """The call's status; a refused or failed call says why (its error) under it."""
    badge = format_html('<strong style="color: {}">{}</strong>', STATUS_COLOURS.get(call.status, "inherit"),
                        call.get_status_display())
    if call.status == CallStatus.SUCCEEDED or not (call.error or call.error_code):
        return badge
    reason = call.error or call.error_code
    return format_html('{}<br><small class="call-reason" title="{}">{}</small>', badge, reason,
                       Truncator(reason).chars(REASON_CHARS))


@admin.register(LLMCall)
class LLMCallAdmin(SpendColumns, admin.ModelAdmin):
    list_display = (
        "id", "status_badge", "agent", "alias", "answered_by", "tokens", "cost_display", "latency", "streamed",
        "session_link", "created",
    )
    list_filter = (
        "status", "agent", "provider", SessionFilter, "streamed", "fell_back", "synthetic",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("agent", "provider", "user", "session")
    search_fields = ("=id", "alias", "agent__name", "model_name", "error")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": (
            "status_badge", "agent", "alias", "user", "session_link", "answered_by", "streamed", "fell_back",
        )}),
        ("Result", {"fields": ("error_code", "error", "attempts_table")}),
        ("Usage", {"fields": (
            "input_tokens_count", "cache_read_tokens_count", "cache_write_tokens_count", "output_tokens_count",
            "reasoning_tokens_count", "cost_display", "cost_note", "latency",
        )}),
        ("Time", {"fields": ("created",)}),
    )
    readonly_fields = (
        "status_badge", "agent", "alias", "user", "session_link", "answered_by", "streamed", "fell_back", "error_code",
        "error", "attempts_table", "input_tokens_count", "cache_read_tokens_count", "cache_write_tokens_count",
        "output_tokens_count", "reasoning_tokens_count", "cost_display", "cost_note", "latency", "created",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LLMCall | None = None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, call: LLMCall) -> str:
        return call_status(call)

    @admin.display(description="Time", ordering="created_at")
    def created(self, call: LLMCall) -> str:
        return formatting.when(call.created_at)

    @admin.display(description="Attempts")
    def attempts_table(self, call: LLMCall) -> str:
        if not call.attempts:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            ((index + 1, a.get("provider", ""), a.get("model", ""), a.get("error_class") or "answered", a.get("message", ""))
             for index, a in enumerate(call.attempts)),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Model</th><th>Outcome</th><th>Message</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
