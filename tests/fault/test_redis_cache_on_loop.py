"""With the cache on Redis (the scaled-out set-up), an inline run and a gateway call of
a cached caller read its token and permissions from the server's event loop, over an
asyncio client (tradingagents.cache.get_many_on_loop): no hop to a database thread.
A change of permissions still applies to the very next call, and with Redis stopped
the calls are answered from the database, as before."""

from __future__ import annotations

import pytest

from agents_llm import runner
from agents_llm.gateway import views
from agents_llm.models import AgentRun, LLMCall, RunStatus
from tests.gateway_support import vendor, vendor_provider  # noqa: F401 - fixtures
from tests.loop_support import chat, count_hops, postgresql_only, run_and_call_token, run_inline  # noqa: F401

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    """Each function sent to a database thread: by the runner, by token auth, by the gateway."""
    called = count_hops(monkeypatch, runner, "_db")
    monkeypatch.setattr(runner, "db_call", runner._db)
    monkeypatch.setattr(views, "db_call", runner._db)
    return called


async def test_a_cached_callers_run_and_call_go_to_no_database_thread(cache_on_redis, run_and_call_token, hops):
    for _ in range(2):  # the token, its permissions, the targets and the route are now cached
        assert (await run_inline(run_and_call_token)).status_code == 200
        assert (await chat(run_and_call_token)).status_code == 200
    hops.clear()

    run = await run_inline(run_and_call_token)
    call = await chat(run_and_call_token)

    assert run.status_code == 200 and run.json()["status"] == RunStatus.SUCCEEDED
    assert call.status_code == 200, call.text
    assert hops == []
    assert await AgentRun.objects.filter(status=RunStatus.SUCCEEDED).acount() == 3
    assert await LLMCall.objects.acount() == 3


async def test_a_permission_taken_away_is_refused_on_the_next_run_and_call(cache_on_redis, run_and_call_token, editor, hops):
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import Permission

    assert (await run_inline(run_and_call_token)).status_code == 200
    assert (await chat(run_and_call_token)).status_code == 200

    def take_away() -> None:
        editor.user_permissions.remove(*Permission.objects.filter(codename__in=["add_agentrun", "use_gateway"]))

    await sync_to_async(take_away)()
    run = await run_inline(run_and_call_token)
    call = await chat(run_and_call_token)

    assert run.status_code == 403, run.content
    assert call.status_code == 403, call.text
    assert await AgentRun.objects.acount() == 1
    assert await LLMCall.objects.acount() == 1


async def test_with_redis_stopped_runs_and_calls_are_answered_from_the_database(cache_on_redis, run_and_call_token, hops):
    assert (await run_inline(run_and_call_token)).status_code == 200
    assert (await chat(run_and_call_token)).status_code == 200
    cache_on_redis.stop()
    hops.clear()

    run = await run_inline(run_and_call_token)
    call = await chat(run_and_call_token)

    assert run.status_code == 200 and run.json()["status"] == RunStatus.SUCCEEDED
    assert call.status_code == 200, call.text
    assert "user_for_token" in hops  # the token was read where the database is
    assert await AgentRun.objects.filter(status=RunStatus.SUCCEEDED).acount() == 2
