"""Connections kept between requests (the database threads', tradingagents.dbthreads)
that the PostgreSQL server ended meanwhile (a restart, an administrator's
pg_terminate_backend) are replaced before they are used: the next inline run and
gateway call are answered, not refused. And a database that cannot
answer at all is a 503 with Retry-After from the gateway too, in OpenAI's shape."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from agents_llm.gateway import views
from agents_llm.models import AgentRun, CallStatus, LLMCall, RunStatus
from tests.asgi_support import chat, postgresql_only, run_and_call_token, run_inline  # noqa: F401
from tests.gateway_support import vendor, vendor_provider  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def test_backend() -> int:
    """The server session of the test's own thread (which the test database's
    teardown uses): the one a "restart" below spares."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _end_every_other_connection(spared: int) -> int:
    """What a server restart does to the server's sessions of the code under test: all
    ended (but the test's own), and gone before this returns."""
    others = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND pid <> %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(pg_terminate_backend(pid)) FROM ({others}) AS sessions", [spared])
        ended = cursor.fetchone()[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute(f"SELECT count(*) FROM ({others}) AS sessions", [spared])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    return ended


@postgresql_only
async def test_runs_and_calls_after_the_server_ended_the_kept_connections_are_answered(
    run_and_call_token, settings, test_backend
):
    settings.DATABASE_THREADS = 2  # threads that keep their connections, as a server's
    settings.DATABASE_IDLE_CHECK_SECONDS = 0.5
    for _ in range(2):  # the connections are open and kept, the caches warm
        assert (await run_inline(run_and_call_token)).status_code == 200
        assert (await chat(run_and_call_token)).status_code == 200

    assert await sync_to_async(_end_every_other_connection)(test_backend) >= 1
    await asyncio.sleep(0.6)  # idle, as connections are between a restart and the next call
    runs = [await run_inline(run_and_call_token) for _ in range(3)]
    calls = [await chat(run_and_call_token) for _ in range(3)]

    assert [r.status_code for r in runs] == [200] * 3, runs[0].content
    assert [r.json()["status"] for r in runs] == [RunStatus.SUCCEEDED] * 3
    assert [c.status_code for c in calls] == [200] * 3, calls[0].content
    assert await AgentRun.objects.filter(status=RunStatus.SUCCEEDED).acount() == 5
    assert await LLMCall.objects.filter(status=CallStatus.SUCCEEDED).acount() == 5


async def test_a_gateway_call_the_database_cannot_admit_is_a_503_in_openais_shape(run_and_call_token, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    async def not_on_the_loop(token, seen=None):
        return None

    monkeypatch.setattr(views, "authenticate", refused)
    monkeypatch.setattr(views, "auser_for_token", not_on_the_loop)

    response = await chat(run_and_call_token)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.json()["error"]["type"] == "server_error"
    assert "5432" not in response.text  # the driver's message stays in the server's log
    assert await LLMCall.objects.acount() == 0


async def test_a_model_list_the_database_cannot_read_is_a_503_in_openais_shape(run_and_call_token, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr(views, "_model_list", refused)
    from tradingagents.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get("/v1/models", headers={"Authorization": f"Bearer {run_and_call_token}"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "service_unavailable"
