"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 in the API's error
shape, on every write, and nothing is stored."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, TaskConfig
from tests.api_support import as_superuser, assert_error_shape  # noqa: F401

LIMIT = 10_000


def _big(**fields) -> dict:
    return {**fields, "description": "x" * (LIMIT + 1)}


@pytest.fixture(autouse=True)
def small_limit():
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT):
        yield


def test_it_answers_413_to_an_oversized_agent(as_superuser):
    body = assert_error_shape(as_superuser.post("/agents", _big(name="huge", role="trader")), 413)

    assert "too large" in body["detail"]
    assert body["errors"] == [{"loc": ["body"], "msg": body["errors"][0]["msg"]}]
    assert not AgentConfig.objects.filter(name="huge").exists()


def test_it_answers_413_to_an_oversized_task(as_superuser, simple_schema):
    response = as_superuser.post("/tasks", _big(name="huge", prompt_template="p", response_schema=simple_schema))

    assert_error_shape(response, 413)
    assert not TaskConfig.objects.filter(name="huge").exists()


def test_it_answers_413_to_an_oversized_run(as_superuser, assignment, offline_config):
    response = as_superuser.post("/runs", {"agent": "trader", "task": "trade-signal", "input": {"x": "y" * LIMIT}})

    assert_error_shape(response, 413)
    assert AgentRun.objects.count() == 0


def test_it_answers_413_to_an_oversized_llm_config_upsert(as_superuser, agent, offline_provider):
    body = {"provider": "offline", "model_name": "offline", "metadata_json": {"pad": "x" * LIMIT}}

    assert_error_shape(as_superuser.put(f"/agents/{agent.pk}/llm-config", body), 413)
    assert AgentLLMConfig.objects.count() == 0


def test_it_answers_413_to_an_oversized_schema_validation(as_superuser):
    response = as_superuser.post("/schemas/validate", {"schema": {"type": "object", "description": "x" * LIMIT}})

    assert_error_shape(response, 413)


def test_a_body_just_under_the_limit_is_still_read(as_superuser):
    body = {"name": "fits", "role": "trader", "description": "x" * 100}
    assert len(json.dumps(body)) < LIMIT

    assert as_superuser.post("/agents", body).status_code == 201
