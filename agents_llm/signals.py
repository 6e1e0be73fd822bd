"""Live events for agents, tasks and LLM configs (topics `agents`, `tasks`,
`llm_configs`; runs are published by the runtime as `run.*` events), and the version
bump that retires every cached chain when a row it was built from changes."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from agents_llm.models import (
    AgentAlias,
    AgentConfig,
    AgentLLMConfig,
    AgentTaskAssignment,
    Lineup,
    LineupRole,
    LLMPreset,
    TaskConfig,
)
from tradingagents import versions
from tradingagents.events import publish


def agent_event_data(agent: AgentConfig) -> dict[str, Any]:
    return {
        "id": agent.pk,
        "name": agent.name,
        "display_name": agent.display_name,
        "role": agent.role,
        "enabled": agent.enabled,
        "updated_at": agent.updated_at,
    }


def task_event_data(task: TaskConfig) -> dict[str, Any]:
    return {
        "id": task.pk,
        "name": task.name,
        "description": task.description,
        "schema_version": task.schema_version,
        "enabled": task.enabled,
        "updated_at": task.updated_at,
    }


def llm_config_event_data(config: AgentLLMConfig) -> dict[str, Any]:
    # Explicit fields: never the encrypted key, only its last 4 characters.
    return {
        "id": config.pk,
        "agent_id": config.agent_id,
        "provider_id": config.provider_id,
        "model_name": config.model_name,
        "priority": config.priority,
        "enabled": config.enabled,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "top_p": config.top_p,
        "fallback_provider_id": config.fallback_provider_id,
        "fallback_model": config.fallback_model,
        "has_api_key": config.has_api_key,
        "api_key_hint": config.api_key_hint,
        "updated_at": config.updated_at,
    }


TOPIC_OF: dict[type[Model], tuple[str, Any]] = {
    AgentConfig: ("agents", agent_event_data),
    TaskConfig: ("tasks", task_event_data),
    AgentLLMConfig: ("llm_configs", llm_config_event_data),
}


def saved(sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    topic, data = TOPIC_OF[sender]
    publish(topic, "created" if created else "updated", instance.pk, data(instance))


def deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    topic, _ = TOPIC_OF[sender]
    data: dict[str, Any] = {"id": instance.pk}
    if isinstance(instance, AgentLLMConfig):
        data["agent_id"] = instance.agent_id
    else:
        data["name"] = instance.name
    publish(topic, "deleted", instance.pk, data)


def connect() -> None:
    for model in TOPIC_OF:
        post_save.connect(saved, sender=model, dispatch_uid=f"agents_llm.events.saved.{model.__name__}")
        post_delete.connect(deleted, sender=model, dispatch_uid=f"agents_llm.events.deleted.{model.__name__}")
    # Chains and run targets are cached per process (agents_llm.agents.chain,
    # agents_llm.runs.registry): any change to a row they are built from retires them.
    from providers.models import LLMProvider

    # Presets and lineups route a lineup's calls (a role may name a preset).
    for model in (
        AgentConfig, AgentAlias, AgentLLMConfig, TaskConfig, AgentTaskAssignment, LLMProvider, LLMPreset, Lineup,
        LineupRole,
    ):
        post_save.connect(config_changed, sender=model, dispatch_uid=f"agents_llm.versions.saved.{model.__name__}")
        post_delete.connect(config_changed, sender=model, dispatch_uid=f"agents_llm.versions.deleted.{model.__name__}")
    connect_experiments()
    connect_outcomes()


def outcome_on_analysis_finished(sender: Any, analysis: Any, **kwargs: Any) -> None:
    """A succeeded analysis gets its outcome (agents_llm.experiments.outcomes), pending
    until its closes are stored."""
    from agents_llm.experiments.outcomes import on_analysis_finished

    on_analysis_finished(analysis)


def connect_outcomes() -> None:
    from agents_llm.analyses.live import analysis_finished

    analysis_finished.connect(outcome_on_analysis_finished, dispatch_uid="agents_llm.experiments.outcomes")


def config_changed(sender: type[Model], **kwargs: Any) -> None:
    versions.bump(versions.CONFIG)


def connect_experiments() -> None:
    """An experiment's cell that ended lets its experiment start its next cells."""
    from agents_llm.analyses.live import analysis_finished

    analysis_finished.connect(experiment_cell_finished, dispatch_uid="agents_llm.experiments.cell_finished")


def experiment_cell_finished(sender: Any, analysis: Any, **kwargs: Any) -> None:
    if analysis.experiment_id is None:
        return
    from django.db import transaction

    from agents_llm.experiments.services import experiment_advance

    experiment_id = analysis.experiment_id
    # robust: a step that fails does not fail the worker's end of the analysis (the
    # periodic experiments_advance_all takes the step again).
    transaction.on_commit(lambda: experiment_advance(experiment_id), robust=True)
