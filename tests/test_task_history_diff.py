"""A task's history shows a schema change as the JSON diff of the schema version page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_llm.agents.services import task_update
from agents_llm.models import TaskConfig

pytestmark = pytest.mark.django_db


def test_a_schema_change_in_the_history_is_a_json_diff(client, superuser, task, simple_schema):
    schema = {**simple_schema, "properties": {**simple_schema["properties"], "reason": {"type": "string"}}}
    task_update(task=task, data={"response_schema": schema}, user=superuser)
    client.force_login(superuser)

    response = client.get(reverse("admin:agents_llm_taskconfig_history", args=[task.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-role="history-diff"' in html
    assert '<tr class="sv-added">' in html
    assert "&quot;reason&quot;: {" in html
    assert "{&#x27;type&#x27;: &#x27;object&#x27;" not in html  # no Python dict text
    assert "Change reason" not in html and ">None<" not in html.replace(" ", "")
    assert TaskConfig.objects.get(pk=task.pk).schema_version == 2
