"""/api/v1 agents, llm-configs, tasks and assignments. Thin: reads via selectors,
every write through agents_llm.agents.services."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate
from ninja.responses import Status

from agents_llm.agents import selectors, services
from agents_llm.agents.models import AgentConfig, AgentLLMConfig, AgentTaskAssignment, TaskConfig
from agents_llm.agents.schemas import (
    AgentFilters,
    AgentIn,
    AgentOut,
    AgentPatch,
    AssignmentFilters,
    AssignmentIn,
    AssignmentOut,
    BulkApplyIn,
    BulkApplyOut,
    LLMConfigCreateIn,
    LLMConfigFields,
    LLMConfigFilters,
    LLMConfigIn,
    LLMConfigOut,
    LLMConfigPatch,
    Ref,
    SchemaVersionOut,
    TaskFilters,
    TaskIn,
    TaskOut,
    TaskPatch,
)
from agents_llm.output_schema import schema_errors
from providers.models import LLMProvider
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, WRITE_ERRORS, Page

router = Router()

Id = Path(..., ge=1, le=MAX_ID)
PROVIDER_FIELDS = ("provider", "fallback_provider")


# Lookups by name or id ---------------------------------------------------------------


def _by_ref(qs: QuerySet, ref: Ref | str, loc: list[str | int], what: str) -> Any:
    """An object named by id or name. Unknown -> 422 naming the field (not a 404: the
    URL exists, the input is wrong)."""
    found = None
    if isinstance(ref, str):
        found = qs.filter(name=ref).first()
        if found is None and ref.isdigit() and len(ref) < 19:
            found = qs.filter(pk=int(ref)).first()
    elif 1 <= ref <= MAX_ID:
        found = qs.filter(pk=ref).first()
    if found is None:
        raise InputError([{"loc": tuple(loc), "msg": f"No {what} with id or name {ref!r}."}])
    return found


def agent_by_ref(ref: Ref | str, loc: list[str | int]) -> AgentConfig:
    return _by_ref(AgentConfig.objects.all(), ref, loc, "agent")


def task_by_ref(ref: Ref | str, loc: list[str | int]) -> TaskConfig:
    return _by_ref(TaskConfig.objects.all(), ref, loc, "task")


def _resolve_providers(data: dict[str, Any], loc: list[str | int]) -> dict[str, Any]:
    """Providers are named by `name` in requests; swap names for rows."""
    for field in PROVIDER_FIELDS:
        if field not in data:
            continue
        name = data[field]
        if name is None:
            continue
        provider = LLMProvider.objects.filter(name=name).first()
        if provider is None:
            raise InputError([{"loc": (*loc, field), "msg": f"No provider named {name!r}."}])
        data[field] = provider
    return data


def _check_schema(schema: Any) -> None:
    errors = schema_errors(schema)
    if errors:
        raise InputError([
            {"loc": ("body", "response_schema", *[p for p in e.path.split("/") if p]), "msg": e.msg}
            for e in errors
        ])


# Agents ------------------------------------------------------------------------------


@router.get("/agents", response={200: list[AgentOut], **AUTH_ERRORS}, tags=["agents"])
@paginate(Page)
def list_agents(request: HttpRequest, filters: AgentFilters = Query(...)) -> QuerySet[AgentConfig]:
    require_read(request, "agents_llm.agentconfig")
    qs = selectors.agent_list_with_configs()
    if filters.role is not None:
        qs = qs.filter(role=filters.role)
    if filters.enabled is not None:
        qs = qs.filter(enabled=filters.enabled)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(display_name__icontains=filters.q))
    return qs.order_by(filters.ordering, "pk")


@router.post("/agents", response={201: AgentOut, **WRITE_ERRORS}, tags=["agents"])
def create_agent(request: HttpRequest, payload: AgentIn):
    require_perm(request, "agents_llm.add_agentconfig")
    agent = services.agent_create(user=request.auth, **payload.dict())
    return Status(201, _agent_with_configs(agent.pk))


def _agent_with_configs(agent_id: int) -> AgentConfig:
    return get_object_or_404(selectors.agent_list_with_configs(), pk=agent_id)


@router.get("/agents/{agent_id}", response={200: AgentOut, **READ_ERRORS}, tags=["agents"])
def get_agent(request: HttpRequest, agent_id: int = Id):
    require_read(request, "agents_llm.agentconfig")
    return _agent_with_configs(agent_id)


@router.patch("/agents/{agent_id}", response={200: AgentOut, **WRITE_ERRORS}, tags=["agents"])
def update_agent(request: HttpRequest, payload: AgentPatch, agent_id: int = Id):
    require_perm(request, "agents_llm.change_agentconfig")
    agent = get_object_or_404(AgentConfig, pk=agent_id)
    services.agent_update(agent=agent, data=payload.dict(exclude_unset=True), user=request.auth)
    return _agent_with_configs(agent_id)


@router.delete("/agents/{agent_id}", response={204: None, **WRITE_ERRORS}, tags=["agents"])
def delete_agent(request: HttpRequest, agent_id: int = Id):
    require_perm(request, "agents_llm.delete_agentconfig")
    services.agent_delete(agent=get_object_or_404(AgentConfig, pk=agent_id), user=request.auth)
    return Status(204, None)


# LLM configs -------------------------------------------------------------------------


@router.get("/agents/{agent_id}/llm-configs", response={200: list[LLMConfigOut], **READ_ERRORS}, tags=["llm-configs"])
def list_agent_llm_configs(request: HttpRequest, agent_id: int = Id):
    """All LLM configs of an agent by priority; the first enabled one is the primary."""
    require_read(request, "agents_llm.agentllmconfig")
    configs = list(selectors.agent_llm_configs(agent_id))
    if not configs and not AgentConfig.objects.filter(pk=agent_id).exists():
        return Status(404, {"detail": "Not found.", "errors": []})
    return configs


@router.post("/agents/{agent_id}/llm-configs", response={201: LLMConfigOut, **WRITE_ERRORS}, tags=["llm-configs"])
def create_agent_llm_config(request: HttpRequest, payload: LLMConfigIn, agent_id: int = Id):
    require_perm(request, "agents_llm.add_agentllmconfig")
    agent = get_object_or_404(AgentConfig, pk=agent_id)
    return Status(201, _create_config(request, agent, payload.dict()))


def _create_config(request: HttpRequest, agent: AgentConfig, data: dict[str, Any]) -> AgentLLMConfig:
    data = _resolve_providers(data, ["body"])
    if data.get("priority") is None:
        data.pop("priority", None)
    api_key = data.pop("api_key", None)
    return services.llm_config_create(agent=agent, api_key=api_key, user=request.auth, **data)


@router.put("/agents/{agent_id}/llm-config", response={200: LLMConfigOut, 201: LLMConfigOut, **WRITE_ERRORS}, tags=["llm-configs"])
def upsert_primary_llm_config(request: HttpRequest, payload: LLMConfigFields, agent_id: int = Id):
    """Update the agent's primary config (its lowest enabled priority), or create one (201)."""
    require_perm(request, "agents_llm.add_agentllmconfig", "agents_llm.change_agentllmconfig")
    agent = get_object_or_404(AgentConfig, pk=agent_id)
    data = _resolve_providers(payload.dict(), ["body"])
    api_key = data.pop("api_key", None)
    config, created = services.llm_config_upsert_primary(agent=agent, data=data, api_key=api_key, user=request.auth)
    return Status(201 if created else 200, config)


@router.post("/llm-configs/bulk", response={200: BulkApplyOut, **WRITE_ERRORS}, tags=["llm-configs"])
def bulk_apply_llm_config(request: HttpRequest, payload: BulkApplyIn):
    """Upsert one primary config on many agents, atomically: if any agent rejects it,
    nothing changes and every agent's errors are returned."""
    require_perm(request, "agents_llm.add_agentllmconfig", "agents_llm.change_agentllmconfig")
    agents = [agent_by_ref(ref, ["body", "agents", i]) for i, ref in enumerate(payload.agents)]
    data = _resolve_providers(payload.config.dict(), ["body", "config"])
    api_key = data.pop("api_key", None)
    try:
        results = services.llm_config_bulk_apply(agents=agents, data=data, api_key=api_key, user=request.auth)
    except services.BulkApplyError as exc:
        errors = [
            {"loc": ["body", "agents", name, *([] if field == "__all__" else [field])], "msg": msg}
            for name, fields in exc.errors.items()
            for field, messages in fields.items()
            for msg in messages
        ]
        detail = f"Nothing applied: {len(exc.errors)} of {len(agents)} agents rejected the config."
        return Status(422, {"detail": detail, "errors": errors})
    created = sum(1 for _, was_created in results if was_created)
    return {"applied": [c for c, _ in results], "created": created, "updated": len(results) - created}


def _config_qs() -> QuerySet[AgentLLMConfig]:
    return AgentLLMConfig.objects.select_related("provider", "fallback_provider")


@router.get("/llm-configs", response={200: list[LLMConfigOut], **AUTH_ERRORS}, tags=["llm-configs"])
@paginate(Page)
def list_llm_configs(request: HttpRequest, filters: LLMConfigFilters = Query(...)) -> QuerySet[AgentLLMConfig]:
    require_read(request, "agents_llm.agentllmconfig")
    qs = _config_qs()
    if filters.agent:
        qs = qs.filter(agent=agent_by_ref(filters.agent, ["query", "agent"]))
    if filters.provider:
        qs = qs.filter(provider__name=filters.provider)
    if filters.enabled is not None:
        qs = qs.filter(enabled=filters.enabled)
    return qs.order_by("agent__name", "priority", "pk")


@router.post("/llm-configs", response={201: LLMConfigOut, **WRITE_ERRORS}, tags=["llm-configs"])
def create_llm_config(request: HttpRequest, payload: LLMConfigCreateIn):
    require_perm(request, "agents_llm.add_agentllmconfig")
    data = payload.dict()
    agent = agent_by_ref(data.pop("agent"), ["body", "agent"])
    return Status(201, _create_config(request, agent, data))


@router.get("/llm-configs/{config_id}", response={200: LLMConfigOut, **READ_ERRORS}, tags=["llm-configs"])
def get_llm_config(request: HttpRequest, config_id: int = Id):
    require_read(request, "agents_llm.agentllmconfig")
    return get_object_or_404(_config_qs(), pk=config_id)


@router.patch("/llm-configs/{config_id}", response={200: LLMConfigOut, **WRITE_ERRORS}, tags=["llm-configs"])
def update_llm_config(request: HttpRequest, payload: LLMConfigPatch, config_id: int = Id):
    require_perm(request, "agents_llm.change_agentllmconfig")
    config = get_object_or_404(_config_qs(), pk=config_id)
    data = _resolve_providers(payload.dict(exclude_unset=True), ["body"])
    api_key = data.pop("api_key", None)
    return services.llm_config_update(config=config, data=data, api_key=api_key, user=request.auth)


@router.delete("/llm-configs/{config_id}", response={204: None, **WRITE_ERRORS}, tags=["llm-configs"])
def delete_llm_config(request: HttpRequest, config_id: int = Id):
    require_perm(request, "agents_llm.delete_agentllmconfig")
    services.llm_config_delete(config=get_object_or_404(AgentLLMConfig, pk=config_id), user=request.auth)
    return Status(204, None)


# Tasks -------------------------------------------------------------------------------


@router.get("/tasks", response={200: list[TaskOut], **AUTH_ERRORS}, tags=["tasks"])
@paginate(Page)
def list_tasks(request: HttpRequest, filters: TaskFilters = Query(...)) -> QuerySet[TaskConfig]:
    require_read(request, "agents_llm.taskconfig")
    qs = TaskConfig.objects.all()
    if filters.enabled is not None:
        qs = qs.filter(enabled=filters.enabled)
    if filters.q:
        qs = qs.filter(name__icontains=filters.q)
    return qs.order_by(filters.ordering, "pk")


@router.post("/tasks", response={201: TaskOut, **WRITE_ERRORS}, tags=["tasks"])
def create_task(request: HttpRequest, payload: TaskIn):
    require_perm(request, "agents_llm.add_taskconfig")
    _check_schema(payload.response_schema)
    return Status(201, services.task_create(user=request.auth, **payload.dict()))


@router.get("/tasks/{task_id}", response={200: TaskOut, **READ_ERRORS}, tags=["tasks"])
def get_task(request: HttpRequest, task_id: int = Id):
    require_read(request, "agents_llm.taskconfig")
    return get_object_or_404(TaskConfig, pk=task_id)


@router.patch("/tasks/{task_id}", response={200: TaskOut, **WRITE_ERRORS}, tags=["tasks"])
def update_task(request: HttpRequest, payload: TaskPatch, task_id: int = Id):
    """A changed response_schema becomes a new schema version."""
    require_perm(request, "agents_llm.change_taskconfig")
    task = get_object_or_404(TaskConfig, pk=task_id)
    data = payload.dict(exclude_unset=True)
    note = data.pop("note", "") or ""
    if "response_schema" in data:
        _check_schema(data["response_schema"])
    return services.task_update(task=task, data=data, user=request.auth, note=note)


@router.delete("/tasks/{task_id}", response={204: None, **WRITE_ERRORS}, tags=["tasks"])
def delete_task(request: HttpRequest, task_id: int = Id):
    require_perm(request, "agents_llm.delete_taskconfig")
    services.task_delete(task=get_object_or_404(TaskConfig, pk=task_id), user=request.auth)
    return Status(204, None)


@router.get("/tasks/{task_id}/schema-versions", response={200: list[SchemaVersionOut], **READ_ERRORS}, tags=["tasks"])
def list_schema_versions(request: HttpRequest, task_id: int = Id):
    """Every schema the task ever had, newest first."""
    require_read(request, "agents_llm.taskconfig")
    task = get_object_or_404(TaskConfig, pk=task_id)
    return list(task.schema_versions.select_related("created_by").order_by("-number"))


# Assignments -------------------------------------------------------------------------


def _assignment_qs() -> QuerySet[AgentTaskAssignment]:
    return AgentTaskAssignment.objects.select_related("agent", "task")


@router.get("/assignments", response={200: list[AssignmentOut], **AUTH_ERRORS}, tags=["assignments"])
@paginate(Page)
def list_assignments(request: HttpRequest, filters: AssignmentFilters = Query(...)) -> QuerySet[AgentTaskAssignment]:
    require_read(request, "agents_llm.agenttaskassignment")
    qs = _assignment_qs()
    if filters.agent:
        qs = qs.filter(agent=agent_by_ref(filters.agent, ["query", "agent"]))
    if filters.task:
        qs = qs.filter(task=task_by_ref(filters.task, ["query", "task"]))
    return qs.order_by("agent__name", "task__name", "pk")


@router.post("/assignments", response={201: AssignmentOut, **WRITE_ERRORS}, tags=["assignments"])
def create_assignment(request: HttpRequest, payload: AssignmentIn):
    require_perm(request, "agents_llm.add_agenttaskassignment")
    agent = agent_by_ref(payload.agent, ["body", "agent"])
    task = task_by_ref(payload.task, ["body", "task"])
    if AgentTaskAssignment.objects.filter(agent=agent, task=task).exists():
        return Status(409, {
            "detail": f"Agent {agent.name!r} is already assigned to task {task.name!r}.",
            "errors": [{"loc": ["body", "task"], "msg": "This agent is already assigned to this task."}],
        })
    return Status(201, services.assignment_create(agent=agent, task=task))


@router.get("/assignments/{assignment_id}", response={200: AssignmentOut, **READ_ERRORS}, tags=["assignments"])
def get_assignment(request: HttpRequest, assignment_id: int = Id):
    require_read(request, "agents_llm.agenttaskassignment")
    return get_object_or_404(_assignment_qs(), pk=assignment_id)


@router.delete("/assignments/{assignment_id}", response={204: None, **WRITE_ERRORS}, tags=["assignments"])
def delete_assignment(request: HttpRequest, assignment_id: int = Id):
    require_perm(request, "agents_llm.delete_agenttaskassignment")
    services.assignment_delete(assignment=get_object_or_404(AgentTaskAssignment, pk=assignment_id))
    return Status(204, None)
