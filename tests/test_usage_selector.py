"""usage_rows adds up runs and gateway calls in the database, by any key, with a
constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_llm.models import AgentRun, CallStatus, LLMCall, RunStatus
from agents_llm.usage.selectors import day_bounds, usage_merge, usage_rows, usage_total
from tests.usage_support import NOW, record_usage, recorded_usage, usage_world  # noqa: F401

pytestmark = pytest.mark.django_db


def _expected_by_agent() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = defaultdict(lambda: {"count": 0, "input": 0, "cost": Decimal(0), "failed": 0})
    for row in list(AgentRun.objects.select_related("agent")) + list(LLMCall.objects.select_related("agent")):
        e = out[row.agent.name]
        e["count"] += 1
        e["input"] += row.input_tokens
        e["cost"] += row.cost or 0
        e["failed"] += row.status in (RunStatus.FAILED, CallStatus.FAILED, CallStatus.REFUSED)
    return out


def test_rows_by_agent_add_up_runs_and_calls(recorded_usage):
    rows = usage_rows(group_by="agent")

    expected = _expected_by_agent()
    assert {r.key for r in rows} == set(expected)
    for row in rows:
        assert row.count == expected[row.key]["count"]
        assert row.input_tokens == expected[row.key]["input"]
        assert row.cost == expected[row.key]["cost"]
        assert row.failed + row.refused == expected[row.key]["failed"]
    assert sum(r.runs for r in rows) == AgentRun.objects.count() == 60
    assert sum(r.calls for r in rows) == LLMCall.objects.count() == 140


def test_every_grouping_gives_the_same_total(recorded_usage):
    total = usage_total()

    for group_by in ("day", "agent", "provider", "model", "session", ("day", "agent"), ("provider", "model")):
        merged = usage_merge(usage_rows(group_by=group_by))[0]
        assert (merged.count, merged.tokens, merged.cost, merged.fell_back) == (
            total.count, total.tokens, total.cost, total.fell_back
        ), group_by
    assert total.cache_write_tokens == sum(c.cache_write_tokens for c in LLMCall.objects.all())


def test_sessions_are_keyed_by_id_and_labelled_by_name(recorded_usage):
    rows = {r.key: r for r in usage_rows(group_by="session")}

    for session in recorded_usage["sessions"]:
        assert rows[str(session.pk)].label == session.name
    assert rows[None].label == "(no session)"


def test_a_period_counts_only_what_was_created_in_it(recorded_usage):
    since, until = day_bounds((NOW - timedelta(days=2)).date(), NOW.date())

    total = usage_total(since=since, until=until)

    runs = AgentRun.objects.filter(created_at__gte=since, created_at__lt=until).count()
    calls = LLMCall.objects.filter(created_at__gte=since, created_at__lt=until).count()
    assert (total.runs, total.calls) == (runs, calls)
    assert 0 < total.count < 200


def test_the_query_count_does_not_grow_with_the_rows(usage_world):
    record_usage(runs=5, calls=5, **usage_world)
    with CaptureQueriesContext(connection) as few:
        usage_rows(group_by=("day", "agent"))
    record_usage(runs=80, calls=200, seed=9, **usage_world)
    with CaptureQueriesContext(connection) as many:
        rows = usage_rows(group_by=("day", "agent"))

    # Two GROUP BYs (runs, calls) and the agents' names; PostgreSQL adds one SET.
    assert len(many.captured_queries) == len(few.captured_queries) <= 4
    assert len(rows) > 3


def test_an_unknown_key_is_refused():
    with pytest.raises(ValueError, match="Cannot group usage by 'colour'"):
        usage_rows(group_by="colour")
