"""The chain moves on after vendor failures and after invalid structured output; every
try is kept; when all fail the client gets a 502 in OpenAI's shape, never a 500."""

from __future__ import annotations

import json

import pytest

from agents_llm.models import LLMCall
from tests.conftest import CANARY_KEY
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401
from tests.loopback import refused_port

pytestmark = pytest.mark.django_db

SIGNAL = {
    "type": "object",
    "properties": {
        "ticker": {"type": "string", "pattern": "^[A-Z]{1,5}$"},
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["ticker", "signal", "confidence"],
    "additionalProperties": False,
}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "signal", "schema": SIGNAL, "strict": True}}


@pytest.fixture
def chained(vendor_provider):
    """trader: primary 'vendor-a', its fallback 'vendor-b', then a second config 'vendor-c'."""
    from agents_llm.agents.services import llm_config_create

    agent = make_agent(
        "trader", vendor_provider, "vendor-a", fallback_provider=vendor_provider, fallback_model="vendor-b",
    )
    llm_config_create(agent=agent, provider=vendor_provider, model_name="vendor-c", priority=1)
    return agent


def _call(response) -> LLMCall:
    return LLMCall.objects.get(pk=int(response["x-call-id"]))


@pytest.mark.parametrize("status", [500, 429, 503, 401])
def test_it_falls_back_on_a_vendor_error(gateway, vendor, chained, status):
    vendor.script("vendor-a", {"status": status, "message": "try later"})

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 200
    assert response["x-vendor-model"] == "vendor-b"
    call = _call(response)
    assert call.fell_back is True
    assert [(a["model"], a["error_class"]) for a in call.attempts] == [("vendor-a", f"HTTP{status}"), ("vendor-b", "")]
    assert "try later" in call.attempts[0]["message"]


def test_it_falls_back_on_a_refused_connection(gateway, vendor, db):
    from providers.services import provider_create

    dead = provider_create(
        name="dead", provider_type="openai_compatible", base_url=f"http://127.0.0.1:{refused_port()}/v1", api_key="sk-dead-0000",
    )
    live = provider_create(name="live", provider_type="openai_compatible", base_url=vendor.base_url, api_key="sk-live-0000")
    make_agent("trader", dead, "dead-model", fallback_provider=live, fallback_model="live-model")

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 200
    assert response["x-provider"] == "live"
    attempts = _call(response).attempts
    assert attempts[0]["provider"] == "dead" and attempts[0]["error_class"] == "ConnectError"


def test_it_falls_back_when_the_content_does_not_match_the_json_schema(gateway, vendor, chained):
    vendor.script("vendor-a", {"raw": json.dumps({"ticker": "nvda!", "signal": "buy", "confidence": 0.5})})
    vendor.script("vendor-b", {"raw": "{\"ticker\": \"NVDA\", "})

    response = gateway.chat({"model": "trader", "messages": user_message(), "response_format": JSON_SCHEMA_FORMAT})

    assert response.status_code == 200
    answer = json.loads(response.json()["choices"][0]["message"]["content"])
    assert answer["ticker"].isupper() and answer["signal"] in ("buy", "hold", "sell")
    call = _call(response)
    assert [(a["model"], a["error_class"]) for a in call.attempts] == [
        ("vendor-a", "InvalidOutput"), ("vendor-b", "InvalidOutput"), ("vendor-c", ""),
    ]
    assert "/ticker" in call.attempts[0]["message"]
    assert "not valid JSON" in call.attempts[1]["message"]
    # The vendor billed the invalid answers too: three responses' tokens are counted.
    assert len(vendor.seen()) == 3
    assert call.input_tokens == sum(r.prompt_tokens for r in vendor.seen())


def test_it_falls_back_when_a_tool_calls_arguments_do_not_match_its_parameters(gateway, vendor, chained):
    tools = [{"type": "function", "function": {"name": "place_order", "parameters": SIGNAL}}]
    vendor.script("vendor-a", {"tool": "place_order", "arguments": json.dumps({"ticker": "NVDA", "signal": "moon", "confidence": 2})})

    response = gateway.chat({"model": "trader", "messages": user_message(), "tools": tools})

    assert response.status_code == 200
    call = _call(response)
    assert call.attempts[0]["error_class"] == "InvalidOutput"
    assert "place_order" in call.attempts[0]["message"]
    arguments = json.loads(response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert arguments["signal"] in ("buy", "hold", "sell")


def test_when_every_model_fails_the_client_gets_502_upstream_error(gateway, vendor, chained):
    for model in ("vendor-a", "vendor-b", "vendor-c"):
        vendor.script(model, {"status": 500})

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "All 3 model(s) of agent 'trader' failed" in error["message"]
    call = _call(response)
    assert (call.status, call.error_code, len(call.attempts)) == ("failed", "upstream_error", 3)
    assert call.cost == 0


def test_when_every_answer_is_invalid_the_client_gets_502_invalid_output(gateway, vendor, chained):
    for model in ("vendor-a", "vendor-b", "vendor-c"):
        vendor.script(model, {"raw": "not json"})

    response = gateway.chat({"model": "trader", "messages": user_message(), "response_format": JSON_SCHEMA_FORMAT})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "invalid_output"
    assert _call(response).input_tokens == sum(r.prompt_tokens for r in vendor.seen())


def test_a_vendor_400_is_the_requests_fault_and_goes_back_without_fallback(gateway, vendor, chained):
    vendor.script("vendor-a", {"status": 400, "message": "context length exceeded"})

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 400
    assert "context length exceeded" in response.json()["error"]["message"]
    assert len(vendor.seen()) == 1


def test_a_vendor_error_that_echoes_the_key_never_shows_it(gateway, vendor, chained):
    masked = f"Incorrect API key provided: {CANARY_KEY[:3]}***{CANARY_KEY[-4:]}. Also {CANARY_KEY}"
    for model in ("vendor-a", "vendor-b", "vendor-c"):
        vendor.script(model, {"status": 401, "message": masked})

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 502
    text = response.content.decode()
    assert CANARY_KEY not in text and CANARY_KEY[-4:] not in text
    stored = json.dumps(_call(response).attempts)
    assert CANARY_KEY not in stored and CANARY_KEY[-4:] not in stored
