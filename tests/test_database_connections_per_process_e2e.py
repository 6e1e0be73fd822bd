"""Issue 27, item 8: with the connection pool (DATABASE_POOL) a server process holds at
most DATABASE_POOL_MAX PostgreSQL connections, whatever its load: sync and async API
views, inline runs, gateway calls, health checks and websockets reading their snapshot
all take theirs from the pool (the README's scale-out section says so)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets
from django.db import connection

from tests.asgi_support import RUN, postgresql_only
from tests.gateway_support import make_agent, running_servers, user_message, vendor, vendor_provider  # noqa: F401
from tradingagents.services import api_token_create

pytestmark = [postgresql_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POOL_MAX = 4
NAME = "ta-connection-count"


@pytest.fixture
def token(editor, assignment, offline_config, vendor_provider) -> str:
    make_agent("gateway-trader", vendor_provider, "vendor-a")
    return api_token_create(user=editor, name="counted")[1]


def _server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [NAME])
        return cursor.fetchone()[0]


def test_a_server_under_concurrent_load_holds_no_more_connections_than_its_pool(
    django_db_setup, token, agent, vendor
):
    vendor.script("vendor-a", {"auto": True, "delay": 0.05})
    requests = [
        ("GET", "/api/v1/agents", None),
        ("GET", f"/api/v1/agents/{agent.pk}/llm-configs", None),
        ("GET", "/api/v1/health", None),
        ("POST", "/api/v1/runs?wait=true", RUN),
        ("POST", "/v1/chat/completions", {"model": "gateway-trader", "messages": user_message()}),
    ]
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}?application_name={NAME}"
    seen, done = [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.append(_server_connections())
            time.sleep(0.02)

    with running_servers(1, DATABASE_URL=url, DATABASE_POOL="true", DATABASE_POOL_MAX=str(POOL_MAX)) as ports:
        base = f"http://127.0.0.1:{ports[0]}"

        async def sockets() -> int:
            async def one() -> int:
                async with websockets.connect(f"ws://127.0.0.1:{ports[0]}/ws/events/?token={token}") as ws:
                    await ws.send(json.dumps({"action": "subscribe", "topics": ["runs", "agents"]}))
                    return len([await ws.recv() for _ in range(2)])
            return sum(await asyncio.gather(*(one() for _ in range(20))))

        sampler = threading.Thread(target=sample)
        sampler.start()
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"},
                          limits=httpx.Limits(max_connections=100)) as client, ThreadPoolExecutor(40) as pool:
            socket_frames = pool.submit(asyncio.run, sockets())
            statuses = list(pool.map(
                lambda i: client.request(*requests[i % len(requests)][:2], json=requests[i % len(requests)][2]).status_code,
                range(200),
            ))
            socket_frames.result(60)
        done.set()
        sampler.join()

    assert set(statuses) == {200}, statuses
    assert max(seen) >= 2  # the sampler saw the server's connections
    assert max(seen) <= POOL_MAX, max(seen)
