"""A run through the real OpenAI-compatible HTTP path against a loopback fake server."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agents_llm.models import AgentRun, RunStatus
from tests.conftest import CANARY_KEY
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


def test_a_valid_structured_answer_is_stored_with_the_model_tokens_and_attempt(
    agent, task, assignment, fake_openai, published
):
    provider = compatible_provider("fake", fake_openai.base_url, api_key=CANARY_KEY)
    llm_config(agent, provider, "model-a", temperature=0.2)
    fake_openai.script("model-a", {"answer": ANSWER})

    run = run_now(agent, task, {"ticker": "NVDA"})

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert stored.output == ANSWER
    jsonschema.validate(stored.output, task.response_schema)
    assert (stored.provider, stored.model_name) == (provider, "model-a")
    assert (stored.input_tokens, stored.output_tokens, stored.requests) == (100, 20, 1)
    assert stored.attempts == [{
        "provider": "fake", "model": "model-a", "error_class": "", "message": "answered",
        "input_tokens": 100, "output_tokens": 20,
    }]
    assert stored.error == "" and stored.synthetic is False
    assert stored.latency_ms is not None and stored.finished_at is not None
    assert stored.schema_version == task.schema_version
    # The request carried the prompt, the instructions, the config's temperature and the key.
    [request] = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.authorization == f"Bearer {CANARY_KEY}"
    assert request.body["temperature"] == 0.2
    sent = json.dumps(request.body["messages"])
    assert "Give a signal for NVDA." in sent and "You trade." in sent
    assert request.body["tools"][0]["function"]["parameters"]["properties"]["signal"]["enum"] == ["buy", "hold", "sell"]
    # Events: queued, started, finished; none carries the key.
    assert [(topic, event) for topic, event, _, _ in published] == [
        ("runs", "run.queued"), ("runs", "run.started"), ("runs", "run.finished"),
    ]
    finished = published[-1][3]
    assert finished["status"] == "succeeded" and finished["provider"] == "fake" and finished["model_name"] == "model-a"
    assert CANARY_KEY not in json.dumps([data for _, _, _, data in published])


def test_an_answer_breaking_the_schema_goes_back_to_the_model_as_a_retry(agent, task, assignment, fake_openai):
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a")
    fake_openai.script("model-a", {"answer": {"signal": "maybe", "confidence": 3}}, {"answer": ANSWER})

    run = run_now(agent, task)

    assert run.status == RunStatus.SUCCEEDED and run.output == ANSWER
    assert run.requests == 2 and len(fake_openai.requests) == 2
    retry = json.dumps(fake_openai.requests[1].body["messages"])
    assert "signal" in retry and "confidence" in retry  # the validation errors were sent back
    assert AgentRun.objects.get(pk=run.pk).input_tokens == 200
