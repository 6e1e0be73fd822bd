"""On PostgreSQL with the connection pool (DATABASE_POOL, as the README recommends under
ASGI), a real server gives every pooled connection back: far more requests than the
pool holds, sync views, async views, inline runs and gateway calls mixed, are all
answered at once, none waits for the pool's timeout."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.asgi_support import postgresql_only
from tests.gateway_support import make_agent, running_servers, vendor, vendor_provider  # noqa: F401
from tradingagents.services import api_token_create

# Committed rows, so that the server process sees them.
pytestmark = [postgresql_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POOL_MAX = 3


@pytest.fixture
def token(editor, assignment, offline_config, vendor_provider) -> str:
    make_agent("gateway-trader", vendor_provider, "vendor-a")
    return api_token_create(user=editor, name="pooled")[1]


def test_a_pool_smaller_than_the_traffic_serves_every_request(django_db_setup, token, agent):
    requests = [
        ("GET", "/api/v1/agents", None),  # a sync view
        ("GET", f"/api/v1/agents/{agent.pk}/llm-configs", None),  # an async view
        ("POST", "/api/v1/runs?wait=true", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}}),
        ("POST", "/v1/chat/completions", {"model": "gateway-trader", "messages": [{"role": "user", "content": "Hi"}]}),
    ]
    with running_servers(1, DATABASE_POOL="true", DATABASE_POOL_MAX=str(POOL_MAX)) as ports:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            answered, slowest = [], 0.0
            for _ in range(5 * POOL_MAX):
                for method, path, body in requests:
                    started = time.monotonic()
                    answered.append((path, client.request(method, path, json=body).status_code))
                    slowest = max(slowest, time.monotonic() - started)

    assert [status for _, status in answered] == [200] * len(answered), [a for a in answered if a[1] != 200][:4]
    assert slowest < 5  # the pool's timeout is 10 s: nobody waited for a lost connection
