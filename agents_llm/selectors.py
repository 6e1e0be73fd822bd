"""Reads for agents, configs, tasks and runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, RunStatus, TaskConfig
from tradingagents import hot_reads


def agent_llm_configs(agent: AgentConfig | int, *, enabled_only: bool = False) -> QuerySet[AgentLLMConfig]:
    """An agent's configs by priority (primary first), with their providers."""
    agent_id = agent if isinstance(agent, int) else agent.pk
    qs = AgentLLMConfig.objects.filter(agent_id=agent_id).select_related("provider", "fallback_provider")
    if enabled_only:
        qs = qs.filter(enabled=True)
    return qs.order_by("priority")


def agent_primary_config(agent: AgentConfig | int) -> AgentLLMConfig | None:
    return agent_llm_configs(agent, enabled_only=True).first()


def agent_list_with_configs() -> QuerySet[AgentConfig]:
    return AgentConfig.objects.prefetch_related(
        "alias_rows",
        Prefetch(
            "llm_configs",
            queryset=AgentLLMConfig.objects.select_related("provider", "fallback_provider").order_by("priority"),
        )
    )


def task_get_by_name_or_id(ref: str | int) -> TaskConfig:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return TaskConfig.objects.get(pk=int(ref))
    return TaskConfig.objects.get(name=ref)


def agent_get_by_name_or_id(ref: str | int) -> AgentConfig:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return AgentConfig.objects.get(pk=int(ref))
    return AgentConfig.objects.get(name=ref)


def run_list() -> QuerySet[AgentRun]:
    return AgentRun.objects.select_related("agent", "task", "provider")


RUN_SNAPSHOT_SIZE = 100
RUN_SNAPSHOT_FINISHED_SECONDS = 600
RUN_EVENTS = {"queued": "run.queued", "running": "run.started", "succeeded": "run.finished", "failed": "run.finished"}


def run_events_snapshot() -> list[tuple[str, int, dict[str, Any]]]:
    """What a socket subscribing to `runs` is sent first: each unfinished run and each
    run finished in the last ten minutes, as the event of its current status (the
    newest RUN_SNAPSHOT_SIZE, oldest first), so a live list converges after a reconnect."""
    from agents_llm.runner import run_event_data

    recent = timezone.now() - timedelta(seconds=RUN_SNAPSHOT_FINISHED_SECONDS)
    runs = run_list().filter(
        Q(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)) | Q(finished_at__gte=recent)
    ).order_by("-pk")[:RUN_SNAPSHOT_SIZE]
    return [
        (RUN_EVENTS[run.status], run.pk, run_event_data(run, provider_name=run.provider.name if run.provider_id else ""))
        for run in reversed(runs)
    ]


def agent_llm_configs_for_display(agent_id: int) -> list[AgentLLMConfig]:
    """Like agent_llm_configs(), for the API's hottest read: one hand-written query.

    Compiling the equivalent ORM query (two provider joins) costs several times the
    query itself; the providers attached here carry only what responses show (name,
    type) and must not be saved."""
    from django.db import connection

    from providers.models import LLMProvider

    quote = connection.ops.quote_name
    fields = AgentLLMConfig._meta.concrete_fields
    table, providers = quote(AgentLLMConfig._meta.db_table), quote(LLMProvider._meta.db_table)
    columns = ", ".join(f"c.{quote(field.column)}" for field in fields)
    sql = (
        f"SELECT {columns}, p.name, p.provider_type, f.name, "
        f"f.provider_type FROM {table} c JOIN {providers} p ON p.id = c.provider_id "
        f"LEFT JOIN {providers} f ON f.id = c.fallback_provider_id WHERE c.agent_id = %s ORDER BY c.priority"
    )
    # A prepared statement on PostgreSQL (tradingagents.hot_reads): planned once per connection.
    rows = hot_reads.fetch_all(sql, [agent_id])
    configs = []
    for row in rows:
        config = hot_reads.instance(AgentLLMConfig, fields, row[: len(fields)])
        provider_name, provider_type, fallback_name, fallback_type = row[len(fields):]
        config.provider = LLMProvider(id=config.provider_id, name=provider_name, provider_type=provider_type)
        if config.fallback_provider_id:
            config.fallback_provider = LLMProvider(
                id=config.fallback_provider_id, name=fallback_name, provider_type=fallback_type
            )
        configs.append(config)
    return configs


def sessions_with_counts():
    """Sessions with how many gateway calls and runs each has (`n_calls`, `n_runs`)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from agents_llm.models import LLMCall, MeteredSession

    def count(model):
        rows = model.objects.filter(session=OuterRef("pk")).order_by().values("session").annotate(n=Count("pk"))
        return Coalesce(Subquery(rows.values("n"), output_field=IntegerField()), 0)

    return MeteredSession.objects.annotate(n_calls=count(LLMCall), n_runs=count(AgentRun))


def session_by_agent(session_id) -> list[dict]:
    """A row per agent of the session: its calls and runs, tokens, known cost, latency
    and share of the session's known cost (two GROUP BY queries)."""
    from decimal import Decimal

    from django.db.models import Count, Q, Sum

    from agents_llm.models import LLMCall

    rows: dict[str, dict] = {}
    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "latency_ms")
    sums = {
        "n": Count("pk"), "s_cost": Sum("cost"), "s_unpriced": Count("pk", filter=Q(cost__isnull=True)),
        **{f"s_{f}": Sum(f) for f in fields},
    }
    for kind, model in (("calls", LLMCall), ("runs", AgentRun)):
        for group in model.objects.filter(session_id=session_id).values("agent__name").annotate(**sums).order_by():
            row = rows.setdefault(group["agent__name"], {
                "agent": group["agent__name"], "calls": 0, "runs": 0, "input_tokens": 0, "output_tokens": 0,
                "cache_read_tokens": 0, "cost": Decimal(0), "unpriced": 0, "latency_ms": 0,
            })
            row[kind] += group["n"]
            for key in (*fields, "unpriced"):
                row[key] += group[f"s_{key}"] or 0
            row["cost"] += group["s_cost"] or 0
    total = sum((r["cost"] for r in rows.values()), Decimal(0))
    for row in rows.values():
        row["share"] = float(row["cost"] / total) if total else 0.0
    return sorted(rows.values(), key=lambda r: (-r["cost"], r["agent"]))
