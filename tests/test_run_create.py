"""run_create: checks, prompt rendering, the queued event and sending to a worker."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from agents_llm.agents.services import agent_update
from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs import actors as run_tasks
from agents_llm.runs.runner import run_create
from tests.runtime_support import clean_runtime, published  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(run_tasks.execute_run, "send", lambda run_id: calls.append(run_id))
    return calls


def test_a_run_is_stored_queued_with_its_prompt_and_announced(agent, task, assignment, editor, published, sent):
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA", "extra": 1}, user=editor, enqueue=False)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.QUEUED
    assert stored.prompt == "Give a signal for NVDA."
    assert stored.input == {"ticker": "NVDA", "extra": 1}
    assert stored.created_by == editor and stored.schema_version == 1
    assert published == [("runs", "run.queued", run.pk, {
        "id": run.pk, "agent": "trader", "task": "trade-signal", "status": "queued", "model_name": "",
        "provider": "", "input_tokens": 0, "output_tokens": 0, "cost": None, "synthetic": False, "error": "",
    })]
    assert sent == []


def test_a_missing_placeholder_is_an_input_error_and_nothing_is_stored(agent, task, assignment, published, sent):
    with pytest.raises(ValidationError) as raised:
        run_create(agent=agent, task=task, input={"symbol": "NVDA"})

    assert "ticker" in raised.value.message_dict["input"][0]
    assert not AgentRun.objects.exists()
    assert published == [] and sent == []


def test_an_input_that_is_not_an_object_is_refused(agent, task, assignment):
    with pytest.raises(ValidationError) as raised:
        run_create(agent=agent, task=task, input=["NVDA"])  # type: ignore[arg-type]

    assert "JSON object" in raised.value.message_dict["input"][0]
    assert not AgentRun.objects.exists()


def test_an_agent_not_assigned_to_the_task_cannot_run_it(agent, task):
    with pytest.raises(ValidationError) as raised:
        run_create(agent=agent, task=task, input={"ticker": "NVDA"})

    assert "not assigned" in raised.value.message_dict["task"][0]
    assert not AgentRun.objects.exists()


def test_a_disabled_agent_cannot_run(agent, task, assignment):
    agent = agent_update(agent=agent, data={"enabled": False})

    with pytest.raises(ValidationError) as raised:
        run_create(agent=agent, task=task, input={"ticker": "NVDA"})

    assert "disabled" in raised.value.message_dict["agent"][0]
    assert not AgentRun.objects.exists()


def test_the_run_is_sent_to_a_worker_when_the_transaction_commits(
    agent, task, assignment, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_create(agent=agent, task=task, input={"ticker": "NVDA"})
        assert sent == []  # not before the commit

    for callback in callbacks:
        callback()
    assert sent == [run.pk]


def test_a_broker_that_is_down_leaves_the_run_queued_without_an_error(
    agent, task, assignment, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def down(run_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(run_tasks.execute_run, "send", down)

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        run = run_create(agent=agent, task=task, input={"ticker": "NVDA"})

    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.QUEUED
    assert f"could not enqueue run {run.pk}" in caplog.text
