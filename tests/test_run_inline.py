"""Inline runs (`POST /runs?wait=true`): on the caller's event loop, two statements,
the same events as a worker's run, a lookup cache that sees every change, and 503 with
Retry-After when the server is saturated."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test.utils import CaptureQueriesContext

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs import runner
from tests.api_support import as_editor, assert_error_shape  # noqa: F401 - fixtures
from tests.runtime_support import ANSWER, clean_runtime, compatible_provider, fake_openai, llm_config, published  # noqa: F401

pytestmark = pytest.mark.django_db

RUN = {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}}


def test_an_inline_run_with_everything_cached_is_two_statements_one_insert_and_one_update(as_editor, assignment, offline_config):
    from django.db import connection

    as_editor.call("POST", "/runs?wait=true", RUN)  # fills the caches
    with CaptureQueriesContext(connection) as queries:
        response = as_editor.call("POST", "/runs?wait=true", RUN)

    assert response.status_code == 200, response.content
    # The token, its permissions, the agent, task and chain are cached: no read at all.
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT", "UPDATE"]
    stored = AgentRun.objects.get(pk=response.json()["id"])
    assert stored.status == RunStatus.SUCCEEDED and stored.started_at and stored.finished_at


def test_an_inline_run_announces_queued_started_and_finished(as_editor, assignment, offline_config, published):
    response = as_editor.call("POST", "/runs?wait=true", RUN)

    run_id = response.json()["id"]
    assert [(e[1], e[2], e[3]["status"]) for e in published if e[0] == "runs"] == [
        ("run.queued", run_id, "queued"), ("run.started", run_id, "running"), ("run.finished", run_id, "succeeded"),
    ]


def test_the_answer_is_the_run_as_stored(as_editor, assignment, offline_config):
    body = as_editor.call("POST", "/runs?wait=true", RUN).json()

    assert as_editor.get(f"/runs/{body['id']}").json() == body


def test_a_change_to_the_agent_task_or_assignment_is_seen_by_the_next_inline_run(
    as_editor, agent, task, assignment, offline_config
):
    from agents_llm.agents.services import agent_update, assignment_delete

    assert as_editor.call("POST", "/runs?wait=true", RUN).status_code == 200
    agent_update(agent=agent, data={"enabled": False})
    assert assert_error_shape(as_editor.call("POST", "/runs?wait=true", RUN), 422)["errors"][0]["loc"] == ["body", "agent"]
    agent_update(agent=agent, data={"enabled": True})
    assert as_editor.call("POST", "/runs?wait=true", RUN).status_code == 200
    assignment_delete(assignment=assignment)
    assert assert_error_shape(as_editor.call("POST", "/runs?wait=true", RUN), 422)["errors"][0]["loc"] == ["body", "task"]


def test_a_changed_config_is_used_by_the_next_inline_run(as_editor, agent, task, assignment, fake_openai):
    provider = compatible_provider("fake", fake_openai.base_url)
    config = llm_config(agent, provider, "model-a")
    fake_openai.script("model-a", {"answer": ANSWER})
    fake_openai.script("model-b", {"answer": ANSWER})
    assert as_editor.call("POST", "/runs?wait=true", RUN).json()["model_name"] == "model-a"

    from agents_llm.agents.services import llm_config_update

    llm_config_update(config=config, data={"model_name": "model-b"})

    assert as_editor.call("POST", "/runs?wait=true", RUN).json()["model_name"] == "model-b"


def test_one_vendor_client_serves_runs_on_several_event_loops(as_editor, agent, task, assignment, fake_openai):
    # The test client runs each request on an event loop of its own.
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a")
    fake_openai.script("model-a", {"answer": ANSWER})

    bodies = [as_editor.call("POST", "/runs?wait=true", RUN).json() for _ in range(3)]

    assert [b["status"] for b in bodies] == ["succeeded"] * 3
    assert len(fake_openai.requests_for("model-a")) == 3


async def test_with_every_inline_slot_taken_a_run_waits_then_is_refused(settings, agent, task):
    settings.INLINE_RUNS_MAX = 1
    settings.INLINE_RUNS_WAIT_SECONDS = 0.05
    async with runner._inline_slot():
        with pytest.raises(runner.Saturated) as refused:
            await runner.run_inline(
                agent_ref=agent.name, task_ref=task.name, resolve=lambda: (agent, task), input={"ticker": "NVDA"},
            )

    assert refused.value.retry_after == settings.INLINE_RUNS_RETRY_AFTER_SECONDS


def test_a_saturated_server_answers_503_with_retry_after(as_editor, assignment, offline_config, monkeypatch):
    async def saturated(**kwargs):
        raise runner.Saturated(retry_after=3)

    monkeypatch.setattr(runner, "run_inline", saturated)
    response = as_editor.call("POST", "/runs?wait=true", RUN)

    assert_error_shape(response, 503)
    assert response["Retry-After"] == "3"
    assert not AgentRun.objects.exists()


def test_a_database_without_a_free_connection_is_a_503_not_a_500(as_editor, agent, monkeypatch):
    from agents_llm.agents import selectors

    def no_connection(*args, **kwargs):
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(selectors, "agent_llm_configs", no_connection)
    response = as_editor.get(f"/agents/{agent.pk}/llm-configs")

    assert_error_shape(response, 503)
    assert response["Retry-After"] == "2"


def test_a_task_changed_after_its_target_was_cached_runs_as_it_is_now_and_leaves_one_row(
    as_editor, task, assignment, offline_config
):
    from agents_llm.agents.services import task_update

    assert as_editor.call("POST", "/runs?wait=true", RUN).status_code == 200  # the cached target
    task_update(task=task, data={"prompt_template": "Now {ticker}, briefly."})

    response = as_editor.call("POST", "/runs?wait=true", RUN)

    assert response.status_code == 200, response.content
    assert AgentRun.objects.count() == 2
    assert AgentRun.objects.get(pk=response.json()["id"]).prompt == "Now NVDA, briefly."


@pytest.mark.parametrize("change", ["agent disabled", "task deleted"])
def test_a_target_gone_after_it_was_cached_is_refused_and_leaves_no_row(
    as_editor, agent, task, assignment, offline_config, change
):
    from agents_llm.agents.services import agent_update
    from agents_llm.models import TaskConfig

    assert as_editor.call("POST", "/runs?wait=true", RUN).status_code == 200
    if change == "agent disabled":
        agent_update(agent=agent, data={"enabled": False})
    else:
        TaskConfig.objects.filter(pk=task.pk).delete()

    response = as_editor.call("POST", "/runs?wait=true", RUN)

    assert response.status_code in (404, 422), response.content
    assert AgentRun.objects.count() == (1 if change == "agent disabled" else 0)  # a task's runs go with it
