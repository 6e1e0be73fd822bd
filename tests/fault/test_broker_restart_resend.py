"""Runs sent to a Redis broker that then restarts without persistence lose their
messages; the next sweep re-sends them (instead of after the ten-minute re-send)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs.actors import execute_run
from agents_llm.runs.recovery import runs_resend_after_broker_restart
from agents_llm.runs.runner import run_create, runs_requeue_stale
from tests.dramatiq_support import swapped_broker

pytestmark = pytest.mark.django_db(transaction=True)


def _messages(server) -> int:
    client = redis.Redis(port=server.port)
    try:
        return client.hlen(f"dramatiq:{execute_run.queue_name}.msgs")
    finally:
        client.close()


def test_runs_sent_before_a_broker_restart_are_sent_again_by_the_next_sweep(redis_server, offline_config, assignment):
    with swapped_broker(RedisBroker(url=redis_server.url, socket_connect_timeout=0.5)):
        run = run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
        AgentRun.objects.filter(pk=run.pk).update(enqueued_at=run.created_at - timedelta(seconds=5))
        assert _messages(redis_server) == 1

        redis_server.stop()
        redis_server.start()  # no persistence: the message is gone
        assert _messages(redis_server) == 0
        # The regular sweep would wait ten minutes before re-sending it.
        assert runs_requeue_stale() == {"queued": 0, "failed": 0}

        counts = runs_resend_after_broker_restart()

        assert counts == {"queued": 1, "failed": 0}
        assert _messages(redis_server) == 1
        stored = AgentRun.objects.get(pk=run.pk)
        assert stored.status == RunStatus.QUEUED and stored.enqueued_at > run.created_at


def test_without_a_restart_nothing_is_sent_twice(redis_server, offline_config, assignment):
    with swapped_broker(RedisBroker(url=redis_server.url, socket_connect_timeout=0.5)):
        run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})

        assert runs_resend_after_broker_restart() == {"queued": 0, "failed": 0}
        assert _messages(redis_server) == 1


def test_while_the_broker_is_down_it_does_nothing(redis_server, offline_config, assignment):
    with swapped_broker(RedisBroker(url=redis_server.url, socket_connect_timeout=0.5)):
        run_create(agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"})
        redis_server.stop()

        assert runs_resend_after_broker_restart() == {"queued": 0, "failed": 0}
