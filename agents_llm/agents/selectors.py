"""Reads of agents, their LLM configs and tasks."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from agents_llm.agents.models import AgentConfig, AgentLLMConfig, Lineup, LineupRole, TaskConfig


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


def lineup_role(lineup_id: int, agent_id: int) -> LineupRole | None:
    """The lineup's row for the agent, with what its model is resolved from."""
    return (
        LineupRole.objects.filter(lineup_id=lineup_id, agent_id=agent_id)
        .select_related("provider", "fallback_provider", "preset__provider", "preset__fallback_provider")
        .first()
    )


def lineups_with_roles() -> QuerySet[Lineup]:
    return Lineup.objects.prefetch_related(
        Prefetch(
            "roles",
            queryset=LineupRole.objects.select_related("agent", "provider", "fallback_provider", "preset")
            .order_by("agent__name"),
        )
    )
