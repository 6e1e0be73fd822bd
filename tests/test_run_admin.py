"""The runs admin: the list and its filters, the run page, the agent page's Run button and "Run again"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_llm.models import AgentRun, RunStatus
from tests.conftest import CANARY_KEY
from tests.runtime_support import clean_runtime, run_now  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished_run(agent, task, assignment, offline_config):
    return run_now(agent, task, {"ticker": "NVDA"})


@pytest.fixture
def failed_run(agent, task, assignment):
    return AgentRun.objects.create(
        agent=agent, task=task, input={"ticker": "AAPL"}, status=RunStatus.FAILED, error="All 1 model(s) failed",
        attempts=[{"provider": "fake", "model": "m", "error_class": "ModelServerError", "message": "status 500"}],
    )


def test_the_list_shows_status_model_tokens_cost_and_latency(client, superuser, finished_run):
    client.force_login(superuser)

    response = client.get(reverse("admin:agents_llm_agentrun_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Succeeded" in html and "offline/offline" in html and "synthetic" in html
    assert f"{finished_run.input_tokens} / {finished_run.output_tokens}" in html
    assert f"{finished_run.latency_ms} ms" in html


@pytest.mark.parametrize("query", ["status__exact=failed", "task__id__exact={task}", "agent__id__exact={agent}"])
def test_the_list_filters(client, superuser, finished_run, failed_run, query):
    client.force_login(superuser)
    query = query.format(task=failed_run.task_id, agent=failed_run.agent_id)

    response = client.get(reverse("admin:agents_llm_agentrun_changelist") + "?" + query)

    assert response.status_code == 200
    shown = {run.pk for run in response.context["cl"].result_list}
    assert failed_run.pk in shown
    if query.startswith("status"):
        assert shown == {failed_run.pk}


def test_the_run_page_shows_input_pretty_output_and_attempts(client, superuser, failed_run, finished_run):
    client.force_login(superuser)

    ok = client.get(reverse("admin:agents_llm_agentrun_change", args=[finished_run.pk])).content.decode()
    failed = client.get(reverse("admin:agents_llm_agentrun_change", args=[failed_run.pk])).content.decode()

    assert "&quot;signal&quot;:" in ok and "<pre" in ok
    assert "ModelServerError" in failed and "status 500" in failed and "AAPL" in failed
    assert CANARY_KEY not in ok + failed


def test_the_agent_page_has_a_run_button_for_those_who_may_start_runs(client, editor, reader, agent):
    url = reverse("admin:agents_llm_agentconfig_change", args=[agent.pk])
    start = reverse("admin:agents_llm_agentrun_start", args=[agent.pk])

    client.force_login(editor)
    assert start in client.get(url).content.decode()
    client.force_login(reader)
    assert start not in client.get(url).content.decode()
    assert client.get(start).status_code == 403


def test_the_run_form_runs_the_agent_and_opens_the_run(client, editor, agent, task, assignment, offline_config):
    client.force_login(editor)

    response = client.post(
        reverse("admin:agents_llm_agentrun_start", args=[agent.pk]),
        {"task": task.pk, "input": '{"ticker": "NVDA"}', "wait": "on"},
    )

    run = AgentRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:agents_llm_agentrun_change", args=[run.pk])
    assert run.status == RunStatus.SUCCEEDED and run.created_by == editor and run.synthetic


def test_the_run_form_names_a_missing_placeholder_and_stores_nothing(client, editor, agent, task, assignment):
    client.force_login(editor)

    response = client.post(
        reverse("admin:agents_llm_agentrun_start", args=[agent.pk]),
        {"task": task.pk, "input": '{"symbol": "NVDA"}', "wait": "on"},
    )

    assert response.status_code == 200
    assert "ticker" in str(response.context["form"].errors["input"])
    assert not AgentRun.objects.exists()


def test_run_again_queues_a_new_run_with_the_same_input(
    client, editor, failed_run, offline_config, django_capture_on_commit_callbacks, monkeypatch
):
    from agents_llm.runs import actors

    sent: list[int] = []
    monkeypatch.setattr(actors.execute_run, "send", lambda run_id: sent.append(run_id))
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:agents_llm_agentrun_changelist"),
            {"action": "run_again", "_selected_action": [failed_run.pk]},
        )

    assert response.status_code == 302
    new = AgentRun.objects.exclude(pk=failed_run.pk).get()
    assert new.status == RunStatus.QUEUED and new.input == {"ticker": "AAPL"}
    assert sent == [new.pk]
