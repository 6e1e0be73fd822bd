"""The agent page's run form: it preselects an agent's only task, starts with that task's
placeholders as a JSON template, and names a missing placeholder like the API does."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from agents_llm.agents.services import assignment_create, task_create
from agents_llm.models import AgentRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_placeholder_task(db, simple_schema):
    return task_create(
        name="trade-proposal", description="", prompt_template="Trade {ticker}; plan: {plan}.",
        response_schema=simple_schema,
    )


def _start(agent) -> str:
    return reverse("admin:agents_llm_agentrun_start", args=[agent.pk])


def test_the_only_task_is_preselected_and_its_placeholders_prefilled(client, editor, agent, two_placeholder_task):
    assignment_create(agent=agent, task=two_placeholder_task)
    client.force_login(editor)

    response = client.get(_start(agent))

    form = response.context["form"]
    assert response.status_code == 200
    assert form["task"].value() == two_placeholder_task.pk
    assert json.loads(form["input"].value()) == {"plan": "", "ticker": ""}
    assert "{&quot;plan&quot;: &quot;&quot;" not in response.content.decode()  # pretty, one key a line
    assert "&quot;plan&quot;: &quot;&quot;," in response.content.decode()
    assert f'<option value="{two_placeholder_task.pk}" selected>' in response.content.decode()


def test_with_several_tasks_none_is_preselected_but_each_has_its_template(
    client, editor, agent, task, assignment, two_placeholder_task
):
    assignment_create(agent=agent, task=two_placeholder_task)
    client.force_login(editor)

    response = client.get(_start(agent))

    form = response.context["form"]
    assert form["task"].value() is None
    assert form["input"].value() == ""
    templates = json.loads(response.context["input_templates"][str(two_placeholder_task.pk)])
    assert templates == {"plan": "", "ticker": ""}
    assert 'id="input-templates"' in response.content.decode()
    # ?task= picks one.
    picked = client.get(_start(agent) + f"?task={two_placeholder_task.name}").context["form"]
    assert picked["task"].value() == two_placeholder_task.pk


def test_a_missing_placeholder_is_named_with_the_apis_message(client, editor, agent, two_placeholder_task):
    assignment_create(agent=agent, task=two_placeholder_task)
    client.force_login(editor)

    response = client.post(_start(agent), {"task": two_placeholder_task.pk, "input": '{"ticker": "NVDA"}', "wait": "on"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Missing value for placeholder &#x27;plan&#x27;" in html
    assert "This field is required." not in html
    assert not AgentRun.objects.exists()


def test_an_empty_input_lists_every_missing_placeholder_instead_of_field_required(
    client, editor, agent, two_placeholder_task
):
    assignment_create(agent=agent, task=two_placeholder_task)
    client.force_login(editor)

    response = client.post(_start(agent), {"task": two_placeholder_task.pk, "input": "", "wait": "on"})

    errors = response.context["form"].errors["input"]
    assert errors == ["Missing value for placeholder 'plan', 'ticker' of the task's prompt template."]
    assert not AgentRun.objects.exists()
