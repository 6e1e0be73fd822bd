"""An agent on `offline` answers through the gateway with no network: text, a
schema-valid call when one tool is bound or forced, schema-valid JSON for a format,
and never a call when the model would be choosing between several tools."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agents_llm.models import LLMCall
from tests.gateway_support import caller, gateway, make_agent, streamed, user_message  # noqa: F401
from tests.test_gateway_fallback import SIGNAL
from tests.test_gateway_tools import TOOLS

pytestmark = pytest.mark.django_db


@pytest.fixture
def offline_agent(offline_provider):
    return make_agent("trader", offline_provider, "offline", aliases=["Trader"])


def test_offline_answers_text_marked_synthetic(gateway, offline_agent):
    response = gateway.chat({"model": "Trader", "messages": user_message()})

    assert response.status_code == 200
    assert "offline" in response.json()["choices"][0]["message"]["content"]
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert (call.synthetic, call.cost, call.provider.name) == (True, 0, "offline")
    assert response["x-cost-usd"] == "0"


def test_offline_answers_a_json_schema_format_with_valid_json(gateway, offline_agent):
    response = gateway.chat({"model": "trader", "messages": user_message(),
                             "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SIGNAL}}})

    jsonschema.validate(json.loads(response.json()["choices"][0]["message"]["content"]), SIGNAL)


def test_offline_calls_the_one_bound_tool_with_valid_arguments(gateway, offline_agent):
    tool = TOOLS[0]
    response = gateway.chat({"model": "trader", "messages": user_message(), "tools": [tool]})

    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_stock_data"
    jsonschema.validate(json.loads(call["function"]["arguments"]), tool["function"]["parameters"])


def test_offline_never_picks_one_of_several_tools(gateway, offline_agent):
    response = gateway.chat({"model": "trader", "messages": user_message(), "tools": TOOLS})

    message = response.json()["choices"][0]["message"]
    assert "tool_calls" not in message
    assert message["content"]


def test_offline_calls_the_tool_that_tool_choice_names(gateway, offline_agent):
    choice = {"type": "function", "function": {"name": "get_news"}}
    response = gateway.chat({"model": "trader", "messages": user_message(), "tools": TOOLS, "tool_choice": choice})

    call = response.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_news"
    jsonschema.validate(json.loads(call["function"]["arguments"]), TOOLS[1]["function"]["parameters"])


def test_offline_streams_in_openais_framing(gateway, offline_agent):
    response = gateway.chat({"model": "trader", "messages": user_message(), "stream": True,
                             "stream_options": {"include_usage": True}})

    assert response["Content-Type"] == "text/event-stream"
    frames = streamed(response)
    assert frames[-1] == "[DONE]"
    assert frames[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(f["object"] == "chat.completion.chunk" and f["model"] == "trader" for f in frames[:-1])
    assert frames[-2]["choices"] == [] and frames[-2]["usage"]["prompt_tokens"] > 0
    assert "offline" in "".join(f["choices"][0]["delta"].get("content") or "" for f in frames[:-2])
