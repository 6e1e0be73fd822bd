"""50 concurrent `PUT /agents/{id}/llm-config` on an agent without configs: every call
gets 200/201, exactly one creates, and the agent ends with exactly one config (the
primary), on PostgreSQL and on a SQLite file alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from agents_llm.models import AgentLLMConfig
from tests.api_support import client_for

CALLS = 50


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the suite's SQLite is in-memory (shared cache), whose locks fail instead of waiting; see the file test below",
)
def test_concurrent_upserts_leave_exactly_one_primary_and_all_succeed(superuser, agent, offline_provider):
    clients = [client_for(superuser) for _ in range(CALLS)]
    barrier = threading.Barrier(CALLS)

    def call(i: int) -> int:
        try:
            barrier.wait()
            body = {"provider": "offline", "model_name": "offline", "temperature": round(0.1 + i / 100, 2)}
            return clients[i].put(f"/agents/{agent.pk}/llm-config", body).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(CALLS) as pool:
        statuses = list(pool.map(call, range(CALLS)))

    assert sorted(statuses) == [200] * (CALLS - 1) + [201]
    configs = list(AgentLLMConfig.objects.filter(agent=agent))
    assert len(configs) == 1
    assert configs[0].priority == 0 and configs[0].enabled


def test_concurrent_upserts_on_a_sqlite_file_leave_exactly_one_primary_and_all_succeed(tmp_path: Path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'race.db'}", "REDIS_URL": "", "DRAMATIQ_BROKER_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fault.upsert_race", str(CALLS)],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["statuses"]) == [200] * (CALLS - 1) + [201], done.stderr[-3000:]
    assert result["configs"] == [{"priority": 0, "enabled": True}]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the suite's SQLite is in-memory (shared cache), whose locks fail instead of waiting",
)
def test_concurrent_bulk_applies_naming_agents_in_opposite_orders_all_succeed(superuser, offline_provider):
    from agents_llm.agents.services import agent_create

    names = [agent_create(name=f"agent-{i}", role="trader").name for i in range(4)]
    n = 16
    clients = [client_for(superuser) for _ in range(n)]
    barrier = threading.Barrier(n)

    def call(i: int) -> int:
        try:
            barrier.wait()
            order = names if i % 2 else list(reversed(names))
            body = {"agents": order, "config": {"provider": "offline", "model_name": "offline"}}
            return clients[i].post("/llm-configs/bulk", body).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(call, range(n)))

    assert statuses == [200] * n
    assert sorted(AgentLLMConfig.objects.values_list("agent__name", "priority")) == [(name, 0) for name in names]
