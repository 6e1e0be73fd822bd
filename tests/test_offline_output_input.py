"""Offline (synthetic) answers take values from the run's input where a property of the
output schema has the same name as an input key, as long as the answer stays valid."""

from __future__ import annotations

import pytest

from agents_llm.agents.services import assignment_create, task_create
from agents_llm.models import AgentRun, RunStatus
from agents_llm.output_schema import compile_output_type
from agents_llm.runs.registry import offline_answer
from tests.runtime_support import clean_runtime, run_now  # noqa: F401

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {
        "ticker": {"type": "string", "maxLength": 8},
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "size": {"type": "integer", "minimum": 1},
    },
    "required": ["ticker", "signal", "size"],
    "additionalProperties": False,
}


@pytest.fixture
def proposal_task(agent, offline_config):
    task = task_create(name="trade-proposal", description="", prompt_template="Trade {ticker} ({signal}).",
                       response_schema=SCHEMA)
    assignment_create(agent=agent, task=task)
    return task


def test_an_offline_run_answers_with_the_ticker_it_was_asked_about(agent, proposal_task):
    run = run_now(agent, proposal_task, {"ticker": "NVDA", "signal": "sell"})

    assert run.status == RunStatus.SUCCEEDED and run.synthetic
    assert run.output["ticker"] == "NVDA"
    assert run.output["signal"] == "sell"
    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.output["ticker"] == "NVDA" and stored.output["signal"] == "sell"


def test_each_run_of_the_same_cached_agent_follows_its_own_input(agent, proposal_task):
    first = run_now(agent, proposal_task, {"ticker": "NVDA", "signal": "buy"})
    second = run_now(agent, proposal_task, {"ticker": "AAPL", "signal": "hold"})

    assert (first.output["ticker"], first.output["signal"]) == ("NVDA", "buy")
    assert (second.output["ticker"], second.output["signal"]) == ("AAPL", "hold")


def test_input_values_that_would_break_the_schema_are_not_copied():
    compiled = compile_output_type(SCHEMA)
    example = compiled.example(seed=0)

    answer = offline_answer(compiled, example, {"ticker": "A-VERY-LONG-NAME", "signal": "maybe", "size": 3, "plan": "x"})

    assert answer["ticker"] == example["ticker"]
    assert answer["signal"] == example["signal"]
    assert answer["size"] == 3
    assert "plan" not in answer
    assert compiled.validate(answer) == []
