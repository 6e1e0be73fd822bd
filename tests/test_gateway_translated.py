"""Vendors that do not speak OpenAI's protocol are reached through PydanticAI's model
classes; the client still sees OpenAI's shapes, and the cost follows the full usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import jsonschema
import pytest
from genai_prices import Usage, calc_price

from agents_llm.models import LLMCall
from tests.conftest import CANARY_KEY
from tests.fake_anthropic import FakeAnthropic
from tests.gateway_support import caller, gateway, make_agent, user_message  # noqa: F401
from tests.test_gateway_fallback import SIGNAL
from tests.test_gateway_tools import TOOLS

pytestmark = pytest.mark.django_db


@pytest.fixture
def anthropic(monkeypatch) -> Iterator[FakeAnthropic]:
    from pydantic_ai import models

    # The loopback server is the only vendor these tests reach.
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture
def analyst(anthropic, db):
    from providers.services import provider_create

    provider = provider_create(name="anthropic", provider_type="anthropic", base_url=anthropic.base_url, api_key=CANARY_KEY)
    return make_agent("news_analyst", provider, "claude-sonnet-4-5", aliases=["News Analyst"])


def test_a_text_answer_comes_back_in_openais_shape(gateway, anthropic, analyst):
    response = gateway.chat({"model": "News Analyst", "messages": user_message(), "temperature": 0.1})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "News Analyst"
    assert body["choices"][0]["message"]["content"] == "An answer from the fake Anthropic."
    assert body["choices"][0]["finish_reason"] == "stop"
    sent = anthropic.requests[0]
    assert CANARY_KEY in (sent["headers"].get("x-api-key") or sent["headers"].get("authorization", ""))
    assert sent["body"]["system"] and sent["body"]["model"] == "claude-sonnet-4-5"
    assert response["x-vendor-model"] == "claude-sonnet-4-5"


def test_a_tool_call_is_translated_both_ways(gateway, anthropic, analyst):
    response = gateway.chat({"model": "news_analyst", "messages": user_message(), "tools": [TOOLS[0]]})

    message = response.json()["choices"][0]["message"]
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "get_stock_data" and call["type"] == "function"
    jsonschema.validate(json.loads(call["function"]["arguments"]), TOOLS[0]["function"]["parameters"])
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert anthropic.requests[0]["body"]["tools"][0]["name"] == "get_stock_data"


def test_a_json_schema_format_comes_back_as_valid_json_content(gateway, anthropic, analyst):
    response = gateway.chat({"model": "news_analyst", "messages": user_message(),
                             "response_format": {"type": "json_schema", "json_schema": {"name": "signal", "schema": SIGNAL}}})

    assert response.status_code == 200, response.content
    jsonschema.validate(json.loads(response.json()["choices"][0]["message"]["content"]), SIGNAL)


def test_the_cost_is_the_catalogs_price_of_the_full_usage_with_cache_tokens(gateway, anthropic, analyst):
    anthropic.cache_read, anthropic.cache_write = 8000, 1000

    response = gateway.chat({"model": "news_analyst", "messages": user_message()})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    fresh = anthropic.requests[0]["size"]
    assert (call.cache_read_tokens, call.cache_write_tokens) == (8000, 1000)
    assert call.input_tokens == -(-fresh // 4) + 9000
    expected = calc_price(
        Usage(input_tokens=call.input_tokens, cache_read_tokens=8000, cache_write_tokens=1000, output_tokens=call.output_tokens),
        "claude-sonnet-4-5", provider_id="anthropic",
    ).total_price
    assert call.cost == Decimal(str(expected)).quantize(Decimal("0.00000001"))
