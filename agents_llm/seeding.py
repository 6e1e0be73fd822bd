"""`manage.py seed`: idempotent creation of the roster, tasks, providers and configs."""

from __future__ import annotations

import os

from django.db import transaction

from agents_llm import seed_data
from agents_llm.agents.services import (
    agent_aliases_set,
    agent_create,
    assignment_create,
    lineup_create,
    llm_config_create,
    task_create,
)
from agents_llm.models import AgentAlias, AgentConfig, AgentTaskAssignment, Lineup, LLMPreset, TaskConfig, alias_key
from providers.catalog import TYPES, ProviderType
from providers.models import LLMProvider
from providers.services import provider_create

# Vendors whose key in the environment makes seed create a provider for them.
_VENDOR_TYPES = [t for t, info in TYPES.items() if info.needs_key and info.genai_prices_id]


@transaction.atomic
def seed_run() -> dict[str, int]:
    """Create whatever is missing; never changes what exists. Returns what was created."""
    created = {"providers": 0, "agents": 0, "aliases": 0, "tasks": 0, "assignments": 0, "llm_configs": 0, "presets": 0,
               "lineups": 0}

    providers = {p.provider_type: p for p in LLMProvider.objects.all()}
    if not LLMProvider.objects.filter(name="offline").exists():
        providers.setdefault(ProviderType.OFFLINE, provider_create(name="offline", provider_type=ProviderType.OFFLINE))
        created["providers"] += 1
    for provider_type in _VENDOR_TYPES:
        # The key stays in the environment (resolved there at call time), not copied into the database.
        if os.environ.get(TYPES[provider_type].env_var) and not LLMProvider.objects.filter(name=provider_type).exists():
            providers[provider_type] = provider_create(name=provider_type, provider_type=provider_type)
            created["providers"] += 1

    default_provider = next(
        (providers[t] for t in _VENDOR_TYPES if t in providers and os.environ.get(TYPES[t].env_var)),
        providers.get(ProviderType.OFFLINE) or LLMProvider.objects.get(name="offline"),
    )

    agents = {a.name: a for a in AgentConfig.objects.all()}
    for name, display_name, role, _deep, instructions in seed_data.AGENTS:
        if name not in agents:
            agents[name] = agent_create(name=name, display_name=display_name, role=role, instructions=instructions)
            created["agents"] += 1

    with_aliases = set(AgentAlias.objects.values_list("agent__name", flat=True))
    for name, aliases in seed_data.ALIASES.items():
        if name in agents and name not in with_aliases:
            # An alias another agent already answers to stays with it: seed never moves one.
            free = [a for a in aliases if not AgentAlias.objects.filter(name_key=alias_key(a)).exists()]
            created["aliases"] += len(agent_aliases_set(agent=agents[name], aliases=free))

    tasks = {t.name: t for t in TaskConfig.objects.all()}
    assigned = set(AgentTaskAssignment.objects.values_list("agent__name", "task__name"))
    for spec in seed_data.TASKS:
        if spec["name"] not in tasks:
            tasks[spec["name"]] = task_create(
                name=spec["name"], description=spec["description"],
                prompt_template=spec["prompt_template"], response_schema=spec["response_schema"],
            )
            created["tasks"] += 1
        for agent_name in spec["agents"]:
            if (agent_name, spec["name"]) not in assigned:
                assignment_create(agent=agents[agent_name], task=tasks[spec["name"]])
                created["assignments"] += 1

    with_configs = set(AgentConfig.objects.filter(llm_configs__isnull=False).values_list("name", flat=True))
    info = TYPES[default_provider.provider_type]
    for name, _display, _role, deep, _instructions in seed_data.AGENTS:
        if name not in with_configs:
            model = info.deep_model if deep else info.quick_model
            llm_config_create(agent=agents[name], provider=default_provider, model_name=model, priority=0)
            created["llm_configs"] += 1

    existing = set(LLMPreset.objects.values_list("name", flat=True))
    for name, deep, description in seed_data.PRESETS:
        if name not in existing:
            preset = LLMPreset(
                name=name, description=description, provider=default_provider,
                model_name=info.deep_model if deep else info.quick_model,
            )
            preset.full_clean()
            preset.save()
            created["presets"] += 1

    presets = {p.name: p for p in LLMPreset.objects.all()}
    existing = set(Lineup.objects.values_list("name", flat=True))
    for name, description, roles in seed_data.LINEUPS:
        if name not in existing:
            lineup_create(name=name, description=description, roles={
                agents[agent]: {"preset": presets[preset]}
                for agent, preset in roles.items() if agent in agents and preset in presets
            })
            created["lineups"] += 1
    return created
