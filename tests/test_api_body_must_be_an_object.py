"""Every request body of the API is a JSON object: `null`, a list or a bare value is
refused with 422 (a PATCH with `[]` used to change nothing and answer 200)."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig
from tests.api_support import BASE, as_editor, assert_error_shape  # noqa: F401


@pytest.mark.parametrize("body", ["[]", "null", '"trader"', "1", "[{\"display_name\": \"X\"}]"])
def test_a_patch_whose_body_is_not_an_object_is_refused(as_editor, agent, body):
    before = AgentConfig.objects.values().get(pk=agent.pk)

    response = as_editor.client.patch(
        f"{BASE}/agents/{agent.pk}", data=body, content_type="application/json", headers=as_editor.headers
    )

    payload = assert_error_shape(response, 422)
    assert payload["errors"] == [{"loc": ["body"], "msg": "The body must be a JSON object."}]
    assert AgentConfig.objects.values().get(pk=agent.pk) == before


def test_a_post_whose_body_is_a_list_is_refused(as_editor):
    response = as_editor.client.post(
        f"{BASE}/agents", data='[{"name": "x", "role": "trader"}]', content_type="application/json",
        headers=as_editor.headers,
    )

    assert_error_shape(response, 422)
    assert not AgentConfig.objects.filter(name="x").exists()
