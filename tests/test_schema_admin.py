"""The task admin: the schema builder form, schema versions, their diff and restore."""

from __future__ import annotations

import copy
import json

import pytest
from django.test import Client
from django.urls import reverse

from agents_llm.agents.services import task_update
from agents_llm.models import TaskConfig, TaskSchemaVersion

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(task: TaskConfig) -> str:
    return reverse("admin:agents_llm_taskconfig_change", args=[task.pk])


def form_data(task: TaskConfig, schema_text: str) -> dict[str, str]:
    return {
        "name": task.name,
        "description": task.description,
        "prompt_template": task.prompt_template,
        "response_schema": schema_text,
        "output_retries": str(task.output_retries),
        "timeout_seconds": str(task.timeout_seconds),
        "enabled": "on",
        "schema_versions-TOTAL_FORMS": str(task.schema_versions.count()),
        "schema_versions-INITIAL_FORMS": str(task.schema_versions.count()),
        "schema_versions-MIN_NUM_FORMS": "0",
        "schema_versions-MAX_NUM_FORMS": "1000",
        **{f"schema_versions-{i}-id": str(v.pk) for i, v in enumerate(task.schema_versions.order_by("-number"))},
        **{f"schema_versions-{i}-task": str(task.pk) for i in range(task.schema_versions.count())},
    }


def embedded_errors(html: str) -> list[dict]:
    marker = 'id="id_response_schema_schema_errors" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start:html.index("</script>", start)])


def test_the_task_form_renders_the_schema_builder_with_the_stored_schema(editor, task):
    response = logged_in(editor).get(change_url(task))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="schema-builder"' in html
    assert "schema_builder/builder.js" in html and "schema_builder/model.js" in html
    assert 'data-validate-url="/api/v1/schemas/validate"' in html
    field = response.context["adminform"].form["response_schema"]
    assert json.loads(field.value() if isinstance(field.value(), str) else json.dumps(field.value())) == task.response_schema


def test_saving_a_changed_schema_creates_a_new_version(editor, task):
    schema = copy.deepcopy(task.response_schema)
    schema["properties"]["confidence"]["maximum"] = 100

    response = logged_in(editor).post(change_url(task), form_data(task, json.dumps(schema)))

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.response_schema == schema
    assert task.schema_version == 2
    latest = task.schema_versions.get(number=2)
    assert latest.schema == schema
    assert latest.created_by == editor


def test_saving_an_unchanged_schema_keeps_the_version(editor, task):
    response = logged_in(editor).post(change_url(task), form_data(task, json.dumps(task.response_schema)))

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.schema_version == 1
    assert task.schema_versions.count() == 1


def test_an_invalid_schema_is_not_saved_and_each_error_carries_its_path(editor, task):
    schema = copy.deepcopy(task.response_schema)
    schema["properties"]["confidence"]["minimum"] = 5

    response = logged_in(editor).post(change_url(task), form_data(task, json.dumps(schema)))

    assert response.status_code == 200
    html = response.content.decode()
    assert "/properties/confidence/maximum: maximum (1) must be at least minimum (5)" in html
    assert embedded_errors(html) == [
        {"path": "/properties/confidence/maximum", "msg": "maximum (1) must be at least minimum (5); no number can satisfy both."}
    ]
    task.refresh_from_db()
    assert task.response_schema["properties"]["confidence"]["minimum"] == 0
    assert task.schema_version == 1
    assert TaskSchemaVersion.objects.filter(task=task).count() == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{not json", id="malformed"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deeply-nested"),
        pytest.param('"just a string"', id="not-an-object"),
    ],
)
def test_unusable_schema_text_is_a_form_error_and_shown_back(editor, task, text):
    response = logged_in(editor).post(change_url(task), form_data(task, text))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["response_schema"]
    task.refresh_from_db()
    assert task.schema_version == 1


def test_creating_a_task_in_the_admin_creates_version_one(editor, simple_schema):
    data = {
        "name": "new-task",
        "description": "",
        "prompt_template": "Say {x}.",
        "response_schema": json.dumps(simple_schema),
        "output_retries": "2",
        "timeout_seconds": "60",
        "enabled": "on",
        "schema_versions-TOTAL_FORMS": "0",
        "schema_versions-INITIAL_FORMS": "0",
    }

    response = logged_in(editor).post(reverse("admin:agents_llm_taskconfig_add"), data)

    assert response.status_code == 302
    task = TaskConfig.objects.get(name="new-task")
    assert task.response_schema == simple_schema
    assert list(task.schema_versions.values_list("number", "created_by")) == [(1, editor.pk)]


@pytest.fixture
def task_with_history(task, editor):
    schema = copy.deepcopy(task.response_schema)
    schema["properties"]["confidence"]["maximum"] = 100
    task_update(task=task, data={"response_schema": schema}, user=editor)
    return TaskConfig.objects.get(pk=task.pk)


def version_url(task: TaskConfig, number: int) -> str:
    return reverse("admin:agents_llm_taskconfig_schema_version", args=[task.pk, number])


def restore_url(task: TaskConfig, number: int) -> str:
    return reverse("admin:agents_llm_taskconfig_schema_restore", args=[task.pk, number])


def test_the_version_page_shows_the_diff_with_the_previous_version(reader, task_with_history):
    response = logged_in(reader).get(version_url(task_with_history, 2))

    assert response.status_code == 200
    diff = [(line.kind, line.text.strip()) for line in response.context["diff"]]
    assert ("removed", '"maximum": 1,') in diff
    assert ("added", '"maximum": 100,') in diff
    assert 'class="sv-added"' in response.content.decode()
    assert not response.context["can_restore"]  # a reader may look, not restore


def test_the_task_page_links_every_version_to_its_diff(editor, task_with_history):
    html = logged_in(editor).get(change_url(task_with_history)).content.decode()

    assert version_url(task_with_history, 1) in html
    assert version_url(task_with_history, 2) in html


def test_restoring_an_old_version_saves_it_as_a_new_version(editor, task_with_history):
    original = task_with_history.schema_versions.get(number=1).schema

    response = logged_in(editor).post(restore_url(task_with_history, 1))

    assert response.status_code == 302
    assert response["Location"] == change_url(task_with_history)
    task_with_history.refresh_from_db()
    assert task_with_history.schema_version == 3
    assert task_with_history.response_schema == original
    assert task_with_history.schema_versions.get(number=3).note == "restored from v1"
    assert task_with_history.schema_versions.count() == 3


def test_a_reader_cannot_restore(reader, task_with_history):
    response = logged_in(reader).post(restore_url(task_with_history, 1))

    assert response.status_code == 403
    task_with_history.refresh_from_db()
    assert task_with_history.schema_version == 2


def test_restore_needs_a_post(editor, task_with_history):
    response = logged_in(editor).get(restore_url(task_with_history, 1))

    assert response.status_code == 405
    task_with_history.refresh_from_db()
    assert task_with_history.schema_version == 2


def test_an_unknown_version_is_a_404(editor, task_with_history):
    assert logged_in(editor).get(version_url(task_with_history, 9)).status_code == 404
    assert logged_in(editor).post(restore_url(task_with_history, 9)).status_code == 404


def test_the_version_admin_shows_the_schema_read_only(editor, task_with_history):
    version = task_with_history.schema_versions.get(number=2)

    response = logged_in(editor).get(reverse("admin:agents_llm_taskschemaversion_change", args=[version.pk]))

    assert response.status_code == 200
    assert "&quot;maximum&quot;: 100" in response.content.decode()
