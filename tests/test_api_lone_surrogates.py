"""Text with a lone UTF-16 surrogate (a raw JSON escape like "\\udfff") cannot be stored
as UTF-8: it is refused with 422 naming the field, and nothing is stored."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig, AgentRun
from tests.api_support import BASE, as_superuser, assert_error_shape  # noqa: F401


def post_raw(client, path: str, body: str):
    return client.client.post(BASE + path, data=body.encode(), content_type="application/json", headers=client.headers)


def test_it_refuses_a_lone_surrogate_in_run_input_naming_the_field(as_superuser, assignment, offline_config):
    body = '{"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA", "x": "a\\udfffb"}}'

    payload = assert_error_shape(post_raw(as_superuser, "/runs?wait=true", body), 422)

    assert payload["errors"][0]["loc"] == ["body", "input", "x"]
    assert "surrogate" in payload["errors"][0]["msg"]
    assert AgentRun.objects.count() == 0


def test_it_refuses_a_lone_surrogate_in_a_key(as_superuser, assignment, offline_config):
    body = '{"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA", "\\ud800": "x"}}'

    payload = assert_error_shape(post_raw(as_superuser, "/runs", body), 422)

    assert payload["errors"][0]["loc"] == ["body", "input"]
    assert "surrogate" in payload["errors"][0]["msg"]
    assert AgentRun.objects.count() == 0


@pytest.mark.parametrize("escape", ["\\udfff", "\\ud83d", "x\\ud83dy"])
def test_it_refuses_a_lone_surrogate_in_an_agent_field(as_superuser, escape):
    body = f'{{"name": "surrogate", "role": "trader", "description": "{escape}"}}'

    payload = assert_error_shape(post_raw(as_superuser, "/agents", body), 422)

    assert payload["errors"][0]["loc"] == ["body", "description"]
    assert "surrogate" in payload["errors"][0]["msg"]
    assert not AgentConfig.objects.filter(name="surrogate").exists()


def test_a_proper_surrogate_pair_is_an_ordinary_character(as_superuser):
    body = '{"name": "emoji", "role": "trader", "description": "up \\ud83d\\ude80"}'

    response = post_raw(as_superuser, "/agents", body)

    assert response.status_code == 201, response.content
    assert AgentConfig.objects.get(name="emoji").description == "up \U0001f680"
