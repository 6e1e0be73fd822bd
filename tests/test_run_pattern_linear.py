"""A schema `pattern` cannot tie up a worker: answers are checked with RE2 (linear
time), patterns RE2 cannot run are refused when saved, and the task's timeout also
cuts a long check of an answer short."""

from __future__ import annotations

import time

import pytest

from agents_llm import output_schema
from agents_llm.agents.services import assignment_create, task_create
from agents_llm.models import AgentRun, RunStatus, TaskConfig
from tests.api_support import as_editor, assert_error_shape  # noqa: F401
from tests.runtime_support import clean_runtime, compatible_provider, fake_openai, llm_config, run_now  # noqa: F401

pytestmark = pytest.mark.django_db

EVIL = {"type": "string", "pattern": "^(x+)+y$", "minLength": 28, "maxLength": 28}


def _task(name: str, timeout_seconds: int, **properties) -> TaskConfig:
    schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return task_create(name=name, prompt_template="Answer for {ticker}.", response_schema=schema,
                       timeout_seconds=timeout_seconds, output_retries=0)


def test_an_answer_against_a_backtracking_pattern_is_refused_at_once_not_after_the_timeout(agent, fake_openai):
    task = _task("evil", 5, code=EVIL)
    assignment_create(agent=agent, task=task)
    llm_config(agent, compatible_provider("fake", fake_openai.base_url), "model-a")
    fake_openai.script("model-a", {"answer": {"code": "x" * 28}})

    started = time.monotonic()
    run = run_now(agent, task)
    took = time.monotonic() - started

    stored = AgentRun.objects.get(pk=run.pk)
    assert took < 3, took
    assert stored.status == RunStatus.FAILED
    assert "RunTimeout" not in {a["error_class"] for a in stored.attempts}
    assert stored.attempts[0]["error_class"] == "UnexpectedModelBehavior"  # the answer did not match


@pytest.mark.parametrize("pattern", ["^(?=.*x)x+$", "^(a)\\1$", "(?<!a)b"])
def test_a_pattern_re2_cannot_run_is_refused_when_the_task_is_saved(as_editor, pattern):
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}}

    response = as_editor.post("/tasks", {"name": "lookaround", "prompt_template": "p", "response_schema": schema})

    body = assert_error_shape(response, 422)
    assert body["errors"][0]["loc"] == ["body", "response_schema", "properties", "code", "pattern"]
    assert "linear time" in body["errors"][0]["msg"]
    assert not TaskConfig.objects.filter(name="lookaround").exists()


def test_json_schema_unicode_escapes_in_patterns_work(as_editor):
    compiled = output_schema.compile_output_type(
        {"type": "object", "properties": {"word": {"type": "string", "pattern": "^caf\\u00e9$"}}}
    )

    assert compiled.validate({"word": "café"}) == []
    assert compiled.validate({"word": "cafe"}) != []


def test_the_task_timeout_stops_a_slow_check_of_the_answer(agent, fake_openai, monkeypatch):
    task = _task("slow-check", 1, **{f"f{i}": {"type": "string", "pattern": "^x$"} for i in range(20)})
    assignment_create(agent=agent, task=task)
    llm_config(agent, compatible_provider("fake", fake_openai.base_url), "model-a")
    fake_openai.script("model-a", {"answer": {f"f{i}": "slow" for i in range(20)}})

    class Slow:  # each match of the answer takes 0.3 s: 6 s in all, far past the 1 s timeout
        def search(self, text: str) -> bool:
            if text == "slow":
                time.sleep(0.3)
            return True

    monkeypatch.setattr(output_schema.validation, "linear_regex", lambda pattern: Slow())
    started = time.monotonic()
    run = run_now(agent, task)
    took = time.monotonic() - started

    stored = AgentRun.objects.get(pk=run.pk)
    assert took < 2.5, took
    assert stored.status == RunStatus.FAILED
    assert "timeout" in stored.error.lower()
