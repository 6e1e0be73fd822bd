"""The precompiled INSERT/UPDATE of hot rows stores exactly what Model.save() stores."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError
from django.db.models.signals import post_save
from django.forms.models import model_to_dict
from django.utils import timezone

from agents_llm.models import AgentRun, RunStatus
from tradingagents import row_writes

pytestmark = pytest.mark.django_db


def _run(agent, task, provider) -> AgentRun:
    return AgentRun(
        agent=agent, task=task, input={"ticker": "NVDA", "note": "ünïcode ✓"}, prompt="Give a signal for NVDA.",
        status=RunStatus.RUNNING, started_at=timezone.now(), schema_version=3, provider=provider,
    )


def _finish(run: AgentRun) -> list[str]:
    run.status = RunStatus.SUCCEEDED
    run.output = {"signal": "buy", "confidence": 0.75, "nested": [1, None, "x"]}
    run.attempts = [{"provider": "p", "model": "m", "error_class": "", "message": "answered"}]
    run.input_tokens, run.output_tokens, run.cache_read_tokens = 120, 30, 64
    run.cost = Decimal("0.00012345")
    run.cost_basis = [{"source": "config", "usage": {"input_tokens": 120}}]
    run.fell_back, run.latency_ms, run.finished_at = True, 42, timezone.now()
    return ["status", "output", "attempts", "input_tokens", "output_tokens", "cache_read_tokens", "cost",
            "cost_basis", "fell_back", "latency_ms", "finished_at"]


def test_a_run_inserted_and_updated_fast_reads_back_as_one_saved_by_the_orm(agent, task, openai_provider):
    fast, orm = _run(agent, task, openai_provider), _run(agent, task, openai_provider)
    row_writes.insert(fast)
    orm.save(force_insert=True)
    assert fast.pk and fast.pk != orm.pk and not fast._state.adding and fast.created_at is not None

    row_writes.update(fast, _finish(fast))
    orm.save(update_fields=_finish(orm))

    stored_fast, stored_orm = AgentRun.objects.get(pk=fast.pk), AgentRun.objects.get(pk=orm.pk)
    differing = {
        name for name, value in model_to_dict(stored_fast).items()
        if name not in ("id", "started_at", "finished_at") and value != model_to_dict(stored_orm)[name]
    }
    assert differing == set()
    assert stored_fast.output == {"signal": "buy", "confidence": 0.75, "nested": [1, None, "x"]}
    assert stored_fast.cost == Decimal("0.00012345") and stored_fast.finished_at == fast.finished_at


def test_updating_a_row_that_is_gone_fails_as_save_does(agent, task, openai_provider):
    run = _run(agent, task, openai_provider)
    row_writes.insert(run)
    AgentRun.objects.filter(pk=run.pk).delete()

    with pytest.raises(DatabaseError, match="did not affect any rows"):
        row_writes.update(run, _finish(run))
    assert not AgentRun.objects.filter(pk=run.pk).exists()


def test_a_model_with_save_receivers_still_goes_through_save(agent, task, openai_provider):
    seen: list[tuple[int, bool]] = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=AgentRun, dispatch_uid="test-row-writes")
    try:
        run = _run(agent, task, openai_provider)
        row_writes.insert(run)
        row_writes.update(run, _finish(run))
    finally:
        post_save.disconnect(dispatch_uid="test-row-writes", sender=AgentRun)

    assert seen == [(run.pk, True), (run.pk, False)]
    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_a_claim_returns_the_row_as_the_orm_reads_it_and_only_once(agent, task, openai_provider):
    run = _run(agent, task, openai_provider)
    run.status = RunStatus.QUEUED
    row_writes.insert(run)
    row_writes.update(run, _finish(run)[1:])  # every column but the status holds a value to convert
    now = timezone.now()

    claimed = row_writes.update_returning(
        AgentRun, run.pk, where={"status": RunStatus.QUEUED}, values={"status": RunStatus.RUNNING, "started_at": now},
    )
    again = row_writes.update_returning(
        AgentRun, run.pk, where={"status": RunStatus.QUEUED}, values={"status": RunStatus.RUNNING, "started_at": now},
    )

    assert again is None
    read = AgentRun.objects.get(pk=run.pk)
    assert model_to_dict(claimed) == model_to_dict(read)
    assert claimed.status == RunStatus.RUNNING and claimed.started_at == now and claimed.fell_back is True
    assert claimed.output["nested"] == [1, None, "x"] and claimed.cost == Decimal("0.00012345")
    assert not claimed._state.adding and claimed.created_at == read.created_at


@pytest.mark.django_db(transaction=True)
def test_an_insert_after_a_read_stores_the_row_and_returns_what_was_read(agent, task, openai_provider):
    from django.db import connection

    run = _run(agent, task, openai_provider)

    rows = row_writes.insert_after_read(run, "SELECT CAST(%s AS integer), CAST(%s AS text)", [7, "seven"])

    assert rows == [(7, "seven")]
    assert AgentRun.objects.get(pk=run.pk).input == {"ticker": "NVDA", "note": "ünïcode ✓"}
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_a_failed_insert_after_a_read_raises_and_leaves_the_connection_usable(agent, task, openai_provider):
    from django.db import IntegrityError, connection

    run = _run(agent, task, openai_provider)
    run.agent_id = agent.pk + 10_000  # no such agent

    with pytest.raises(IntegrityError):
        row_writes.insert_after_read(run, "SELECT 1", [])

    assert AgentRun.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone()[0] == 2


@pytest.mark.django_db(transaction=True)
def test_inline_runs_outside_a_transaction_start_from_the_cached_target_and_see_its_changes(
    agent, task, assignment, offline_config, editor
):
    from agents_llm.models import TaskConfig
    from tests.api_support import ApiClient
    from tradingagents.services import api_token_create

    client = ApiClient(api_token_create(user=editor)[1])
    body = {"agent": agent.name, "task": task.name, "input": {"ticker": "NVDA"}}
    first = client.call("POST", "/runs?wait=true", body)
    second = client.call("POST", "/runs?wait=true", body)  # from the cached target
    TaskConfig.objects.filter(pk=task.pk).update(prompt_template="Now {ticker}.")
    third = client.call("POST", "/runs?wait=true", body)

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [r.json()["status"] for r in (first, second, third)] == ["succeeded"] * 3
    assert list(AgentRun.objects.order_by("pk").values_list("prompt", flat=True))[-1] == "Now NVDA."
    assert AgentRun.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_claim_then_read_outside_a_transaction_claims_once_and_reads_after_it(agent, task, openai_provider):
    run = _run(agent, task, openai_provider)
    run.status = RunStatus.QUEUED
    row_writes.insert(run)
    claim = {"where": {"status": RunStatus.QUEUED}, "values": {"status": RunStatus.RUNNING, "started_at": timezone.now()}}
    read = {"read_sql": "SELECT status FROM agent_runs WHERE id = %s", "read_params": [run.pk]}

    claimed, rows = row_writes.claim_then_read(AgentRun, run.pk, **claim, **read)
    again, nothing = row_writes.claim_then_read(AgentRun, run.pk, **claim, **read)

    assert claimed.pk == run.pk and claimed.status == RunStatus.RUNNING
    assert claimed.input == {"ticker": "NVDA", "note": "ünïcode ✓"} and claimed.created_at == run.created_at
    assert rows == [(RunStatus.RUNNING,)]  # the read sees the claim
    assert (again, nothing) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_worker_runs_outside_a_transaction_use_the_cached_lookup_and_see_its_changes(
    agent, task, assignment, offline_config
):
    from agents_llm.models import TaskConfig
    from agents_llm.runner import run_create, run_execute

    runs = [run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False) for _ in range(3)]
    run_execute(run_id=runs[0].pk)
    run_execute(run_id=runs[1].pk)  # from the cached lookup
    TaskConfig.objects.filter(pk=task.pk).update(output_retries=5)  # no signal: the check must see it
    executed = run_execute(run_id=runs[2].pk)

    assert set(AgentRun.objects.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    assert executed.task.output_retries == 5


# Result rows: on PostgreSQL they commit without waiting for their flush to disk ------

postgresql_only = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="synchronous_commit is PostgreSQL's; SQLite's WAL with synchronous=NORMAL never waits",
)


@pytest.fixture
def transactions(monkeypatch):
    """The statements sent to PostgreSQL, as transactions: a message of several
    statements is one (PostgreSQL runs it as one), a single statement its own."""
    import psycopg

    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def spy(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)

    def transactions() -> list[list[str]]:
        # A prepared statement counts as the statement it runs.
        prepared = dict(m.groups() for message in sent if (m := re.match(r"PREPARE (\w+) AS (.*)", message, re.DOTALL)))
        return [
            [prepared.get(m.group(1), statement) if (m := re.match(r"EXECUTE (\w+)", statement)) else statement
             for statement in message.split("; ")]
            for message in sent if not message.startswith("PREPARE ")
        ]

    transactions.sent = sent  # as sent, prepared statements unresolved
    return transactions


def _committed_unflushed(transactions: list[list[str]], starts: str) -> list[bool]:
    """For each transaction with a statement that starts with `starts`: whether it
    committed without waiting for the flush."""
    return [
        "SET LOCAL synchronous_commit TO OFF" in statements
        for statements in transactions if any(statement.startswith(starts) for statement in statements)
    ]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_result_rows_commit_without_waiting_for_the_flush_and_store_what_save_stores(
    agent, task, openai_provider, transactions
):
    fast, orm = _run(agent, task, openai_provider), _run(agent, task, openai_provider)
    row_writes.insert(fast, result=True)
    orm.save(force_insert=True)
    row_writes.update(fast, _finish(fast), result=True)
    orm.save(update_fields=_finish(orm))

    stored_fast, stored_orm = AgentRun.objects.get(pk=fast.pk), AgentRun.objects.get(pk=orm.pk)
    assert {
        name for name, value in model_to_dict(stored_fast).items()
        if name not in ("id", "started_at", "finished_at") and value != model_to_dict(stored_orm)[name]
    } == set()
    # Each: the result row, then the ORM's, which waits as every other commit does.
    assert _committed_unflushed(transactions(), 'INSERT INTO "agent_runs"') == [True, False]
    assert _committed_unflushed(transactions(), 'UPDATE "agent_runs"') == [True, False]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_result_row_that_is_gone_fails_as_save_does_and_leaves_the_connection_usable(agent, task, openai_provider):
    from django.db import connection

    run = _run(agent, task, openai_provider)
    row_writes.insert(run)
    AgentRun.objects.filter(pk=run.pk).delete()

    with pytest.raises(DatabaseError, match="did not affect any rows"):
        row_writes.update(run, _finish(run), result=True)
    assert not AgentRun.objects.filter(pk=run.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone()[0] == 2


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_finished_runs_and_gateway_calls_wait_for_the_flush_when_durable_results_are_asked(
    agent, task, assignment, offline_config, settings, transactions
):
    from agents_llm.metering import CallOutcome, call_record
    from agents_llm.runner import run_create, run_execute

    settings.DATABASE_DURABLE_RESULTS = False
    fast = run_execute(run_id=run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False).pk)
    call_record(CallOutcome(agent_id=agent.pk, alias="trader", user_id=None))
    settings.DATABASE_DURABLE_RESULTS = True
    durable = run_execute(run_id=run_create(agent=agent, task=task, input={"ticker": "AAPL"}, enqueue=False).pk)
    call_record(CallOutcome(agent_id=agent.pk, alias="trader", user_id=None))

    assert [fast.status, durable.status] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert set(AgentRun.objects.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    # Each run: its claim (never a result, always unflushed), then its final UPDATE.
    assert _committed_unflushed(transactions(), 'UPDATE "agent_runs"') == [True, True, True, False]
    assert _committed_unflushed(transactions(), 'INSERT INTO "llm_calls"') == [True, False]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_prepared_statements_the_server_forgot_writes_once_and_prepares_no_more(
    agent, task, openai_provider, transactions
):
    from django.db import connection

    first = _run(agent, task, openai_provider)
    row_writes.insert(first, result=True)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL does
    second = _run(agent, task, openai_provider)
    row_writes.insert(second, result=True)
    sent_before_update = len(transactions.sent)
    row_writes.update(second, _finish(second), result=True)

    assert AgentRun.objects.count() == 2
    assert AgentRun.objects.get(pk=second.pk).status == RunStatus.SUCCEEDED
    assert not any("PREPARE" in message for message in transactions.sent[sent_before_update:])


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_without_prepared_hot_reads_a_batch_sends_its_statements_as_they_are(
    agent, task, openai_provider, settings, transactions
):
    settings.DATABASE_PREPARED_HOT_READS = False
    run = _run(agent, task, openai_provider)

    rows = row_writes.insert_after_read(run, "SELECT %s::integer", [7])
    row_writes.update(run, _finish(run), result=True)

    assert rows == [(7,)] and AgentRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert transactions.sent and not any(re.search(r"\b(PREPARE|EXECUTE)\b", message) for message in transactions.sent)
    assert _committed_unflushed(transactions(), 'UPDATE "agent_runs"') == [True]
