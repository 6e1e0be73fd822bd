"""/api/v1/tasks and their schema versions; /api/v1/assignments."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentTaskAssignment, TaskConfig, TaskSchemaVersion
from tests.api_support import anonymous, as_editor, as_outsider, as_reader, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def _task_body(name: str, schema: dict) -> dict:
    return {"name": name, "prompt_template": "Rate {ticker}.", "response_schema": schema}


def test_it_creates_a_task_with_its_first_schema_version(as_editor, simple_schema):
    response = as_editor.post("/tasks", _task_body("rate", simple_schema))

    task = TaskConfig.objects.get(name="rate")
    assert response.status_code == 201 and response.json()["schema_version"] == 1
    assert task.response_schema == simple_schema
    assert list(task.schema_versions.values_list("number", flat=True)) == [1]


def test_an_invalid_schema_is_a_422_pointing_into_the_schema(as_editor):
    body = assert_error_shape(as_editor.post("/tasks", _task_body("bad", {"type": "array"})), 422)
    assert body["errors"][0]["loc"][:2] == ["body", "response_schema"]
    assert not TaskConfig.objects.exists()


def test_it_lists_reads_and_filters_tasks(as_reader, task):
    listed = as_reader.get("/tasks", q="trade").json()
    assert listed["count"] == 1 and listed["items"][0]["name"] == "trade-signal"
    assert as_reader.get(f"/tasks/{task.pk}").json()["prompt_template"] == "Give a signal for {ticker}."


def test_a_changed_schema_becomes_a_new_version_with_its_note(as_editor, task, simple_schema, editor):
    schema = {**simple_schema, "properties": {**simple_schema["properties"], "reason": {"type": "string"}}}

    response = as_editor.patch(f"/tasks/{task.pk}", {"response_schema": schema, "note": "add reason"})

    versions = as_editor.get(f"/tasks/{task.pk}/schema-versions").json()
    assert response.status_code == 200 and response.json()["schema_version"] == 2
    assert [(v["number"], v["note"], v["created_by"]) for v in versions] == [(2, "add reason", "editor"), (1, "", None)]
    assert versions[0]["response_schema"] == schema
    assert TaskSchemaVersion.objects.filter(task=task).count() == 2


def test_a_change_without_a_new_schema_keeps_the_version(as_editor, task):
    response = as_editor.patch(f"/tasks/{task.pk}", {"description": "New words."})

    task.refresh_from_db()
    assert response.json()["schema_version"] == 1 and task.description == "New words."


def test_it_deletes_a_task(as_editor, task):
    assert as_editor.delete(f"/tasks/{task.pk}").status_code == 204
    assert not TaskConfig.objects.filter(pk=task.pk).exists()


def test_it_assigns_an_agent_to_a_task_by_name(as_editor, agent, task):
    response = as_editor.post("/assignments", {"agent": "trader", "task": "trade-signal"})

    assert response.status_code == 201
    assert response.json()["agent"] == "trader" and response.json()["task"] == "trade-signal"
    assert AgentTaskAssignment.objects.filter(agent=agent, task=task).exists()


def test_assigning_twice_is_a_409(as_editor, assignment):
    body = assert_error_shape(as_editor.post("/assignments", {"agent": "trader", "task": "trade-signal"}), 409)
    assert body["errors"][0]["loc"] == ["body", "task"]
    assert AgentTaskAssignment.objects.count() == 1


def test_assigning_an_unknown_task_is_a_422_naming_the_field(as_editor, agent):
    body = assert_error_shape(as_editor.post("/assignments", {"agent": agent.pk, "task": "ghost"}), 422)
    assert body["errors"] == [{"loc": ["body", "task"], "msg": "No task with id or name 'ghost'."}]


def test_it_lists_filters_reads_and_deletes_assignments(as_editor, assignment):
    listed = as_editor.get("/assignments", agent="trader").json()
    assert [a["id"] for a in listed["items"]] == [assignment.pk]
    assert as_editor.get(f"/assignments/{assignment.pk}").json()["task"] == "trade-signal"
    assert as_editor.delete(f"/assignments/{assignment.pk}").status_code == 204
    assert not AgentTaskAssignment.objects.exists()


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("as_superuser", 200, 201),
        ("as_editor", 200, 201),
        ("as_reader", 200, 403),
        ("as_outsider", 401, 401),
        ("anonymous", 401, 401),
    ],
)
def test_permission_matrix(request, who, read, write, task, agent, simple_schema):
    client = request.getfixturevalue(who)
    ok_or = lambda code: code if write != 201 else None  # noqa: E731

    assert client.get("/tasks").status_code == read
    assert client.get(f"/tasks/{task.pk}").status_code == read
    assert client.get(f"/tasks/{task.pk}/schema-versions").status_code == read
    assert client.get("/assignments").status_code == read
    assert client.post("/tasks", _task_body("new-task", simple_schema)).status_code == write
    assert client.post("/assignments", {"agent": "trader", "task": "trade-signal"}).status_code == write
    assert client.patch(f"/tasks/{task.pk}", {"description": "x"}).status_code == (ok_or(write) or 200)
    assert client.delete(f"/tasks/{task.pk}").status_code == (ok_or(write) or 204)
    assert TaskConfig.objects.filter(name="new-task").exists() == (write == 201)
    assert TaskConfig.objects.filter(pk=task.pk).exists() == (write != 201)
