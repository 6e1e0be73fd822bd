"""On PostgreSQL an inline run whose target and agent are cached writes its row from
the server's event loop (tradingagents.loop_db): no hop to a database thread, the same
row and events as the threads' path, and every miss, change, refusal and fault still
answered as there."""

from __future__ import annotations

import httpx
import pytest

from agents_llm import runner
from agents_llm.models import AgentRun, RunStatus
from tests.loop_support import count_hops, local_cache, postgresql_only  # noqa: F401 - local_cache: autouse
from tests.runtime_support import published  # noqa: F401 - fixture
from tradingagents import loop_db
from tradingagents.services import api_token_create

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]

RUN = {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}}
# What a run's row says that is not the same from run to run.
VARYING = {"id", "created_at", "updated_at", "started_at", "finished_at", "latency_ms"}


@pytest.fixture
def token(editor, assignment, offline_config) -> str:
    return api_token_create(user=editor, name="on-loop")[1]


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    return count_hops(monkeypatch, runner, "_db")


@pytest.fixture
def sent_on_loop(monkeypatch) -> list[str]:
    """Each message the loop's connections sent to the server."""
    import psycopg

    sent: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def spy(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", spy)
    return sent


async def _post(token: str, body: dict = RUN) -> httpx.Response:
    from tradingagents.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.post("/api/v1/runs?wait=true", json=body, headers={"Authorization": f"Bearer {token}"})


def _row(run_id: int) -> dict:
    row = {k: v for k, v in AgentRun.objects.filter(pk=run_id).values().get().items() if k not in VARYING}
    row["cost_basis"] = [{k: v for k, v in entry.items() if k != "at"} for entry in row["cost_basis"]]  # when priced
    return row


async def test_a_cached_run_goes_to_no_database_thread_and_sends_two_messages(token, hops, sent_on_loop):
    assert (await _post(token)).status_code == 200  # fills the caches, from the threads
    hops.clear()
    sent_on_loop.clear()

    response = await _post(token)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == RunStatus.SUCCEEDED
    assert hops == []
    # The check with the INSERT, then the final UPDATE (statements prepared the first time).
    batches = [message for message in sent_on_loop if not message.startswith("PREPARE ")]
    assert len(batches) == 2
    assert all(message.startswith("SET LOCAL synchronous_commit TO OFF; EXECUTE ") for message in batches)
    stored = await AgentRun.objects.aget(pk=response.json()["id"])
    assert stored.status == RunStatus.SUCCEEDED and stored.started_at and stored.finished_at


async def test_without_prepared_reads_the_loop_reads_the_rows_the_threads_read(token, settings, hops, sent_on_loop):
    settings.DATABASE_PREPARED_HOT_READS = False  # whole rows (JSON, times, text), not fingerprints
    assert (await _post(token)).status_code == 200
    hops.clear()
    sent_on_loop.clear()

    assert (await _post(token)).status_code == 200

    assert hops == []  # the rows read on the loop equal those the target was built from
    assert sent_on_loop[0].startswith("SET LOCAL synchronous_commit TO OFF; SELECT ")  # nothing prepared


async def test_with_durable_results_the_final_update_waits_for_its_flush(token, settings, sent_on_loop):
    settings.DATABASE_DURABLE_RESULTS = True
    await _post(token)
    sent_on_loop.clear()

    assert (await _post(token)).status_code == 200

    batches = [message for message in sent_on_loop if not message.startswith("PREPARE ")]
    # The INSERT, rewritten by the final UPDATE before anyone relies on it, never waits.
    assert batches[0].startswith("SET LOCAL synchronous_commit TO OFF; EXECUTE ")
    assert batches[1].startswith("EXECUTE ") and "synchronous_commit" not in batches[1]


async def test_a_run_from_the_loop_stores_and_answers_what_the_threads_do(token, settings, hops):
    await _post(token)
    from_loop = await _post(token)
    settings.DATABASE_ON_LOOP = False
    hops.clear()
    from_threads = await _post(token)

    assert hops == ["_begin_inline", "_finish"]  # the setting turns the loop's path off
    loop_row, thread_row = await _rows(from_loop.json()["id"], from_threads.json()["id"])
    assert loop_row == thread_row
    answered = [{k: v for k, v in r.json().items() if k not in VARYING | {"cost_basis"}} for r in (from_loop, from_threads)]
    assert answered[0] == answered[1]


async def _rows(*run_ids: int) -> list[dict]:
    from asgiref.sync import sync_to_async

    return [await sync_to_async(_row)(run_id) for run_id in run_ids]


async def test_a_run_from_the_loop_announces_queued_started_and_finished(token, published, hops):
    await _post(token)
    published.clear()
    hops.clear()

    run_id = (await _post(token)).json()["id"]

    assert hops == []
    assert [(e[1], e[2], e[3]["status"]) for e in published if e[0] == "runs"] == [
        ("run.queued", run_id, "queued"), ("run.started", run_id, "running"), ("run.finished", run_id, "succeeded"),
    ]


async def test_a_task_changed_behind_the_caches_back_runs_as_it_is_now_and_leaves_one_row(token, task, hops):
    from agents_llm.models import TaskConfig

    await _post(token)
    await TaskConfig.objects.filter(pk=task.pk).aupdate(prompt_template="Now {ticker}, briefly.")  # no signal
    hops.clear()

    response = await _post(token)

    assert response.status_code == 200, response.content
    assert hops == ["_begin_inline"]  # the loop's row went, the threads started again from the current task
    assert await AgentRun.objects.acount() == 2
    assert (await AgentRun.objects.aget(pk=response.json()["id"])).prompt == "Now NVDA, briefly."


@pytest.mark.parametrize("change", ["agent disabled", "task deleted"])
async def test_a_target_gone_behind_the_caches_back_is_refused_and_leaves_no_row(token, agent, task, change):
    from agents_llm.models import AgentConfig, TaskConfig

    await _post(token)
    if change == "agent disabled":
        await AgentConfig.objects.filter(pk=agent.pk).aupdate(enabled=False)
    else:
        await TaskConfig.objects.filter(pk=task.pk).adelete()

    response = await _post(token)

    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["loc"] == ["body", "agent" if change == "agent disabled" else "task"]
    assert await AgentRun.objects.acount() == (1 if change == "agent disabled" else 0)  # a task's runs go with it


@pytest.fixture
def reader_token(reader, assignment, offline_config) -> str:
    return api_token_create(user=reader, name="on-loop")[1]


async def test_a_caller_without_the_permission_is_refused_from_memory_and_leaves_no_row(reader_token, hops):
    assert (await _post(reader_token)).status_code == 403  # its permissions are now in memory
    hops.clear()

    response = await _post(reader_token)

    assert response.status_code == 403
    assert "agents_llm.add_agentrun" in response.json()["detail"]
    assert hops == []
    assert await AgentRun.objects.acount() == 0


async def test_input_the_cached_task_refuses_gets_the_threads_specific_error(token):
    await _post(token)

    response = await _post(token, {**RUN, "input": {"symbol": "NVDA"}})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "input"]
    assert "ticker" in response.json()["errors"][0]["msg"]
    assert await AgentRun.objects.acount() == 1


async def test_a_server_that_forgot_the_prepared_statements_still_stores_one_run(token):
    await _post(token)
    await _post(token)  # the loop's connection has prepared its statements
    async with loop_db.connection() as conn:
        await conn.execute("DEALLOCATE ALL")

    response = await _post(token)

    assert response.status_code == 200, response.content
    assert await AgentRun.objects.acount() == 3
    assert (await AgentRun.objects.aget(pk=response.json()["id"])).status == RunStatus.SUCCEEDED


def test_closing_the_loops_connections_ends_their_server_sessions(token):
    import asyncio
    import time

    from django.db import connection

    def sessions() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return {pid for (pid,) in cursor.fetchall()}

    async def two_runs() -> int:
        await _post(token)
        await _post(token)
        async with loop_db.connection() as conn:
            return conn.info.backend_pid

    backend = asyncio.run(two_runs())
    assert backend in sessions()

    loop_db.close_all()

    deadline = time.monotonic() + 5
    while backend in sessions() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert backend not in sessions()
