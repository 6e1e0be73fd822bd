"""The agent's config decides model and sampling; the client fills what it leaves empty;
messages are forwarded as sent."""

from __future__ import annotations

import pytest

from tests.gateway_support import caller, gateway, make_agent, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db

CONVERSATION = [
    {"role": "system", "content": "You are the trader."},
    {"role": "user", "content": [{"type": "text", "text": "Plan for NVDA?"}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_price", "arguments": "{\"ticker\": \"NVDA\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "181.2"},
    {"role": "user", "content": "And now?"},
]


def test_config_sampling_overrides_the_clients(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader", temperature=0.2, max_tokens=300, top_p=0.5)

    response = gateway.chat({
        "model": "trader", "messages": CONVERSATION, "temperature": 1.5, "max_tokens": 999, "top_p": 0.9, "seed": 7,
    })

    assert response.status_code == 200
    sent = vendor.seen()[0].body
    assert (sent["model"], sent["temperature"], sent["max_tokens"], sent["top_p"]) == ("vendor-trader", 0.2, 300, 0.5)
    assert sent["seed"] == 7
    assert sent["messages"] == CONVERSATION


def test_what_the_config_leaves_empty_the_client_may_fill(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader", temperature=0.3)

    gateway.chat({"model": "trader", "messages": CONVERSATION, "max_completion_tokens": 77, "top_p": 0.8, "stop": ["END"]})

    sent = vendor.seen()[0].body
    assert (sent["temperature"], sent["max_completion_tokens"], sent["top_p"], sent["stop"]) == (0.3, 77, 0.8, ["END"])
    assert "max_tokens" not in sent


def test_the_vendor_gets_the_configs_key_not_the_callers_token(gateway, vendor, vendor_provider, canary_key):
    make_agent("trader", vendor_provider, "vendor-trader")

    gateway.chat({"model": "trader", "messages": CONVERSATION})

    assert vendor.seen()[0].headers["Authorization"] == f"Bearer {canary_key}"
    assert vendor.seen()[0].path == "/v1/chat/completions"
