"""Running an agent on a task: `run_create` stores a queued run, `run_execute` runs it
(workers), `run_inline` stores and runs one on the caller's event loop (the API's
`?wait=true`).

Sync callers (workers, commands, the admin) drive their model calls on an event loop
of their thread; async callers on their own loop. The HTTP clients shared per provider
credential keep a connection pool per loop (providers.backends).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import string
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic_ai import capture_run_messages
from pydantic_ai.messages import ModelResponse
from pydantic_ai.usage import RunUsage

from agents_llm import metering, output_schema, registry
from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, AgentTaskAssignment, RunStatus, TaskConfig
from tradingagents import events, loop_db, row_writes

logger = logging.getLogger(__name__)

MESSAGE_LIMIT = 500  # characters of an error message kept on an attempt
COST_PLACES = Decimal("0.00000001")


# Creating -------------------------------------------------------------------


def render_prompt(template: str, data: dict[str, Any]) -> str:
    """Fill the task's `{placeholders}` from the run input. Raises ValidationError on
    the "input" field naming what is missing."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValidationError({"input": f"The task's prompt template cannot be filled: {exc}."}) from None
    missing = sorted({n.split(".")[0].split("[")[0] for n in names} - set(data))
    if missing:
        listed = ", ".join(f"'{n}'" for n in missing)
        raise ValidationError({"input": f"Missing value for placeholder {listed} of the task's prompt template."})
    try:
        return template.format_map(data)
    except (IndexError, KeyError, ValueError, AttributeError) as exc:
        raise ValidationError({"input": f"The task's prompt template cannot be filled: {exc!r}."}) from None


def run_create(
    *,
    agent: AgentConfig,
    task: TaskConfig,
    input: dict[str, Any],
    user: AbstractBaseUser | None = None,
    enqueue: bool = True,
    session_id: Any = None,
) -> AgentRun:
    """Store a queued run of `agent` on `task` and, when `enqueue`, send it to a worker
    once the transaction commits. Nothing is stored when the input does not fit. With
    `session_id` its usage and cost count in that session."""
    prompt = _runnable_prompt(agent, task, input)
    run = AgentRun(
        agent=agent, task=task, input=input, prompt=prompt, status=RunStatus.QUEUED,
        schema_version=task.schema_version, session_id=session_id,
        created_by_id=user.pk if user is not None and user.is_authenticated else None,
    )
    with transaction.atomic():
        run.save()
        events.publish("runs", "run.queued", run.pk, run_event_data(run))
        if enqueue:
            run_id = run.pk
            transaction.on_commit(lambda: _send(run_id))
    return run


def _runnable_prompt(agent: AgentConfig, task: TaskConfig, input: Any, *, assigned: bool | None = None) -> str:
    """The prompt of a run of `agent` on `task` with `input`, or the ValidationError
    saying why there can be no such run. `assigned`: already known (else queried)."""
    if not isinstance(input, dict):
        raise ValidationError({"input": "The input must be a JSON object."})
    if not agent.enabled:
        raise ValidationError({"agent": f"Agent '{agent.name}' is disabled."})
    if not task.enabled:
        raise ValidationError({"task": f"Task '{task.name}' is disabled."})
    if assigned is None:
        assigned = AgentTaskAssignment.objects.filter(agent=agent, task=task).exists()
    if not assigned:
        raise ValidationError({"task": f"Agent '{agent.name}' is not assigned to task '{task.name}'."})
    return render_prompt(task.prompt_template, input)


def _send(run_id: int) -> bool:
    from agents_llm.tasks import execute_run

    try:
        execute_run.send(run_id)
    except Exception as exc:  # broker down: the run stays queued; the sweep re-sends it
        logger.warning("could not enqueue run %s (%s); it stays queued", run_id, type(exc).__name__)
        return False
    AgentRun.objects.filter(pk=run_id).update(enqueued_at=timezone.now())
    return True


def runs_requeue_stale(
    *, first_after_seconds: int = 60, again_after_seconds: int = 600, lost_after_seconds: int = 120
) -> dict[str, int]:
    """Re-send queued runs whose message never reached the broker (it was down) or
    seems lost, and put back in the queue runs whose worker died mid-run (still
    `running` well past the task's timeout, which the chain enforces itself). A run
    executed twice at once is impossible: the claim in `run_execute` lets one message
    run it."""
    now = timezone.now()
    requeued: list[int] = []
    for run in (
        AgentRun.objects.filter(status=RunStatus.RUNNING, started_at__lte=now - timedelta(seconds=lost_after_seconds))
        .select_related("task")
        .only("pk", "started_at", "attempts", "task__timeout_seconds")
    ):
        if run.started_at > now - timedelta(seconds=run.task.timeout_seconds + lost_after_seconds):
            continue
        lost = {"provider": "", "model": "", "error_class": "WorkerLost",
                "message": "The worker running this run stopped without a result; the run was queued again.",
                "input_tokens": 0, "output_tokens": 0}
        if AgentRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, started_at=run.started_at).update(
            status=RunStatus.QUEUED, started_at=None, enqueued_at=None, attempts=[*run.attempts, lost]
        ):
            requeued.append(run.pk)
    stale = AgentRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(enqueued_at__isnull=True, created_at__lte=now - timedelta(seconds=first_after_seconds))
        | Q(enqueued_at__lte=now - timedelta(seconds=again_after_seconds))
        | Q(pk__in=requeued)
    )
    counts = {"queued": 0, "failed": 0}
    for run_id in stale.order_by("created_at").values_list("pk", flat=True):
        counts["queued" if _send(run_id) else "failed"] += 1
    return counts


def run_event_data(run: AgentRun, *, provider_name: str = "") -> dict[str, Any]:
    """What a run event says. Never a secret: names, counts and the run's own error."""
    return {
        "id": run.pk,
        "agent": run.agent.name,
        "task": run.task.name,
        "status": run.status,
        "model_name": run.model_name,
        "provider": provider_name,
        "input_tokens": run.input_tokens,
        "output_tokens": run.output_tokens,
        "cost": None if run.cost is None else str(run.cost),
        "synthetic": run.synthetic,
        "error": run.error,
    }


# Executing ------------------------------------------------------------------


@dataclass
class Attempt:
    provider: str
    model: str
    error_class: str = ""
    message: str = ""
    input_tokens: int = 0
    output_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "model": self.model, "error_class": self.error_class,
            "message": self.message, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
        }


@dataclass
class Outcome:
    attempts: list[Attempt] = field(default_factory=list)
    # How each model response is priced, and its usage.
    responses: list[tuple[metering.PriceSource, metering.TokenUsage]] = field(default_factory=list)
    requests: int = 0
    output: Any = None
    answered_by: registry.Link | None = None
    error: str = ""
    # The providers of this run's configs, fresh from the database, by id.
    providers: dict[int, Any] = field(default_factory=dict)


def run_execute(*, run_id: int) -> AgentRun:
    """Claim a queued run and execute it. A run someone else claimed is returned as it is."""
    # The claim, and the read that checks the cached lookup of its agent, task and
    # configs, in one round trip on PostgreSQL.
    read_sql, read_params = registry.run_targets.check_statement_of_run(run_id)
    run, rows = row_writes.claim_then_read(
        AgentRun, run_id, where={"status": RunStatus.QUEUED},
        values={"status": RunStatus.RUNNING, "started_at": timezone.now()}, read_sql=read_sql, read_params=read_params,
    )
    if run is None:
        return AgentRun.objects.select_related("agent", "task").get(pk=run_id)
    configs: Sequence[AgentLLMConfig] | None = None
    try:
        target = registry.run_targets.get(
            run.agent_id, run.task_id, load=functools.partial(_agent_and_task, run), rows=rows,
        )
        run.agent, run.task, configs = target.agent, target.task, target.configs
    except Exception:  # _prepare tries again, and stores what goes wrong
        logger.exception("run %s: the lookup of its agent and task failed", run_id)
    events.publish("runs", "run.started", run.pk, run_event_data(run))
    started = time.perf_counter()
    try:
        runtime, outcome = _prepare(run, configs)
        if runtime is not None:
            # The chain enforces the task's timeout itself; the margin only guards against a
            # wedged event loop, so that a worker thread is never blocked for ever.
            timeout = run.task.timeout_seconds
            _loop.run(_execute_run_chain(runtime, run, outcome), timeout=timeout + 30)
    except Exception as exc:  # a bug must not leave the run 'running' for ever
        logger.exception("run %s failed unexpectedly", run_id)
        outcome = Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
    _finish(run, outcome, int((time.perf_counter() - started) * 1000))
    return run


def _agent_and_task(run: AgentRun) -> tuple[AgentConfig, TaskConfig]:
    return AgentConfig.objects.get(pk=run.agent_id), TaskConfig.objects.get(pk=run.task_id)


class Saturated(Exception):
    """Every inline run slot stayed busy for INLINE_RUNS_WAIT_SECONDS: try again later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many runs in progress; retry in {retry_after} s.")


async def run_inline(
    *,
    input: dict[str, Any],
    agent: AgentConfig | None = None,
    task: TaskConfig | None = None,
    agent_ref: int | str | None = None,
    task_ref: int | str | None = None,
    resolve: Callable[[], tuple[AgentConfig, TaskConfig]] | None = None,
    user: AbstractBaseUser | None = None,
    authorize: Callable[[], None] | None = None,
    session_id: Any = None,
) -> AgentRun:
    """Store a run as `running` and execute it on the caller's event loop: one INSERT
    and one UPDATE, with the same run.queued/run.started/run.finished events as a
    worker's run. The agent and task are given, or named by `agent_ref`/`task_ref`
    (id or name) with `resolve` loading them (and raising what a caller should see
    when they do not exist): then the lookup is cached (registry.run_target).
    `authorize` runs first, with the database at hand. The statements go from the
    database threads, or, on PostgreSQL without a session, from this loop: the UPDATE
    always, and the INSERT too when nothing needs authorizing and the lookup and the
    built agent are cached (_begin_on_loop).

    At most INLINE_RUNS_MAX runs execute at once in a process: a caller waits up to
    INLINE_RUNS_WAIT_SECONDS for a slot, then gets Saturated."""
    # Without a session to settle, its rows are written from this loop where it can
    # (PostgreSQL: no hop to a database thread and back, see tradingagents.loop_db).
    on_loop = session_id is None and row_writes.on_loop(AgentRun)
    async with _inline_slot():
        begun = None
        if on_loop and authorize is None and agent is None and agent_ref is not None and task_ref is not None:
            begun = await _begin_on_loop(agent_ref, task_ref, input, _user_id(user))
        run, runtime, outcome = begun or await _db(
            _begin_inline, agent=agent, task=task, agent_ref=agent_ref, task_ref=task_ref, resolve=resolve,
            input=input, user=user, authorize=authorize, session_id=session_id,
        )
        started = time.perf_counter()
        if runtime is not None:
            try:
                await _execute_run_chain(runtime, run, outcome)
            except Exception as exc:  # a bug must not leave the run 'running' for ever
                logger.exception("run %s failed unexpectedly", run.pk)
                outcome = Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
        latency_ms = int((time.perf_counter() - started) * 1000)
        if on_loop:
            used = _result(run, outcome, latency_ms)
            # Stored even if the caller goes now, as a thread's write would be.
            await asyncio.shield(row_writes.update_on_loop(run, RESULT_FIELDS, result=True))
            _finished(run, outcome, used)
        else:
            await _db(_finish, run, outcome, latency_ms)
    if run.cost is not None:  # as the column holds it: the run answers like one read back
        run.cost = run.cost.quantize(COST_PLACES)
    return run


def _begin_inline(
    *,
    agent: AgentConfig | None,
    task: TaskConfig | None,
    agent_ref: int | str | None,
    task_ref: int | str | None,
    resolve: Callable[[], tuple[AgentConfig, TaskConfig]] | None,
    input: dict[str, Any],
    user: AbstractBaseUser | None,
    authorize: Callable[[], None] | None,
    session_id: Any = None,
) -> tuple[AgentRun, registry.RuntimeAgent | None, Outcome]:
    if authorize is not None:
        authorize()
    user_id = _user_id(user)
    run: AgentRun | None = None
    if agent is None or task is None:
        assert agent_ref is not None and task_ref is not None and resolve is not None
        run, target = _insert_checked(agent_ref, task_ref, resolve, input, user_id, session_id)
        agent, task, configs, assigned = target.agent, target.task, target.configs, target.assigned
    else:
        configs, assigned = None, None
    if run is None:
        prompt = _runnable_prompt(agent, task, input, assigned=assigned)
        run = _running_run(agent, task, input, prompt, user_id, session_id)
        row_writes.insert(run)
    _begun(run)
    try:
        runtime, outcome = _prepare(run, configs)
    except Exception as exc:
        logger.exception("run %s failed unexpectedly", run.pk)
        runtime, outcome = None, Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
    return run, runtime, outcome


def _begun(run: AgentRun) -> None:
    # Never queued for a worker, but watchers see the same lifecycle as a worker's run.
    events.publish("runs", "run.queued", run.pk, {**run_event_data(run), "status": RunStatus.QUEUED})
    events.publish("runs", "run.started", run.pk, run_event_data(run))


def _user_id(user: AbstractBaseUser | None) -> Any:
    # By id: assigning a TokenUser would load the user to check its class.
    return user.pk if user is not None and user.is_authenticated else None


async def _begin_on_loop(
    agent_ref: int | str, task_ref: int | str, input: dict[str, Any], user_id: Any
) -> tuple[AgentRun, registry.RuntimeAgent, Outcome] | None:
    """_begin_inline without leaving the loop, when its target and built agent are
    cached and still current: the run's INSERT with the check that they are, one
    message from a connection of this loop. None when anything needs more (a miss, a
    change, input the cached target refuses): _begin_inline then does it all, and
    says what is wrong."""
    cached = registry.run_targets.peek(agent_ref, task_ref)
    if cached is None or not cached.configs:
        return None
    runtime = registry.registry.peek(cached.agent, cached.task, cached.configs)
    if runtime is None:
        return None
    try:
        prompt = _runnable_prompt(cached.agent, cached.task, input, assigned=cached.assigned)
    except ValidationError:
        return None
    run = _running_run(cached.agent, cached.task, input, prompt, user_id, None)
    try:
        rows = await row_writes.insert_after_read_on_loop(run, *registry.run_targets.check_statement(agent_ref, task_ref))
    except IntegrityError:  # the cached agent or task is gone
        return None
    if not registry.run_targets.current(agent_ref, task_ref, cached, rows):
        await row_writes.delete_on_loop(run)
        return None
    _begun(run)
    run.schema_version = run.task.schema_version
    return run, runtime, _outcome_of(cached.configs)


def _running_run(
    agent: AgentConfig, task: TaskConfig, input: dict[str, Any], prompt: str, user_id: Any, session_id: Any
) -> AgentRun:
    return AgentRun(
        agent=agent, task=task, input=input, prompt=prompt, status=RunStatus.RUNNING,
        schema_version=task.schema_version, started_at=timezone.now(), enqueued_at=None, session_id=session_id,
        created_by_id=user_id,
    )


def _insert_checked(
    agent_ref: int | str, task_ref: int | str, resolve: Callable[[], tuple[AgentConfig, TaskConfig]],
    input: dict[str, Any], user_id: Any, session_id: Any,
) -> tuple[AgentRun | None, registry.RunTarget]:
    """The run of the cached target inserted together with the read that checks the
    target is current (one round trip on PostgreSQL, see row_writes.insert_after_read),
    and the target. Should the check find it changed, the row goes and no run is
    returned: the caller then starts from the current target as if nothing was cached."""
    cached = registry.run_targets.peek(agent_ref, task_ref)
    if cached is not None:
        try:
            prompt = _runnable_prompt(cached.agent, cached.task, input, assigned=cached.assigned)
        except ValidationError:
            cached = None  # perhaps no longer true: the check below decides
    if cached is None:
        return None, registry.run_target(agent_ref, task_ref, load=resolve)
    run = _running_run(cached.agent, cached.task, input, prompt, user_id, session_id)
    try:
        rows = row_writes.insert_after_read(run, *registry.run_targets.check_statement(agent_ref, task_ref))
    except IntegrityError:  # the cached agent or task is gone
        return None, registry.run_target(agent_ref, task_ref, load=resolve)
    try:
        target = registry.run_targets.get(agent_ref, task_ref, load=resolve, rows=rows)
    except BaseException:  # the agent or task is gone since: so is the run
        AgentRun.objects.filter(pk=run.pk).delete()
        raise
    if target is not cached:
        AgentRun.objects.filter(pk=run.pk).delete()
        return None, target
    return run, target


def _prepare(
    run: AgentRun, configs: Sequence[AgentLLMConfig] | None = None
) -> tuple[registry.RuntimeAgent | None, Outcome]:
    """The built agent for a run and its Outcome to fill; no agent when the run
    cannot start (the Outcome then says why)."""
    if configs is None:
        # The cached lookup: one raw query that, unchanged, spares building the configs.
        agent, task = run.agent, run.task
        configs = registry.run_target(agent.pk, task.pk, load=lambda: (agent, task)).configs
    if not configs:
        return None, Outcome(error=f"Agent '{run.agent.name}' has no enabled LLM config.")
    try:
        runtime = registry.get_or_create(run.agent, run.task, configs=configs)
    except output_schema.OutputSchemaError as exc:
        return None, Outcome(error=_short(f"The task's output schema is not usable: {exc}"))
    run.schema_version = run.task.schema_version
    return runtime, _outcome_of(configs)


def _outcome_of(configs: Sequence[AgentLLMConfig]) -> Outcome:
    """The Outcome a run of these configs fills, knowing their providers."""
    return Outcome(providers={p.pk: p for c in configs for p in (c.provider, c.fallback_provider) if p is not None})


async def _execute_run_chain(runtime: registry.RuntimeAgent, run: AgentRun, outcome: Outcome) -> None:
    registry.offline_input.set(run.input)  # the offline model echoes matching input keys
    await _execute_chain(runtime, run.prompt, outcome, timeout=run.task.timeout_seconds)


def _finish(run: AgentRun, outcome: Outcome, latency_ms: int) -> None:
    used = _result(run, outcome, latency_ms)
    row_writes.update(run, RESULT_FIELDS, result=True)
    _finished(run, outcome, used)


def _finished(run: AgentRun, outcome: Outcome, used: metering.TokenUsage) -> None:
    """What follows a run's stored result: its session's usage, and the event."""
    if run.session_id is not None:
        metering.settle(reservation=None, session_id=run.session_id, usage=used, cost=run.cost)
        metering.session_publish(run.session_id)
    provider_name = outcome.answered_by.provider_name if outcome.answered_by else ""
    events.publish("runs", "run.finished", run.pk, run_event_data(run, provider_name=provider_name))


async def _execute_chain(runtime: registry.RuntimeAgent, prompt: str, outcome: Outcome, *, timeout: float) -> None:
    """Try each model of the chain in turn until one gives a valid answer. Every try is
    kept on `outcome`, also when the task's timeout cuts the chain short."""
    link: registry.Link | None = None
    try:
        # The deadline also stops a long check of an answer, which no await interrupts.
        async with asyncio.timeout(timeout), output_schema.deadline(timeout):
            for link in runtime.chain:
                if link.model is None:
                    error_class, message = link.error or ("Unavailable", "The model could not be built.")
                    outcome.attempts.append(Attempt(link.provider_name, link.model_name, error_class, message))
                    continue
                if await _attempt(runtime, link, prompt, outcome):
                    return
    except TimeoutError:
        outcome.attempts.append(Attempt(
            link.provider_name if link else "", link.model_name if link else "", "RunTimeout",
            f"The run exceeded the task's timeout of {timeout:g} s.",
        ))
    tried = len(outcome.attempts)
    last = outcome.attempts[-1] if outcome.attempts else None
    outcome.error = (
        f"All {tried} model(s) failed; the last one said {last.error_class}: {last.message}"
        if last else "The agent has no model to run."
    )


async def _attempt(runtime: registry.RuntimeAgent, link: registry.Link, prompt: str, outcome: Outcome) -> bool:
    usage = RunUsage()
    with capture_run_messages() as messages:
        try:
            result = await runtime.agent.run(prompt, model=link.model, usage=usage)
        except asyncio.CancelledError:  # the task's timeout: the caller records it
            _count(link, messages, usage, outcome)
            raise
        except Exception as exc:  # any failure of this model moves on to the next one
            tokens_in, tokens_out = _count(link, messages, usage, outcome)
            outcome.attempts.append(Attempt(
                link.provider_name, link.model_name, type(exc).__name__, _short(link.redact(str(exc))),
                tokens_in, tokens_out,
            ))
            return False
    tokens_in, tokens_out = _count(link, messages, usage, outcome)
    outcome.attempts.append(Attempt(link.provider_name, link.model_name, "", "answered", tokens_in, tokens_out))
    outcome.output = dict(result.output)
    outcome.answered_by = link
    return True


def _count(link: registry.Link, messages: list[Any], usage: RunUsage, outcome: Outcome) -> tuple[int, int]:
    tokens_in = tokens_out = 0
    for message in messages:
        if isinstance(message, ModelResponse):
            used = metering.TokenUsage.from_pydantic(message.usage)
            tokens_in += used.input_tokens
            tokens_out += used.output_tokens
            outcome.responses.append((link.price, used))
    outcome.requests += usage.requests
    return tokens_in, tokens_out


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


# The columns a run's result sets (_result), written in one UPDATE.
RESULT_FIELDS = (
    "status", "output", "error", "attempts", "provider", "model_name", "synthetic", "fell_back", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests", "cost",
    "cost_note", "cost_basis", "latency_ms", "finished_at", "schema_version",
)


def _result(run: AgentRun, outcome: Outcome, latency_ms: int) -> metering.TokenUsage:
    """Set the run's result from its outcome (RESULT_FIELDS); the tokens it used."""
    link = outcome.answered_by
    run.status = RunStatus.SUCCEEDED if link is not None else RunStatus.FAILED
    run.output = outcome.output if link is not None else None
    run.error = "" if link is not None else outcome.error
    run.attempts = [*run.attempts, *(a.as_dict() for a in outcome.attempts)]  # keeps a WorkerLost note
    run.provider = outcome.providers.get(link.provider_id) if link is not None else None
    run.model_name = link.model_name if link is not None else ""
    run.synthetic = bool(link is not None and link.synthetic)
    run.fell_back = link is not None and len(outcome.attempts) > 1
    used = metering.TokenUsage()
    for _, response_usage in outcome.responses:
        used += response_usage
    run.input_tokens, run.output_tokens = used.input_tokens, used.output_tokens
    run.cache_read_tokens, run.cache_write_tokens = used.cache_read_tokens, used.cache_write_tokens
    run.reasoning_tokens = used.reasoning_tokens
    run.requests = outcome.requests
    priced = metering.price_all(outcome.responses, at=run.started_at)
    run.cost, run.cost_note, run.cost_basis = priced.cost, priced.note, priced.basis
    run.latency_ms = latency_ms
    run.finished_at = timezone.now()
    return used


# The event loops model calls of sync callers run on ----------------------------

_forked_from_lock = threading.Lock()
_clients_pid = 0


def _forget_parent_process() -> None:
    """A forked child has neither the threads nor usable connections of its parent."""
    global _clients_pid
    with _forked_from_lock:
        if _clients_pid != os.getpid():
            from providers.backends import clear_client_cache

            clear_client_cache()
            registry.registry.clear()
            _clients_pid = os.getpid()


class _LoopThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coro: Coroutine[Any, Any, Any], *, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result(timeout)

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                _forget_parent_process()
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="agent-runs-loop", daemon=True).start()
            return self._loop


class _CallerLoops:
    """Each sync caller's thread (a worker thread, a command) drives its model calls on
    an event loop of its own, kept for its next run: no hop to another thread and back.
    The HTTP clients keep a connection pool per loop. A thread whose loop is busy
    already (sync code called from async code) hands the run to the shared loop thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._shared = _LoopThread()

    def run(self, coro: Coroutine[Any, Any, Any], *, timeout: float | None = None) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return self._shared.run(coro, timeout=timeout)
        loop = getattr(self._local, "loop", None)
        if loop is None or self._local.pid != os.getpid() or loop.is_closed():
            _forget_parent_process()
            loop = self._local.loop = asyncio.new_event_loop()
            self._local.pid = os.getpid()
        return loop.run_until_complete(asyncio.wait_for(coro, timeout) if timeout is not None else coro)


_loop = _CallerLoops()


# Where inline runs do their database work, and how many run at once --------------

_db_pool_lock = threading.Lock()
_db_pool: tuple[int, ThreadPoolExecutor] | None = None
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


async def _db(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run `fn` where the database is. A sync caller waiting for this coroutine (tests,
    async_to_sync) may hold a transaction, so its own thread does the work; otherwise
    a few threads that keep their connections between runs do it (a new connection per
    request cost more than an inline run's own statements), and at most as many as
    the pool has connections."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)
    call = functools.partial(_with_connection, fn, args, kwargs)
    return await asyncio.get_running_loop().run_in_executor(_db_executor(), call)


# For other async views whose database work is as short and frequent as a run's.
db_call = _db


def _with_connection(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # These threads see no request_finished, so nothing else closes their connection;
    # it is kept for the next run unless it broke, or its server ended it meanwhile.
    if connection.connection is not None:
        if loop_db.server_hung_up(connection.connection):
            connection.connection.close()  # first: a pool would take it back as it is
            connection.close()
        elif connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
    return fn(*args, **kwargs)


def _db_executor() -> ThreadPoolExecutor:
    global _db_pool
    pool = _db_pool
    if pool is not None and pool[0] == os.getpid():
        return pool[1]
    with _db_pool_lock:
        if _db_pool is None or _db_pool[0] != os.getpid():
            executor = ThreadPoolExecutor(max_workers=settings.INLINE_RUNS_DB_THREADS, thread_name_prefix="inline-runs-db")
            _db_pool = (os.getpid(), executor)
        return _db_pool[1]


class _InlineSlot:
    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        slots = _slots.get(loop)
        if slots is None:
            for closed in [other for other in _slots if other.is_closed()]:
                del _slots[closed]
            slots = _slots[loop] = asyncio.Semaphore(settings.INLINE_RUNS_MAX)
        self._slots = slots
        try:
            async with asyncio.timeout(settings.INLINE_RUNS_WAIT_SECONDS):
                await slots.acquire()
        except TimeoutError:
            raise Saturated(retry_after=settings.INLINE_RUNS_RETRY_AFTER_SECONDS) from None

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


_inline_slot = _InlineSlot
