"""The fallback chain: primary model → its fallback model → next config → its fallback."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentRun, RunStatus
from tests.loopback import refused_port
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


def _errors(run: AgentRun) -> list[tuple[str, str, str]]:
    return [(a["provider"], a["model"], a["error_class"]) for a in run.attempts]


def test_a_server_error_moves_on_to_the_configs_fallback_model(agent, task, assignment, fake_openai):
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a", fallback_provider=provider, fallback_model="model-b")
    fake_openai.script("model-a", {"status": 500})
    fake_openai.script("model-b", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED and stored.output == ANSWER
    assert stored.model_name == "model-b"
    assert _errors(stored) == [("fake", "model-a", "ModelServerError"), ("fake", "model-b", "")]
    assert "500" in stored.attempts[0]["message"]
    # One request each: the SDK's own retries are off.
    assert len(fake_openai.requests_for("model-a")) == 1


def test_a_refused_connection_moves_on_to_the_next_config(agent, task, assignment, fake_openai):
    dead = compatible_provider("dead", f"http://127.0.0.1:{refused_port()}/v1")
    alive = compatible_provider("alive", fake_openai.base_url)
    llm_config(agent, dead, "model-a", priority=0)
    llm_config(agent, alive, "model-c", priority=1)
    fake_openai.script("model-c", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED
    assert (stored.provider, stored.model_name) == (alive, "model-c")
    assert _errors(stored) == [("dead", "model-a", "ModelConnectionError"), ("alive", "model-c", "")]


def test_invalid_output_after_every_retry_moves_on_to_the_fallback(agent, task, assignment, fake_openai):
    assert task.output_retries == 2
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a", fallback_provider=provider, fallback_model="model-b")
    fake_openai.script("model-a", {"raw": "{not json"})
    fake_openai.script("model-b", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.SUCCEEDED and stored.model_name == "model-b"
    assert len(fake_openai.requests_for("model-a")) == 3  # the answer and two retries
    assert _errors(stored) == [("fake", "model-a", "UnexpectedModelBehavior"), ("fake", "model-b", "")]
    # The tokens of the failed tries are real spending and are counted.
    assert stored.attempts[0]["input_tokens"] == 300
    assert (stored.input_tokens, stored.requests) == (400, 4)


def test_the_chain_follows_priority_with_each_configs_fallback(agent, task, assignment, fake_openai):
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "late", priority=5, fallback_provider=provider, fallback_model="late-fb")
    llm_config(agent, provider, "first", priority=1, fallback_provider=provider, fallback_model="first-fb")
    llm_config(agent, provider, "off", priority=0, enabled=False)
    for model in ("first", "first-fb", "late"):
        fake_openai.script(model, {"status": 503})
    fake_openai.script("late-fb", {"answer": ANSWER})

    run = run_now(agent, task)

    assert run.status == RunStatus.SUCCEEDED and run.model_name == "late-fb"
    assert [a["model"] for a in run.attempts] == ["first", "first-fb", "late", "late-fb"]
    assert not fake_openai.requests_for("off")


def test_when_every_model_fails_the_run_fails_with_every_attempt_and_no_output(
    agent, task, assignment, fake_openai, published
):
    dead = compatible_provider("dead", f"http://127.0.0.1:{refused_port()}/v1")
    provider = compatible_provider("fake", fake_openai.base_url)
    llm_config(agent, provider, "model-a", priority=0, fallback_provider=dead, fallback_model="model-x")
    llm_config(agent, provider, "model-b", priority=1)
    fake_openai.script("model-a", {"status": 500})
    fake_openai.script("model-b", {"raw": "[]"})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.FAILED
    assert _errors(stored) == [
        ("fake", "model-a", "ModelServerError"),
        ("dead", "model-x", "ModelConnectionError"),
        ("fake", "model-b", "UnexpectedModelBehavior"),
    ]
    assert stored.output is None and stored.provider is None and stored.model_name == ""
    assert stored.error.startswith("All 3 model(s) failed")
    assert stored.finished_at is not None
    assert published[-1][1] == "run.finished" and published[-1][3]["status"] == "failed"


def test_a_disabled_provider_is_skipped_and_listed(agent, task, assignment, fake_openai):
    from providers.services import provider_update

    off = compatible_provider("off", fake_openai.base_url)
    provider_update(provider=off, data={"enabled": False})
    on = compatible_provider("on", fake_openai.base_url)
    llm_config(agent, off, "model-a", priority=0)
    llm_config(agent, on, "model-b", priority=1)
    fake_openai.script("model-b", {"answer": ANSWER})

    run = run_now(agent, task)

    assert run.status == RunStatus.SUCCEEDED and run.model_name == "model-b"
    assert _errors(run) == [("off", "model-a", "ProviderDisabled"), ("on", "model-b", "")]
    assert not fake_openai.requests_for("model-a")
