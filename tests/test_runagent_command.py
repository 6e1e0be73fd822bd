"""`manage.py runagent` on a freshly seeded database with no vendor keys."""

from __future__ import annotations

import io
import json

import jsonschema
import pytest
from django.core.management import CommandError, call_command

from agents_llm.models import AgentRun, TaskConfig
from providers.catalog import TYPES
from tests.runtime_support import clean_runtime  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(monkeypatch):
    for info in TYPES.values():
        if info.env_var:
            monkeypatch.delenv(info.env_var, raising=False)
    call_command("seed", stdout=io.StringIO())


def _runagent(*args: str) -> str:
    out = io.StringIO()
    call_command("runagent", *args, stdout=out)
    return out.getvalue()


def test_it_prints_schema_valid_output_the_model_tokens_and_cost(seeded):
    text = _runagent("trader", "trade-proposal", "--input", '{"ticker": "NVDA", "plan": "buy the dip"}')

    body, _, summary = text.partition("\nrun: ")
    output = json.loads(body)
    jsonschema.validate(output, TaskConfig.objects.get(name="trade-proposal").response_schema)
    assert "model: offline/offline (synthetic output from the offline provider)" in summary
    assert "tokens: " in summary and " in, " in summary
    assert "cost: $0 (Offline provider: synthetic output, no cost.)" in summary
    run = AgentRun.objects.get()
    assert run.status == "succeeded" and run.output == output and run.input["ticker"] == "NVDA"


def test_a_missing_placeholder_names_it_and_stores_nothing(seeded):
    with pytest.raises(CommandError, match="'plan'"):
        _runagent("trader", "trade-proposal", "--input", '{"ticker": "NVDA"}')

    assert not AgentRun.objects.exists()


def test_bad_json_input_is_refused(seeded):
    with pytest.raises(CommandError, match="--input is not valid JSON"):
        _runagent("trader", "trade-proposal", "--input", "{ticker: NVDA}")


def test_an_unknown_agent_is_named(seeded):
    with pytest.raises(CommandError, match="No agent named 'nobody'"):
        _runagent("nobody", "trade-proposal")
