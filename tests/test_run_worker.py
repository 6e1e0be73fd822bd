"""A queued run reaches a Dramatiq worker once its transaction commits (StubBroker)."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs.actors import execute_run
from agents_llm.runs.runner import run_create
from tests.runtime_support import clean_runtime  # noqa: F401


@pytest.fixture
def worker():
    broker = dramatiq.get_broker()
    if not isinstance(broker, StubBroker):
        pytest.skip("needs the embedded StubBroker (REDIS_URL is set)")
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    yield broker
    worker.stop()
    broker.flush_all()


@pytest.mark.django_db(transaction=True)
def test_a_worker_executes_a_queued_run_after_the_commit(agent, task, assignment, offline_config, worker):
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA"})

    worker.join(execute_run.queue_name, fail_fast=True)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert stored.synthetic and stored.output["signal"] in ("buy", "hold", "sell")
