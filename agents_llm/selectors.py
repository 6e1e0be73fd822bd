"""Reads for agents, configs, tasks and runs."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, TaskConfig


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


def agent_llm_configs_for_display(agent_id: int) -> list[AgentLLMConfig]:
    """Like agent_llm_configs(), for the API's hottest read: one hand-written query.

    Compiling the equivalent ORM query (two provider joins) costs several times the
    query itself; the providers attached here carry only what responses show (name,
    type) and must not be saved."""
    from providers.models import LLMProvider

    configs, providers = AgentLLMConfig._meta.db_table, LLMProvider._meta.db_table
    sql = (
        f"SELECT c.*, p.name AS provider_name_, p.provider_type AS provider_type_, f.name AS fallback_name_, "
        f"f.provider_type AS fallback_type_ FROM {configs} c JOIN {providers} p ON p.id = c.provider_id "
        f"LEFT JOIN {providers} f ON f.id = c.fallback_provider_id WHERE c.agent_id = %s ORDER BY c.priority"
    )
    rows = list(AgentLLMConfig.objects.raw(sql, [agent_id]))
    for row in rows:
        row.provider = LLMProvider(id=row.provider_id, name=row.provider_name_, provider_type=row.provider_type_)
        if row.fallback_provider_id:
            row.fallback_provider = LLMProvider(
                id=row.fallback_provider_id, name=row.fallback_name_, provider_type=row.fallback_type_
            )
    return rows
