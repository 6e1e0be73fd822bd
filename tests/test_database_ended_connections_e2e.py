"""Issue 27, item 4: after PostgreSQL ends every session of the server processes (a
restart, an administrator's pg_terminate_backend), with the connection pool
(DATABASE_POOL), the first request to each process on every path is answered: an admin
page (the sync request path), a sync and an async API read, /api/v1/health and a
gateway call. None is a 500 or a 503, on either of two processes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.asgi_support import postgresql_only
from tests.gateway_support import make_agent, running_servers, user_message, vendor, vendor_provider  # noqa: F401
from tradingagents.services import api_token_create

pytestmark = [postgresql_only, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POOL_MAX = 8


@pytest.fixture
def token(superuser, vendor_provider) -> str:
    make_agent("gateway-trader", vendor_provider, "vendor-a")
    return api_token_create(user=superuser, name="ended")[1]


@pytest.fixture
def admin_cookie(superuser) -> str:
    client = Client()
    client.force_login(superuser)
    return client.cookies["sessionid"].value


def _paths(agent_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/admin/agents_llm/agentconfig/", None),  # sync, Django's request cycle
        ("GET", "/api/v1/agents", None),  # a sync API view
        ("GET", f"/api/v1/agents/{agent_id}/llm-configs", None),  # an async API view (database threads)
        ("GET", "/api/v1/health", None),
        ("POST", "/v1/chat/completions", {"model": "gateway-trader", "messages": user_message()}),
    ]


def _end_the_servers_sessions() -> int:
    """Every session of the test database but the test's own, ended and gone."""
    others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(pg_terminate_backend(pid)) FROM ({others}) AS s")
        ended = cursor.fetchone()[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT count(*) FROM ({others}) AS s")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    return ended


def test_the_first_request_on_every_path_of_every_process_after_the_database_ended_its_sessions_is_answered(
    django_db_setup, token, admin_cookie
):
    from agents_llm.agents.models import AgentConfig

    agent_id = AgentConfig.objects.get(name="gateway-trader").pk
    paths = _paths(agent_id)
    # The test's secret key, so that its admin session is the servers' too.
    with running_servers(2, DATABASE_POOL="true", DATABASE_POOL_MAX=str(POOL_MAX),
                         DJANGO_SECRET_KEY=settings.SECRET_KEY) as ports:
        clients = [
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, cookies={"sessionid": admin_cookie},
                         headers={"Authorization": f"Bearer {token}"})
            for port in ports
        ]
        # Every pooled connection of both processes open, idle and in the pool.
        with ThreadPoolExecutor(2 * POOL_MAX) as pool:
            warm = list(pool.map(
                lambda i: clients[i % 2].request(*paths[i % len(paths)][:2], json=paths[i % len(paths)][2]).status_code,
                range(8 * POOL_MAX),
            ))
        assert set(warm) == {200}, warm

        assert _end_the_servers_sessions() >= 2 * 2  # at least the pools' min_size in each process
        time.sleep(1.5)  # idle, as between a restart and the next requests

        answered = []
        for index, client in enumerate(clients):
            for method, path, body in paths:
                started = time.monotonic()
                response = client.request(method, path, json=body)
                answered.append((index, path, response.status_code, round(time.monotonic() - started, 1)))
        for client in clients:
            client.close()

    assert [status for _, _, status, _ in answered] == [200] * len(answered), answered
    assert max(took for *_, took in answered) < 5, answered  # no waiting through the dead connections
