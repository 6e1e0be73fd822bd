"""A running run's process marks it alive; the sweep queues again a run whose heartbeat
stopped (its worker was killed) within a minute or so, not after the task's timeout plus
two minutes — and never one whose process is alive."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs import runner
from agents_llm.runs.actors import execute_run
from agents_llm.runs.runner import run_create, runs_requeue_stale
from tests.dramatiq_support import stub_worker

pytestmark = pytest.mark.django_db(transaction=True)


def _running(assignment, *, beat_seconds_ago: float) -> AgentRun:
    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"}, enqueue=False)
    now = timezone.now()
    AgentRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=now - timedelta(seconds=5), enqueued_at=now,
        heartbeat_at=now - timedelta(seconds=beat_seconds_ago),
    )
    return run


def test_a_run_whose_heartbeat_stopped_is_queued_again_and_run(offline_config, assignment, settings):
    settings.RUN_LOST_AFTER_SECONDS = 60
    dead = _running(assignment, beat_seconds_ago=61)
    alive = _running(assignment, beat_seconds_ago=2)

    with stub_worker() as broker:
        counts = runs_requeue_stale()
        broker.join(execute_run.queue_name)

    assert counts["queued"] == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == RunStatus.SUCCEEDED and dead.attempts[0]["error_class"] == "WorkerLost"
    assert alive.status == RunStatus.RUNNING


def test_a_workers_run_beats_while_it_executes(offline_config, assignment, settings):
    settings.RUN_HEARTBEAT_SECONDS = 0.05
    run = _running(assignment, beat_seconds_ago=100)

    with runner._beating(run.pk):
        time.sleep(0.3)

    run.refresh_from_db()
    assert run.heartbeat_at > timezone.now() - timedelta(seconds=1)


def test_a_claimed_run_starts_with_a_heartbeat(offline_config, assignment):
    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"}, enqueue=False)

    runner.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.heartbeat_at is not None
