"""Running an agent on a task: `run_create` stores a queued run, `run_execute` runs it
(workers), `run_inline` stores and runs one on the caller's event loop (the API's
`?wait=true`).

A run walks its agent's chain (agents_llm.agents.chain; in a session with a lineup, as
the lineup routes it) with the one fallback loop the gateway also uses; each link is
asked through PydanticAI. Sync callers (workers, commands, the admin) drive the model
calls on an event loop of their thread (tradingagents.dbthreads.run_sync); an inline
run on its caller's loop, with its database work on the database threads
(tradingagents.dbthreads.db_call).
"""

from __future__ import annotations

import asyncio
import logging
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic_ai import capture_run_messages
from pydantic_ai.messages import ModelResponse
from pydantic_ai.usage import RunUsage

from agents_llm import output_schema
from agents_llm.agents.chain import AttemptFailed, Fallback, Link, Meter
from agents_llm.agents.models import AgentConfig, AgentTaskAssignment, TaskConfig
from agents_llm.metering import budgets, sessions
from agents_llm.metering.budgets import BudgetRefused
from agents_llm.metering.models import MeteredSession
from agents_llm.metering.pricing import COST_PLACES, PriceSource, TokenUsage, price_all, short
from agents_llm.runs import registry
from agents_llm.runs.models import AgentRun, RunStatus
from tradingagents import events
from tradingagents.dbthreads import db_call, run_sync

logger = logging.getLogger(__name__)


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
    from agents_llm.runs.actors import execute_run

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
    seems lost, and put back in the queue runs whose worker died mid-run: their
    heartbeat stopped RUN_LOST_AFTER_SECONDS ago (a run with no heartbeat, from before
    there was one: still `running` well past the task's timeout). A run executed twice
    at once is impossible: the claim in `run_execute` lets one message run it."""
    now = timezone.now()
    requeued: list[int] = []
    silent = now - timedelta(seconds=settings.RUN_LOST_AFTER_SECONDS)
    for run in (
        AgentRun.objects.filter(status=RunStatus.RUNNING)
        .filter(Q(heartbeat_at__lt=silent) | Q(heartbeat_at__isnull=True, started_at__lte=now - timedelta(seconds=lost_after_seconds)))
        .select_related("task")
        .only("pk", "started_at", "heartbeat_at", "attempts", "task__timeout_seconds")
    ):
        if run.heartbeat_at is None and run.started_at > now - timedelta(seconds=run.task.timeout_seconds + lost_after_seconds):
            continue
        lost = {"provider": "", "model": "", "error_class": "WorkerLost",
                "message": "The worker running this run stopped without a result; the run was queued again.",
                "input_tokens": 0, "output_tokens": 0}
        if AgentRun.objects.filter(
            pk=run.pk, status=RunStatus.RUNNING, started_at=run.started_at, heartbeat_at=run.heartbeat_at,
        ).update(status=RunStatus.QUEUED, started_at=None, heartbeat_at=None, enqueued_at=None,
                 attempts=[*run.attempts, lost]):
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
        # As a plain decimal: a cost read back from its column is "0E-8" to str().
        "cost": None if run.cost is None else format(run.cost.normalize(), "f"),
        "synthetic": run.synthetic,
        "error": run.error,
    }


# Executing ------------------------------------------------------------------


@dataclass
class Outcome:
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # How each model response is priced, and its usage.
    responses: list[tuple[PriceSource, TokenUsage]] = field(default_factory=list)
    requests: int = 0
    output: Any = None
    answered_by: Link | None = None
    error: str = ""
    # What the run's model requests reserved in its session, released with its row.
    holds: list[budgets.Hold] = field(default_factory=list)


def run_execute(*, run_id: int) -> AgentRun:
    """Claim a queued run and execute it. A run someone else claimed is returned as it is."""
    claimed = AgentRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(),
    )
    run = AgentRun.objects.select_related("agent", "task").get(pk=run_id)
    if not claimed:
        return run
    events.publish("runs", "run.started", run.pk, run_event_data(run))
    started = time.perf_counter()
    try:
        runtime, outcome = _prepare(run)
        if runtime is not None:
            # The chain enforces the task's timeout itself; the margin only guards against a
            # wedged event loop, so that a worker thread is never blocked for ever.
            with _beating(run.pk):
                run_sync(_execute(runtime, run, outcome), timeout=run.task.timeout_seconds + 30)
    except Exception as exc:  # a bug must not leave the run 'running' for ever
        logger.exception("run %s failed unexpectedly", run_id)
        outcome = Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
    _finish(run, outcome, int((time.perf_counter() - started) * 1000))
    return run


def _beat(run_id: int) -> None:
    AgentRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())


@contextmanager
def _beating(run_id: int) -> Iterator[None]:
    """A worker's run: its heartbeat, from a thread of its own, while it executes."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                _beat(run_id)
        except Exception as exc:  # noqa: BLE001 - a missed beat only makes the sweep look sooner
            logger.warning("run %s: heartbeat failed (%s)", run_id, type(exc).__name__)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


async def _abeat(run_id: int) -> None:
    """An inline run's heartbeat, on its caller's loop."""
    while True:
        await asyncio.sleep(settings.RUN_HEARTBEAT_SECONDS)
        try:
            await db_call(_beat, run_id)
        except Exception as exc:  # noqa: BLE001 - as above
            logger.warning("run %s: heartbeat failed (%s)", run_id, type(exc).__name__)


class Saturated(Exception):
    """Every inline run slot stayed busy for INLINE_RUNS_WAIT_SECONDS: try again later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many runs in progress; retry in {retry_after} s.")


async def run_inline(
    *,
    input: dict[str, Any],
    agent_ref: int | str,
    task_ref: int | str,
    resolve: Callable[[], tuple[AgentConfig, TaskConfig]],
    user: AbstractBaseUser | None = None,
    authorize: Callable[[], Any] | None = None,
) -> AgentRun:
    """Store a run as `running` and execute it on the caller's event loop, with the same
    run.queued/run.started/run.finished events as a worker's run. The agent and task are
    named by `agent_ref`/`task_ref` (id or name); `resolve` loads them when they are not
    cached (and raises what a caller should see when they do not exist). `authorize`
    runs first, where the database is: it raises when the caller may not run, and
    returns the id of the session the run counts in (or None).

    At most INLINE_RUNS_MAX runs execute at once in a process: a caller waits up to
    INLINE_RUNS_WAIT_SECONDS for a slot, then gets Saturated."""
    async with _inline_slot():
        run, runtime, outcome = await db_call(
            _begin_inline, agent_ref=agent_ref, task_ref=task_ref, resolve=resolve, input=input, user=user,
            authorize=authorize,
        )
        started = time.perf_counter()
        if runtime is not None:
            beating = asyncio.create_task(_abeat(run.pk))
            try:
                await _execute(runtime, run, outcome)
            except Exception as exc:  # a bug must not leave the run 'running' for ever
                logger.exception("run %s failed unexpectedly", run.pk)
                outcome = Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
            finally:
                beating.cancel()
        # Stored even if the caller goes now.
        await asyncio.shield(db_call(_finish, run, outcome, int((time.perf_counter() - started) * 1000)))
    if run.cost is not None:  # as the column holds it: the run answers like one read back
        run.cost = run.cost.quantize(COST_PLACES)
    return run


def _begin_inline(
    *,
    agent_ref: int | str,
    task_ref: int | str,
    resolve: Callable[[], tuple[AgentConfig, TaskConfig]],
    input: dict[str, Any],
    user: AbstractBaseUser | None,
    authorize: Callable[[], Any] | None,
) -> tuple[AgentRun, registry.RuntimeAgent | None, Outcome]:
    session_id = authorize() if authorize is not None else None
    seen = registry.registry.versions()
    target = registry.registry.target(agent_ref, task_ref, load=resolve, seen=seen, lineup_id=_lineup_of(session_id))
    prompt = _runnable_prompt(target.agent, target.task, input, assigned=target.assigned)
    run = AgentRun.objects.create(
        agent=target.agent, task=target.task, input=input, prompt=prompt, status=RunStatus.RUNNING,
        schema_version=target.task.schema_version, started_at=timezone.now(), heartbeat_at=timezone.now(),
        session_id=session_id,
        created_by_id=user.pk if user is not None and user.is_authenticated else None,
    )
    # Never queued for a worker, but watchers see the same lifecycle as a worker's run.
    events.publish("runs", "run.queued", run.pk, {**run_event_data(run), "status": RunStatus.QUEUED})
    events.publish("runs", "run.started", run.pk, run_event_data(run))
    try:
        runtime, outcome = _prepare(run, target, seen)
    except Exception as exc:
        logger.exception("run %s failed unexpectedly", run.pk)
        runtime, outcome = None, Outcome(error=f"Internal error ({type(exc).__name__}); see the server log.")
    return run, runtime, outcome


def _lineup_of(session_id: Any) -> int | None:
    """The lineup a run's session routes it by, if any."""
    if session_id is None:
        return None
    return MeteredSession.objects.filter(pk=session_id).values_list("lineup_id", flat=True).first()


def _prepare(
    run: AgentRun, target: registry.RunTarget | None = None, seen: Any = None,
) -> tuple[registry.RuntimeAgent | None, Outcome]:
    """The built agent for a run; none when the run cannot start (the Outcome then says why)."""
    if target is None:
        seen = registry.registry.versions()
        agent, task = run.agent, run.task
        target = registry.registry.target(
            agent.pk, task.pk, load=lambda: (agent, task), seen=seen, lineup_id=_lineup_of(run.session_id),
        )
        run.agent, run.task = target.agent, target.task
    if not target.chain.links:
        return None, Outcome(error=f"Agent '{run.agent.name}' has no enabled LLM config.")
    try:
        runtime = registry.registry.runtime(target, seen=seen)
    except output_schema.OutputSchemaError as exc:
        return None, Outcome(error=short(f"The task's output schema is not usable: {exc}"))
    run.schema_version = run.task.schema_version
    return runtime, Outcome()


async def _execute(runtime: registry.RuntimeAgent, run: AgentRun, outcome: Outcome) -> None:
    """Walk the chain until a model gives a valid answer. Every try is kept on
    `outcome`, also when the task's timeout cuts the walk short."""
    registry.offline_input.set(run.input)  # the offline model echoes matching input keys
    timeout = run.task.timeout_seconds
    fallback: Fallback[Any] = Fallback(runtime.chain)
    meter = None
    if run.session_id is not None:
        meter = Meter(session_id=run.session_id)
        outcome.holds = meter.holds

    async def ask(link: Link) -> Any:
        usage = RunUsage()
        with capture_run_messages() as messages:
            try:
                result = await runtime.agent.run(run.prompt, model=runtime.model(link, meter), usage=usage)
            except (asyncio.CancelledError, BudgetRefused):  # the task's timeout, the budget: recorded below
                _count(link, messages, usage, outcome)
                raise
            except Exception as exc:  # any failure of this model moves on to the next one
                tokens_in, tokens_out = _count(link, messages, usage, outcome)
                raise AttemptFailed(
                    type(exc).__name__, str(exc), input_tokens=tokens_in, output_tokens=tokens_out,
                ) from None
        tokens_in, tokens_out = _count(link, messages, usage, outcome)
        fallback.record(link, input_tokens=tokens_in, output_tokens=tokens_out)
        return result.output

    try:
        # The deadline also stops a long check of an answer, which no await interrupts.
        async with asyncio.timeout(timeout), output_schema.deadline(timeout):
            answered = await fallback.run(ask, input_tokens=0, output_tokens=0)
    except TimeoutError:
        answered = None
        fallback.record(
            fallback.current, "RunTimeout", f"The run exceeded the task's timeout of {timeout:g} s.",
            input_tokens=0, output_tokens=0,
        )
    except BudgetRefused as refusal:  # the session's budget ends the run: no other model would fit either
        answered = None
        fallback.record(fallback.current, "BudgetRefused", refusal.message, input_tokens=0, output_tokens=0)
    outcome.attempts = fallback.attempts
    if answered is not None:
        outcome.answered_by, output = answered
        outcome.output = dict(output)
        return
    last = outcome.attempts[-1] if outcome.attempts else None
    outcome.error = (
        f"All {len(outcome.attempts)} model(s) failed; the last one said {last['error_class']}: {last['message']}"
        if last else "The agent has no model to run."
    )


def _count(link: Link, messages: list[Any], usage: RunUsage, outcome: Outcome) -> tuple[int, int]:
    tokens_in = tokens_out = 0
    for message in messages:
        if isinstance(message, ModelResponse):
            used = TokenUsage.from_pydantic(message.usage)
            tokens_in += used.input_tokens
            tokens_out += used.output_tokens
            outcome.responses.append((link.price, used))
    outcome.requests += usage.requests
    return tokens_in, tokens_out


# The columns a run's result sets (_result), written in one UPDATE.
RESULT_FIELDS = (
    "status", "output", "error", "attempts", "provider", "model_name", "synthetic", "fell_back", "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "requests", "cost",
    "cost_note", "cost_basis", "latency_ms", "finished_at", "schema_version",
)


def _finish(run: AgentRun, outcome: Outcome, latency_ms: int) -> None:
    """Store a run's result, count it in its session, and tell watchers."""
    used = _result(run, outcome, latency_ms)
    if run.session_id is None:
        run.save(update_fields=RESULT_FIELDS)
    else:
        with transaction.atomic():  # the run's row and its spend in its session, at once
            run.save(update_fields=RESULT_FIELDS)
            budgets.account(
                session_id=run.session_id, holds=outcome.holds, tokens=used.total, usd=run.cost,
                unpriced=int(run.cost is None),
            )
        sessions.session_publish(run.session_id)
    provider_name = outcome.answered_by.provider_name if outcome.answered_by else ""
    events.publish("runs", "run.finished", run.pk, run_event_data(run, provider_name=provider_name))


def _result(run: AgentRun, outcome: Outcome, latency_ms: int) -> TokenUsage:
    """Set the run's result from its outcome (RESULT_FIELDS); the tokens it used."""
    link = outcome.answered_by
    run.status = RunStatus.SUCCEEDED if link is not None else RunStatus.FAILED
    run.output = outcome.output if link is not None else None
    run.error = "" if link is not None else outcome.error
    run.attempts = [*run.attempts, *outcome.attempts]  # keeps a WorkerLost note
    run.provider = link.provider if link is not None else None
    run.model_name = link.model_name if link is not None else ""
    run.synthetic = bool(link is not None and link.offline)
    run.fell_back = link is not None and len(outcome.attempts) > 1
    used = TokenUsage()
    for _, response_usage in outcome.responses:
        used += response_usage
    run.input_tokens, run.output_tokens = used.input_tokens, used.output_tokens
    run.cache_read_tokens, run.cache_write_tokens = used.cache_read_tokens, used.cache_write_tokens
    run.reasoning_tokens = used.reasoning_tokens
    run.requests = outcome.requests
    priced = price_all(outcome.responses, at=run.started_at)
    run.cost, run.cost_note, run.cost_basis = priced.cost, priced.note, priced.basis
    run.latency_ms = latency_ms
    run.finished_at = timezone.now()
    return used


# How many inline runs execute at once ----------------------------------------------

_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


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
