"""run_execute: the atomic claim, the offline provider, the actor, and what a run never stores."""

from __future__ import annotations

import json

import pytest

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs.actors import execute_run
from agents_llm.runs.runner import run_create, run_execute
from providers.models import LLMProvider, ValidationStatus
from tests.conftest import CANARY_KEY, CANARY_LAST4
from tests.runtime_support import (  # noqa: F401 - fixtures
    ANSWER,
    clean_runtime,
    compatible_provider,
    fake_openai,
    llm_config,
    published,
    run_now,
)

pytestmark = pytest.mark.django_db


def test_an_offline_run_succeeds_with_synthetic_schema_valid_output_and_no_cost(
    agent, task, assignment, offline_config, offline_provider
):
    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert stored.synthetic is True
    assert set(stored.output) == {"signal", "confidence"} and stored.output["signal"] in ("buy", "hold", "sell")
    assert (stored.provider, stored.model_name) == (offline_provider, "offline")
    assert stored.cost == 0 and "synthetic" in stored.cost_note
    assert stored.input_tokens > 0 and stored.requests == 1


def test_a_run_claimed_by_someone_else_is_not_executed_again(agent, task, assignment, offline_config, published):
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)
    AgentRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)  # another worker got there first
    published.clear()

    returned = run_execute(run_id=run.pk)

    assert returned.status == RunStatus.RUNNING
    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.attempts == [] and stored.output is None and stored.finished_at is None
    assert published == []


def test_executing_a_finished_run_again_changes_nothing(agent, task, assignment, offline_config):
    run = run_now(agent, task)
    finished_at = AgentRun.objects.get(pk=run.pk).finished_at

    again = run_execute(run_id=run.pk)

    assert again.status == RunStatus.SUCCEEDED
    assert AgentRun.objects.get(pk=run.pk).finished_at == finished_at
    assert len(again.attempts) == 1


def test_the_actor_executes_the_run(agent, task, assignment, offline_config):
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)

    execute_run(run.pk)

    assert AgentRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert execute_run.options["max_retries"] == 3


def test_the_actor_ignores_a_run_deleted_before_it_ran(agent, task, assignment, offline_config):
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)
    AgentRun.objects.filter(pk=run.pk).delete()

    execute_run(run.pk)

    assert not AgentRun.objects.exists()


def test_an_agent_without_an_enabled_config_fails_with_a_clear_error(agent, task, assignment, offline_config):
    from agents_llm.agents.services import llm_config_update

    llm_config_update(config=offline_config, data={"enabled": False})

    run = run_now(agent, task)

    assert run.status == RunStatus.FAILED
    assert AgentRun.objects.get(pk=run.pk).error == "Agent 'trader' has no enabled LLM config."


def test_an_undecryptable_key_marks_the_provider_and_the_chain_moves_on(
    agent, task, assignment, offline_provider, fake_openai
):
    broken = compatible_provider("broken", fake_openai.base_url, api_key=CANARY_KEY)
    LLMProvider.objects.filter(pk=broken.pk).update(api_key_encrypted="gAAAAABnot-a-token-we-can-read")
    llm_config(agent, broken, "model-a", priority=0)
    llm_config(agent, offline_provider, "offline", priority=1)

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED and stored.model_name == "offline"
    assert stored.attempts[0]["error_class"] == "UndecryptableSecret"
    assert "ENCRYPTION_KEYS_PREVIOUS" in stored.attempts[0]["message"]
    assert LLMProvider.objects.get(pk=broken.pk).validation_status == ValidationStatus.UNDECRYPTABLE
    assert fake_openai.requests == []


def test_an_error_echoing_the_key_is_stored_without_it(agent, task, assignment, fake_openai, published):
    provider = compatible_provider("fake", fake_openai.base_url, api_key=CANARY_KEY)
    llm_config(agent, provider, "model-a")
    fake_openai.script("model-a", {"status": 401, "message": f"Incorrect API key provided: {CANARY_KEY}"})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.FAILED
    assert stored.attempts[0]["error_class"] == "ModelAuthenticationError"
    assert CANARY_LAST4 in stored.attempts[0]["message"]
    everything = json.dumps([stored.attempts, stored.error, [data for *_, data in published]])
    assert CANARY_KEY not in everything


def test_the_task_timeout_cuts_the_chain_and_keeps_what_was_tried(agent, task, assignment, fake_openai, monkeypatch):
    from agents_llm.agents.services import task_update

    task = task_update(task=task, data={"timeout_seconds": 1})
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a", fallback_provider=provider, fallback_model="model-b")
    fake_openai.script("model-a", {"status": 500})
    fake_openai.script("model-b", {"answer": ANSWER, "delay": 3})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.FAILED
    assert [(a["model"], a["error_class"]) for a in stored.attempts] == [
        ("model-a", "ModelServerError"), ("model-b", "RunTimeout"),
    ]
    assert "timeout of 1 s" in stored.error


def test_a_workers_run_is_three_statements_the_claim_the_read_of_the_run_and_the_store(
    agent, task, assignment, offline_config
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    run_now(agent, task)  # fills the caches: the agent, task and chain cost no query
    run = run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)

    with CaptureQueriesContext(connection) as queries:
        executed = run_execute(run_id=run.pk)

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE", "SELECT", "UPDATE"]
    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == executed.status == RunStatus.SUCCEEDED and stored.started_at and stored.finished_at
    assert (executed.agent.name, executed.task.name) == (agent.name, task.name)
