"""The agents list and an agent's page with what the agent spent over the usage
dashboard's default period (runs and gateway calls), from three subqueries of the
list's own query: no query per row. Here rather than in agents/admin.py because runs
(and the usage they add up to) sit above the agents in the app's rooms."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Count, DecimalField, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from agents_llm.agents.admin import AgentConfigAdmin
from agents_llm.agents.models import AgentConfig
from agents_llm.metering.models import LLMCall
from agents_llm.runs.models import AgentRun
from agents_llm.usage.dashboard import DEFAULT_DAYS
from agents_llm.usage.selectors import day_bounds
from tradingagents.formatting import count, money

MONEY = DecimalField(max_digits=20, decimal_places=8)


def spend_period() -> tuple[Any, Any]:
    """The dashboard's default period: the last DEFAULT_DAYS UTC days, today included."""
    today = timezone.now().date()
    return day_bounds(today - timedelta(days=DEFAULT_DAYS - 1), today)


def with_spend(agents: QuerySet[AgentConfig]) -> QuerySet[AgentConfig]:
    """`spend_cost`, `spend_calls`, `spend_runs` of each agent over spend_period()."""
    since, until = spend_period()

    def of(model: type, **aggregate: Any) -> Subquery:
        rows = (model.objects.filter(agent=OuterRef("pk"), created_at__gte=since, created_at__lt=until)
                .order_by().values("agent").annotate(**aggregate))
        (name, expression), = aggregate.items()
        return Subquery(rows.values(name), output_field=expression.output_field)

    zero = Decimal(0)
    return agents.annotate(
        spend_cost=Coalesce(of(LLMCall, v=Sum("cost", output_field=MONEY)), zero, output_field=MONEY)
        + Coalesce(of(AgentRun, v=Sum("cost", output_field=MONEY)), zero, output_field=MONEY),
        spend_calls=Coalesce(of(LLMCall, n=Count("pk", output_field=IntegerField())), 0),
        spend_runs=Coalesce(of(AgentRun, n=Count("pk", output_field=IntegerField())), 0),
    )


class AgentSpendAdmin(AgentConfigAdmin):
    list_display = (*AgentConfigAdmin.list_display[:-1], "spend", "calls", "runs", AgentConfigAdmin.list_display[-1])

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentConfig]:
        return with_spend(super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: AgentConfig | None = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "spend_summary") if obj is not None else fields

    def get_fieldsets(self, request: HttpRequest, obj: AgentConfig | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        (name, options), *rest = fieldsets
        main = {**options, "fields": [f for f in options["fields"] if f != "spend_summary"]}
        return [(name, main), *rest, (f"Spend, last {DEFAULT_DAYS} days", {"fields": ("spend_summary",)})]

    @admin.display(description=f"Spend ({DEFAULT_DAYS} days)", ordering="spend_cost")
    def spend(self, agent: AgentConfig) -> str:
        return money(agent.spend_cost)

    @admin.display(description=f"Calls ({DEFAULT_DAYS} days)", ordering="spend_calls")
    def calls(self, agent: AgentConfig) -> str:
        url = reverse("admin:agents_llm_llmcall_changelist") + f"?agent__id__exact={agent.pk}"
        return format_html('<a href="{}">{}</a>', url, count(agent.spend_calls))

    @admin.display(description=f"Runs ({DEFAULT_DAYS} days)", ordering="spend_runs")
    def runs(self, agent: AgentConfig) -> str:
        url = reverse("admin:agents_llm_agentrun_changelist") + f"?agent__id__exact={agent.pk}"
        return format_html('<a href="{}">{}</a>', url, count(agent.spend_runs))

    @admin.display(description="Spend")
    def spend_summary(self, agent: AgentConfig) -> str:
        if not hasattr(agent, "spend_cost"):
            agent = with_spend(AgentConfig.objects.filter(pk=agent.pk)).get()
        return format_html(
            '<span class="agent-spend" data-role="agent-spend"><strong>{}</strong> in {} gateway calls and {} runs</span>'
            ' · <a href="{}">its calls</a> · <a href="{}">its runs</a> · <a href="{}">usage dashboard</a>',
            money(agent.spend_cost), self.calls(agent), self.runs(agent),
            reverse("admin:agents_llm_llmcall_changelist") + f"?agent__id__exact={agent.pk}",
            reverse("admin:agents_llm_agentrun_changelist") + f"?agent__id__exact={agent.pk}",
            reverse("usage-dashboard"),
        )


admin.site.unregister(AgentConfig)
admin.site.register(AgentConfig, AgentSpendAdmin)
