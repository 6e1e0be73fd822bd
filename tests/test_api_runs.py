"""/api/v1/runs (queued, or inline with ?wait=true) and /api/v1/usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents_llm.models import AgentRun, RunStatus
from tests.api_support import anonymous, as_editor, as_outsider, as_reader, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def test_posting_a_run_queues_it_and_answers_202(as_editor, assignment, offline_config, editor):
    response = as_editor.post("/runs", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}})

    body = response.json()
    run = AgentRun.objects.get()
    assert response.status_code == 202 and body["status"] == "queued" and body["id"] == run.pk
    assert run.status == RunStatus.QUEUED and run.input == {"ticker": "NVDA"} and run.created_by == editor
    assert "NVDA" in run.prompt


def test_posting_a_run_with_wait_runs_it_inline_and_answers_200_with_the_result(as_editor, assignment, offline_config):
    response = as_editor.call("POST", "/runs?wait=true", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "AAPL"}})

    body = response.json()
    run = AgentRun.objects.get()
    assert response.status_code == 200, body
    assert body["status"] == "succeeded" and body["synthetic"] is True and body["provider"] == "offline"
    assert set(body["output"]) == {"signal", "confidence"}
    assert run.status == RunStatus.SUCCEEDED and run.output == body["output"]
    assert body["cost"] == "0.00000000" and run.cost == 0  # a plain decimal, not "0E-8"


def test_a_run_of_an_agent_not_assigned_to_the_task_is_a_422_and_stores_nothing(as_editor, agent, task, offline_config):
    body = assert_error_shape(as_editor.post("/runs", {"agent": agent.pk, "task": task.name, "input": {"ticker": "X"}}), 422)
    assert body["errors"][0]["loc"] == ["body", "task"]
    assert not AgentRun.objects.exists()


def test_a_run_of_an_unknown_agent_is_a_422_naming_the_field(as_editor, task):
    body = assert_error_shape(as_editor.post("/runs", {"agent": "ghost", "task": task.name}), 422)
    assert body["errors"][0]["loc"] == ["body", "agent"]


def _run(agent, task, *, status=RunStatus.SUCCEEDED, days_ago=0, cost="0.01", model="gpt-4o-mini", provider=None, **kw):
    run = AgentRun.objects.create(
        agent=agent, task=task, status=status, model_name=model, provider=provider,
        input_tokens=kw.get("input_tokens", 100), output_tokens=kw.get("output_tokens", 20),
        requests=kw.get("requests", 1), cost=None if cost is None else Decimal(cost),
        attempts=[{"provider": "openai-main", "model": model, "error_class": "", "message": ""}],
    )
    AgentRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return run


def test_it_lists_runs_filtered_by_agent_status_and_date(as_reader, agent, task):
    recent = _run(agent, task)
    failed = _run(agent, task, status=RunStatus.FAILED)
    _run(agent, task, days_ago=10)
    today = timezone.now().date().isoformat()

    by_status = as_reader.get("/runs", status="failed").json()
    by_date = as_reader.get("/runs", agent="trader", created_from=today).json()

    assert [r["id"] for r in by_status["items"]] == [failed.pk]
    assert {r["id"] for r in by_date["items"]} == {recent.pk, failed.pk}


def test_a_run_detail_carries_its_attempts(as_reader, agent, task):
    run = _run(agent, task)
    body = as_reader.get(f"/runs/{run.pk}").json()
    assert body["attempts"][0]["model"] == "gpt-4o-mini" and body["cost"] == "0.01000000"


def test_usage_sums_tokens_requests_and_cost_by_agent_over_the_range(as_reader, agent, task, openai_provider):
    from agents_llm.agents.services import agent_create

    other = agent_create(name="other")
    _run(agent, task, provider=openai_provider)
    _run(agent, task, provider=openai_provider, cost=None, input_tokens=50)
    _run(other, task, model="o3-mini", provider=openai_provider)
    _run(agent, task, days_ago=40)  # outside the default 30 days

    body = as_reader.get("/usage", group_by="agent").json()

    rows = {r["key"]: r for r in body["rows"]}
    assert rows["trader"]["runs"] == 2 and rows["trader"]["input_tokens"] == 150
    assert Decimal(rows["trader"]["cost"]) == Decimal("0.01") and rows["trader"]["runs_without_cost"] == 1
    assert rows["other"]["requests"] == 1
    assert body["total"]["runs"] == 3 and Decimal(body["total"]["cost"]) == Decimal("0.02")


@pytest.mark.parametrize("group_by, key", [("provider", "openai-main"), ("model", "gpt-4o-mini")])
def test_usage_groups_by_provider_or_model(as_reader, agent, task, openai_provider, group_by, key):
    _run(agent, task, provider=openai_provider)
    rows = as_reader.get("/usage", group_by=group_by).json()["rows"]
    assert [(r["key"], r["runs"]) for r in rows] == [(key, 1)]


def test_usage_groups_by_day_within_an_explicit_range(as_reader, agent, task):
    _run(agent, task, days_ago=2)
    _run(agent, task, days_ago=2)
    _run(agent, task, days_ago=5)
    today = timezone.now().date()

    body = as_reader.get(
        "/usage", group_by="day", date_from=(today - timedelta(days=3)).isoformat(), date_to=today.isoformat()
    ).json()

    assert [(r["key"], r["runs"]) for r in body["rows"]] == [((today - timedelta(days=2)).isoformat(), 2)]


def test_usage_with_a_reversed_range_is_a_422(as_reader):
    body = assert_error_shape(as_reader.get("/usage", date_from="2026-02-01", date_to="2026-01-01"), 422)
    assert body["errors"][0]["loc"] == ["query", "date_from"]


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("as_superuser", 200, 202),
        ("as_editor", 200, 202),
        ("as_reader", 200, 403),
        ("as_outsider", 401, 401),
        ("anonymous", 401, 401),
    ],
)
def test_permission_matrix(request, who, read, write, assignment, offline_config):
    client = request.getfixturevalue(who)

    assert client.get("/runs").status_code == read
    assert client.get("/usage").status_code == read
    assert client.post("/runs", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "T"}}).status_code == write
    assert AgentRun.objects.exists() == (write == 202)
