"""Admin for lineups: a table of roles × settings (an agent per row, with its model or a preset)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from agents_llm.agents.admin import _model_picker_field
from agents_llm.agents.models import Lineup, LineupRole


class LineupRoleInline(admin.TabularInline):
    model = LineupRole
    extra = 1
    fields = (
        "agent", "preset", "provider", "model_name", "temperature", "max_tokens", "top_p",
        "fallback_provider", "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return _model_picker_field(db_field, request, **kwargs) or super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LineupRole]:
        return super().get_queryset(request).select_related("agent", "preset", "provider", "fallback_provider")


@admin.register(Lineup)
class LineupAdmin(SimpleHistoryAdmin):
    list_display = ("name", "description", "role_count", "updated_at")
    search_fields = ("name", "description")
    inlines = (LineupRoleInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lineup]:
        return super().get_queryset(request).annotate(n_roles=Count("roles"))

    @admin.display(description="Roles", ordering="n_roles")
    def role_count(self, obj: Lineup) -> int:
        return obj.n_roles
