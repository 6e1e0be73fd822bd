"""API traffic goes on while the cache's Redis stops and comes back: no 5xx, and every
2xx write has its row."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig
from tests.api_support import client_for

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 60


def test_api_traffic_across_a_redis_stop_and_restart_gets_no_5xx(cache_on_redis, editor, reader):
    from tradingagents import cache

    writer, viewer = client_for(editor), client_for(reader)
    statuses: list[int] = []
    created: list[str] = []
    for i in range(REQUESTS):
        if i == REQUESTS // 3:
            cache_on_redis.stop()
        if i == 2 * REQUESTS // 3:
            cache_on_redis.start()
            cache._down_until = 0.0  # as if the retry window had passed
        name = f"agent-{i}"
        response = writer.post("/agents", {"name": name, "role": "trader"})
        statuses.append(response.status_code)
        if response.status_code == 201:
            created.append(name)
        statuses.append(viewer.get("/agents", limit=5).status_code)
        statuses.append(viewer.get("/providers").status_code)

    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {200, 201}
    assert sorted(AgentConfig.objects.filter(name__in=created).values_list("name", flat=True)) == sorted(created)
    assert len(created) == REQUESTS
