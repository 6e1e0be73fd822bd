"""/api/v1/runs: queue a run, or run one inline (`?wait=true`), and read them."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

import functools
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate
from ninja.responses import Status

from agents_llm.agents.api import agent_by_ref, task_by_ref
from agents_llm.agents.models import AgentConfig, TaskConfig
from agents_llm.metering.models import MeteredSession, SessionStatus
from agents_llm.runs import runner, selectors
from agents_llm.runs.models import AgentRun
from agents_llm.runs.schemas import RunFilters, RunIn, RunOut
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, WRITE_ERRORS, ErrorOut, Page

router = Router()

Id = Path(..., ge=1, le=MAX_ID)


def _run_qs() -> QuerySet[AgentRun]:
    return selectors.run_list()


@router.post("/runs", response={200: RunOut, 202: RunOut, 503: ErrorOut, **WRITE_ERRORS}, tags=["runs"])
async def create_run(request: HttpRequest, payload: RunIn, wait: bool = False):
    """Queue a run (202). With `?wait=true` it runs inline, within the task's timeout,
    and answers 200 with the finished run (503 with Retry-After while the server runs
    as many inline runs as it may)."""
    if not wait:
        return await sync_to_async(_queue_run)(request, payload)
    try:
        run = await runner.run_inline(
            agent_ref=payload.agent, task_ref=payload.task, input=payload.input, user=request.auth,
            resolve=functools.partial(_run_target, payload), authorize=functools.partial(_authorize, request, payload),
        )
    except runner.Saturated as exc:
        return JsonResponse(
            {"detail": str(exc), "errors": []}, status=503, headers={"Retry-After": str(exc.retry_after)}
        )
    return Status(200, run)


RUN_PERM = "agents_llm.add_agentrun"


def _may_run(request: HttpRequest) -> None:
    require_perm(request, RUN_PERM)


def _authorize(request: HttpRequest, payload: RunIn) -> Any:
    """What an inline run checks before it starts: the caller may run; the id of its
    session the run counts in, if one is named."""
    _may_run(request)
    return _run_session(request, payload) if payload.session else None


def _run_session(request: HttpRequest, payload: RunIn) -> Any:
    """The id of the caller's open session the run is to count in (422 otherwise)."""
    try:
        key = uuid.UUID(str(payload.session))
    except ValueError:
        key = None
    session = MeteredSession.objects.filter(pk=key, owner_id=request.auth.pk).first() if key else None
    if session is None:
        raise InputError([{"loc": ("body", "session"), "msg": f"No session {payload.session!r} of yours."}])
    if session.status == SessionStatus.CLOSED:
        raise InputError([{"loc": ("body", "session"), "msg": f"Session '{session.name}' is closed."}])
    return session.pk


def _run_target(payload: RunIn) -> tuple[AgentConfig, TaskConfig]:
    return agent_by_ref(payload.agent, ["body", "agent"]), task_by_ref(payload.task, ["body", "task"])


def _queue_run(request: HttpRequest, payload: RunIn) -> Status:
    _may_run(request)
    agent, task = _run_target(payload)
    session_id = _run_session(request, payload) if payload.session else None
    run = runner.run_create(agent=agent, task=task, input=payload.input, user=request.auth, session_id=session_id)
    return Status(202, get_object_or_404(_run_qs(), pk=run.pk))


@router.get("/runs", response={200: list[RunOut], **AUTH_ERRORS}, tags=["runs"])
@paginate(Page)
def list_runs(request: HttpRequest, filters: RunFilters = Query(...)) -> QuerySet[AgentRun]:
    require_read(request, "agents_llm.agentrun")
    qs = _run_qs()
    if filters.agent:
        qs = qs.filter(agent=agent_by_ref(filters.agent, ["query", "agent"]))
    if filters.task:
        qs = qs.filter(task=task_by_ref(filters.task, ["query", "task"]))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.created_from:
        qs = qs.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        qs = qs.filter(created_at__date__lte=filters.created_to)
    return qs.order_by(filters.ordering, "-pk" if filters.ordering.startswith("-") else "pk")


@router.get("/runs/{run_id}", response={200: RunOut, **READ_ERRORS}, tags=["runs"])
def get_run(request: HttpRequest, run_id: int = Id):
    """A run with its attempts (each provider/model tried, and why it failed)."""
    require_read(request, "agents_llm.agentrun")
    return get_object_or_404(_run_qs(), pk=run_id)
