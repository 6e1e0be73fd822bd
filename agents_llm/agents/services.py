"""Writes for agents, their LLM configs, tasks and assignments.

Every interface (admin, API, seed, commands) goes through here; rules live in the
models' clean() and here, once.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from agents_llm.agents.models import (
    AgentAlias,
    AgentConfig,
    AgentLLMConfig,
    AgentTaskAssignment,
    Lineup,
    LineupRole,
    LLMPreset,
    TaskConfig,
    TaskSchemaVersion,
    alias_key,
)
from agents_llm.output_schema import validate_schema
from providers.models import LLMProvider
from providers.services import secret_apply

AGENT_FIELDS = ("name", "display_name", "role", "description", "instructions", "enabled", "metadata_json")
LLM_CONFIG_FIELDS = (
    "provider", "model_name", "temperature", "max_tokens", "top_p", "fallback_provider",
    "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens", "cost_per_1k_cached_input_tokens", "enabled",
    "priority", "metadata_json",
)
TASK_FIELDS = (
    "name", "description", "prompt_template", "response_schema", "output_retries",
    "timeout_seconds", "enabled",
)


def _set_fields(obj: Any, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for field, value in data.items():
        if field not in allowed:
            raise ValueError(f"{field} cannot be set on {type(obj).__name__}")
        setattr(obj, field, value)


def _save(obj: Any, user: AbstractBaseUser | None) -> None:
    obj.full_clean()
    if user is not None and user.is_authenticated:
        obj._history_user = user  # django-simple-history records who changed it
    obj.save()


# Agents ---------------------------------------------------------------------


def agent_create(
    *, user: AbstractBaseUser | None = None, aliases: list[str] | None = None, **data: Any
) -> AgentConfig:
    agent = AgentConfig()
    _set_fields(agent, data, AGENT_FIELDS)
    if not agent.display_name:
        agent.display_name = agent.name.replace("_", " ").replace("-", " ").title()
    with transaction.atomic():
        _save(agent, user)
        if aliases:
            agent_aliases_set(agent=agent, aliases=aliases)
    return agent


def agent_update(*, agent: AgentConfig, data: dict[str, Any], user: AbstractBaseUser | None = None) -> AgentConfig:
    data = dict(data)
    aliases = data.pop("aliases", None)
    _set_fields(agent, data, AGENT_FIELDS)
    with transaction.atomic():
        _save(agent, user)
        if aliases is not None:
            agent_aliases_set(agent=agent, aliases=aliases)
    return agent


ALIAS_MAX_LENGTH = 120


def agent_aliases_set(*, agent: AgentConfig, aliases: list[str]) -> list[str]:
    """Replace the agent's aliases: the other names a gateway client may ask for it by.
    Unique across agents and agent names, ignoring case; the database's unique key
    holds the rule against concurrent saves too."""
    names: list[str] = []
    keys: dict[str, str] = {}
    for index, raw in enumerate(aliases):
        name = " ".join(str(raw).split())
        if not name or len(name) > ALIAS_MAX_LENGTH:
            raise ValidationError({"aliases": f"Alias {index + 1} must be 1 to {ALIAS_MAX_LENGTH} characters."})
        key = alias_key(name)
        if key in keys:
            continue  # the same name twice
        keys[key] = name
        names.append(name)
    taken = AgentAlias.objects.filter(name_key__in=keys).exclude(agent=agent).select_related("agent").first()
    if taken is not None:
        raise ValidationError({"aliases": f"'{taken.name}' is already an alias of agent '{taken.agent.name}'."})
    clash = AgentConfig.objects.filter(name__in=list(keys)).exclude(pk=agent.pk).first()
    if clash is not None:
        raise ValidationError({"aliases": f"'{keys[clash.name]}' is the name of agent '{clash.name}'."})
    with transaction.atomic():
        AgentAlias.objects.filter(agent=agent).exclude(name_key__in=keys).delete()
        existing = dict(AgentAlias.objects.filter(agent=agent).values_list("name_key", "pk"))
        for key, name in keys.items():
            if key in existing:
                AgentAlias.objects.filter(pk=existing[key]).update(name=name)
            else:
                try:
                    with transaction.atomic():
                        AgentAlias.objects.create(agent=agent, name=name)
                except IntegrityError:
                    raise ValidationError({"aliases": f"'{name}' was just taken by another agent."}) from None
    return names


def agent_delete(*, agent: AgentConfig, user: AbstractBaseUser | None = None) -> None:
    if user is not None and user.is_authenticated:
        agent._history_user = user
    agent.delete()


# LLM configs ----------------------------------------------------------------


def llm_config_create(
    *,
    agent: AgentConfig,
    provider: LLMProvider,
    model_name: str,
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
    **data: Any,
) -> AgentLLMConfig:
    config = AgentLLMConfig(agent=agent, provider=provider, model_name=model_name)
    if "priority" not in data:
        data["priority"] = _next_priority(agent)
    _set_fields(config, data, LLM_CONFIG_FIELDS)
    secret_apply(config, api_key)
    _save(config, user)
    return config


def llm_config_update(
    *,
    config: AgentLLMConfig,
    data: dict[str, Any],
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
) -> AgentLLMConfig:
    """Partial update; `api_key=None` keeps the stored key, "" removes it."""
    model_changed = any(
        f in data and data[f] != getattr(config, f) for f in ("provider", "model_name")
    )
    prices_given = "cost_per_1k_input_tokens" in data or "cost_per_1k_output_tokens" in data
    _set_fields(config, data, LLM_CONFIG_FIELDS)
    if model_changed and not prices_given:
        # The old model's catalog prices do not apply to the new one.
        config.cost_per_1k_input_tokens = 0
        config.cost_per_1k_output_tokens = 0
    secret_apply(config, api_key)
    _save(config, user)
    return config


def llm_config_delete(*, config: AgentLLMConfig, user: AbstractBaseUser | None = None) -> None:
    if user is not None and user.is_authenticated:
        config._history_user = user
    config.delete()


@transaction.atomic
def llm_config_upsert_primary(
    *,
    agent: AgentConfig,
    data: dict[str, Any],
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
) -> tuple[AgentLLMConfig, bool]:
    """Update the agent's primary config, or create one. Returns (config, created).

    Idempotent under concurrency: the agent's row is locked first, so concurrent
    upserts of one agent run one after another and all but the first update the
    config the first created."""
    _lock_agent(agent)
    primary = (
        AgentLLMConfig.objects.select_for_update()
        .filter(agent=agent, enabled=True)
        .order_by("priority")
        .first()
    )
    if primary is None:
        fields = dict(data)
        provider = fields.pop("provider")
        model_name = fields.pop("model_name")
        fields.setdefault("priority", 0 if not agent.llm_configs.filter(priority=0).exists() else _next_priority(agent))
        return (
            llm_config_create(agent=agent, provider=provider, model_name=model_name, api_key=api_key, user=user, **fields),
            True,
        )
    data = {k: v for k, v in data.items() if k != "priority"}
    return llm_config_update(config=primary, data=data, api_key=api_key, user=user), False


def _lock_agent(agent: AgentConfig) -> None:
    """Hold the agent's row until the transaction ends. A no-op UPDATE rather than
    select_for_update(): SQLite ignores FOR UPDATE, but an UPDATE takes its write lock
    before anything is read, so a second writer waits (busy timeout) instead of
    reading a snapshot that is stale by the time it writes."""
    AgentConfig.objects.filter(pk=agent.pk).update(name=F("name"))


def _next_priority(agent: AgentConfig) -> int:
    last = agent.llm_configs.order_by("-priority").values_list("priority", flat=True).first()
    return 0 if last is None else last + 1


# Tasks ----------------------------------------------------------------------


@transaction.atomic
def task_create(*, user: AbstractBaseUser | None = None, **data: Any) -> TaskConfig:
    task = TaskConfig()
    _set_fields(task, data, TASK_FIELDS)
    validate_schema(task.response_schema)
    task.schema_version = 1
    _save(task, user)
    TaskSchemaVersion.objects.create(
        task=task, number=1, schema=task.response_schema, created_by=_user_or_none(user)
    )
    return task


@transaction.atomic
def task_update(
    *, task: TaskConfig, data: dict[str, Any], user: AbstractBaseUser | None = None, note: str = ""
) -> TaskConfig:
    """Partial update. A changed schema becomes a new TaskSchemaVersion."""
    task = TaskConfig.objects.select_for_update().get(pk=task.pk)
    old_schema = task.response_schema
    _set_fields(task, data, TASK_FIELDS)
    schema_changed = task.response_schema != old_schema
    if schema_changed:
        validate_schema(task.response_schema)
        task.schema_version = _next_schema_version(task)
    _save(task, user)
    if schema_changed:
        TaskSchemaVersion.objects.create(
            task=task, number=task.schema_version, schema=task.response_schema,
            created_by=_user_or_none(user), note=note,
        )
    return task


def task_restore_schema_version(
    *, task: TaskConfig, number: int, user: AbstractBaseUser | None = None
) -> TaskConfig:
    """Restore an older schema as a new version (history is never rewritten)."""
    version = task.schema_versions.get(number=number)
    return task_update(
        task=task, data={"response_schema": version.schema}, user=user, note=f"restored from v{number}"
    )


def _next_schema_version(task: TaskConfig) -> int:
    last = task.schema_versions.order_by("-number").values_list("number", flat=True).first()
    return (last or 0) + 1


def task_delete(*, task: TaskConfig, user: AbstractBaseUser | None = None) -> None:
    if user is not None and user.is_authenticated:
        task._history_user = user
    task.delete()


def _user_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


# Assignments ----------------------------------------------------------------


def assignment_create(*, agent: AgentConfig, task: TaskConfig) -> AgentTaskAssignment:
    assignment = AgentTaskAssignment(agent=agent, task=task)
    assignment.full_clean()
    assignment.save()
    return assignment


def assignment_delete(*, assignment: AgentTaskAssignment) -> None:
    assignment.delete()


# Bulk -----------------------------------------------------------------------------


class BulkApplyError(Exception):
    """Nothing was applied. `errors` maps each failing agent's name to its field errors."""

    def __init__(self, errors: dict[str, dict[str, list[str]]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} agent(s) rejected the config")


@transaction.atomic
def llm_config_bulk_apply(
    *,
    agents: list[AgentConfig],
    data: dict[str, Any],
    api_key: str | None = None,
    user: AbstractBaseUser | None = None,
) -> list[tuple[AgentLLMConfig, bool]]:
    """Upsert the same primary config on every agent: all or nothing. Every agent is
    tried, so the caller learns all the errors at once. Returns [(config, created)]."""
    results: list[tuple[AgentLLMConfig, bool]] = []
    errors: dict[str, dict[str, list[str]]] = {}
    # All locks first, in one order: two bulk applies naming the same agents in
    # different orders would otherwise deadlock.
    for agent in sorted(agents, key=lambda a: a.pk):
        _lock_agent(agent)
    for agent in agents:
        try:
            with transaction.atomic():
                results.append(llm_config_upsert_primary(agent=agent, data=dict(data), api_key=api_key, user=user))
        except ValidationError as exc:
            errors[agent.name] = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    if errors:
        raise BulkApplyError(errors)
    return results


# Presets --------------------------------------------------------------------


def preset_apply(
    *, preset: LLMPreset, agents: list[AgentConfig], user: AbstractBaseUser | None = None
) -> list[AgentLLMConfig]:
    """Set the preset's provider, model, sampling and fallback on each agent's primary
    config (created where an agent has none). All or none: one invalid config rolls
    back every agent. Audited like any config change."""
    applied = []
    with transaction.atomic():
        for agent in agents:
            try:
                config, _ = llm_config_upsert_primary(agent=agent, data=preset.config_fields(), user=user)
            except ValidationError as exc:
                reasons = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
                raise ValidationError({"agents": f"Agent '{agent.name}': {reasons}"}) from None
            applied.append(config)
    return applied


# Lineups --------------------------------------------------------------------------

LINEUP_FIELDS = ("name", "description")
LINEUP_ROLE_FIELDS = (
    "preset", "provider", "model_name", "temperature", "max_tokens", "top_p", "fallback_provider",
    "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
)


class LineupRolesInvalid(Exception):
    """Nothing was saved. `errors` maps each failing agent's name to its field errors."""

    def __init__(self, errors: dict[str, dict[str, list[str]]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} role(s) of the lineup are invalid")


@transaction.atomic
def lineup_create(
    *, name: str, description: str = "", roles: dict[AgentConfig, dict[str, Any]],
    user: AbstractBaseUser | None = None,
) -> Lineup:
    """A lineup and its roles ({agent: role fields, preset or model}): all or nothing."""
    lineup = Lineup(name=name, description=description)
    _save(lineup, user)
    lineup_roles_set(lineup=lineup, roles=roles, user=user)
    return lineup


@transaction.atomic
def lineup_update(
    *, lineup: Lineup, data: dict[str, Any], roles: dict[AgentConfig, dict[str, Any] | None] | None = None,
    user: AbstractBaseUser | None = None,
) -> Lineup:
    """Partial update: `data` sets the name or description; each agent in `roles` gets
    its row replaced by the fields given (None removes it); other rows stay."""
    _set_fields(lineup, data, LINEUP_FIELDS)
    _save(lineup, user)
    if roles:
        lineup_roles_set(lineup=lineup, roles=roles, user=user)
    return lineup


@transaction.atomic
def lineup_roles_set(
    *, lineup: Lineup, roles: dict[AgentConfig, dict[str, Any] | None], user: AbstractBaseUser | None = None,
) -> None:
    """Replace the rows of the agents in `roles` (None removes one). Every row is
    checked before any is saved, so the caller learns all the errors at once."""
    existing = {row.agent_id: row for row in LineupRole.objects.filter(lineup=lineup)}
    checked: list[LineupRole] = []
    errors: dict[str, dict[str, list[str]]] = {}
    for agent, fields in roles.items():
        row = existing.get(agent.pk)
        if fields is None:
            if row is not None:
                if user is not None and user.is_authenticated:
                    row._history_user = user
                row.delete()
            continue
        row = row or LineupRole(lineup=lineup, agent=agent)
        for name in LINEUP_ROLE_FIELDS:  # a role is replaced whole: what is not given is its default
            setattr(row, name, LineupRole._meta.get_field(name).get_default())
        _set_fields(row, fields, LINEUP_ROLE_FIELDS)
        try:
            row.full_clean()
        except ValidationError as exc:
            errors[agent.name] = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        checked.append(row)
    if errors:
        raise LineupRolesInvalid(errors)
    for row in checked:
        _save(row, user)
