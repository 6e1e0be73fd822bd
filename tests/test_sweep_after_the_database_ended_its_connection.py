"""Issue 27, item 4: the worker's periodic sweep does not fail once after PostgreSQL
ended its connection (a restart, pg_terminate_backend): a sweep that fails on its
connection runs again on a new one, and does its work."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from agents_llm.models import AgentRun, RunStatus
from tests.asgi_support import postgresql_only
from tradingagents import worker

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]


def test_a_sweep_whose_connection_the_server_ended_runs_again_and_requeues_the_stale_run(
    assignment, offline_config, settings, monkeypatch
):
    settings.PERIODIC_JOBS = ["agents_llm.runs.runner.runs_requeue_stale"]
    sent: list[int] = []
    monkeypatch.setattr("agents_llm.runs.runner._send", lambda run_id: sent.append(run_id) or True)
    stale = AgentRun.objects.create(
        agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"}, status=RunStatus.QUEUED,
    )
    AgentRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))
    opened, ended, outcome = threading.Event(), threading.Event(), {}

    def sweeper() -> None:  # a worker's sweep thread, which keeps its connection between queries
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            opened.set()
            ended.wait(10)
            worker.run_periodic_jobs()
            outcome["ok"] = True
        except Exception as exc:
            outcome["error"] = exc
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=sweeper)
    thread.start()
    assert opened.wait(10)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [outcome["pid"]])
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [outcome["pid"]])
    ended.set()
    thread.join(30)

    assert outcome.get("error") is None, outcome
    assert outcome.get("ok") is True
    assert sent == [stale.pk]
