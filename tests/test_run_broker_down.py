"""A run created while the broker is down stays queued, and the periodic sweep sends
it once the broker is back: nothing a user asked for is lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dramatiq.brokers.redis import RedisBroker

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs.actors import execute_run
from agents_llm.runs.runner import run_create, runs_requeue_stale
from tests.dramatiq_support import stub_worker, swapped_broker
from tests.loopback import refused_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unreachable_broker():
    broker = RedisBroker(url=f"redis://127.0.0.1:{refused_port()}/0", socket_connect_timeout=0.5)
    with swapped_broker(broker):
        yield broker


def _age(run: AgentRun, seconds: int) -> None:
    AgentRun.objects.filter(pk=run.pk).update(created_at=run.created_at - timedelta(seconds=seconds))


def test_a_run_created_with_the_broker_down_is_stored_queued_without_an_enqueue_time(
    unreachable_broker, offline_config, assignment
):
    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.QUEUED
    assert stored.enqueued_at is None


def test_the_sweep_runs_it_once_the_broker_is_back(unreachable_broker, offline_config, assignment):
    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
    _age(run, 120)

    with stub_worker() as broker:
        counts = runs_requeue_stale()
        broker.join(execute_run.queue_name)

    assert counts == {"queued": 1, "failed": 0}
    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert stored.enqueued_at is not None
    assert stored.output["signal"] in ("buy", "hold", "sell")


def test_the_sweep_leaves_fresh_and_already_sent_runs_alone(unreachable_broker, offline_config, assignment):
    fresh = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "AAPL"})
    sent = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "MSFT"})
    _age(sent, 120)
    AgentRun.objects.filter(pk=sent.pk).update(enqueued_at=sent.created_at)

    with stub_worker():
        counts = runs_requeue_stale()

    assert counts == {"queued": 0, "failed": 0}
    assert AgentRun.objects.get(pk=fresh.pk).status == RunStatus.QUEUED


def test_while_the_broker_is_still_down_the_sweep_counts_the_failure_and_keeps_the_run(
    unreachable_broker, offline_config, assignment
):
    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
    _age(run, 120)

    assert runs_requeue_stale() == {"queued": 0, "failed": 1}
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_a_run_whose_worker_died_mid_run_is_queued_again_and_then_finishes(unreachable_broker, offline_config, assignment):
    from django.utils import timezone

    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
    died_at = timezone.now() - timedelta(seconds=assignment.task.timeout_seconds + 300)
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=died_at, enqueued_at=died_at)

    with stub_worker() as broker:
        counts = runs_requeue_stale()
        broker.join(execute_run.queue_name)

    assert counts == {"queued": 1, "failed": 0}
    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert [a["error_class"] for a in stored.attempts] == ["WorkerLost", ""]


def test_a_run_still_within_its_timeout_is_left_running(unreachable_broker, offline_config, assignment):
    from django.utils import timezone

    run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
    started = timezone.now() - timedelta(seconds=assignment.task.timeout_seconds - 10)
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=started, enqueued_at=started)

    with stub_worker():
        counts = runs_requeue_stale()

    assert counts == {"queued": 0, "failed": 0}
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
