"""The client's tools reach the vendor, and the vendor's tool calls reach the client, unchanged."""

from __future__ import annotations

import json

import pytest

from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db

TOOLS = [
    {"type": "function", "function": {
        "name": "get_stock_data", "description": "Prices of a ticker.",
        "parameters": {"type": "object", "properties": {"symbol": {"type": "string", "pattern": "^[A-Z]{1,5}$"}},
                       "required": ["symbol"]},
    }},
    {"type": "function", "function": {
        "name": "get_news", "parameters": {"type": "object", "properties": {"query": {"type": "string", "minLength": 3}}},
    }},
]


def test_tools_and_tool_choice_reach_the_vendor_as_sent(gateway, vendor, vendor_provider):
    make_agent("market_analyst", vendor_provider, "vendor-m")
    choice = {"type": "function", "function": {"name": "get_news"}}

    gateway.chat({"model": "market_analyst", "messages": user_message(), "tools": TOOLS, "tool_choice": choice,
                  "parallel_tool_calls": False})

    sent = vendor.seen()[0].body
    assert (sent["tools"], sent["tool_choice"], sent["parallel_tool_calls"]) == (TOOLS, choice, False)


def test_the_vendors_tool_call_reaches_the_client_unchanged(gateway, vendor, vendor_provider):
    make_agent("market_analyst", vendor_provider, "vendor-m")
    vendor.script("vendor-m", {"tool": "get_stock_data", "arguments": "{\"symbol\": \"NVDA\"}"})

    response = gateway.chat({"model": "market_analyst", "messages": user_message(), "tools": TOOLS})

    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_fake1", "type": "function", "function": {"name": "get_stock_data", "arguments": "{\"symbol\": \"NVDA\"}"}}
    ]


def test_a_call_to_a_tool_the_request_did_not_offer_is_invalid_output(gateway, vendor, vendor_provider):
    make_agent("market_analyst", vendor_provider, "vendor-m")
    vendor.script("vendor-m", {"tool": "delete_everything", "arguments": "{}"})

    response = gateway.chat({"model": "market_analyst", "messages": user_message(), "tools": TOOLS})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "invalid_output"
    assert "delete_everything" in response.json()["error"]["message"]


def test_a_tool_result_conversation_round_trips(gateway, vendor, vendor_provider):
    make_agent("market_analyst", vendor_provider, "vendor-m")
    messages = [
        *user_message(),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "get_stock_data", "arguments": json.dumps({"symbol": "NVDA"})}}
        ]},
        {"role": "tool", "tool_call_id": "call_9", "content": "close 181.2"},
    ]

    response = gateway.chat({"model": "market_analyst", "messages": messages, "tools": TOOLS, "tool_choice": "none"})

    assert response.status_code == 200
    assert vendor.seen()[0].body["messages"] == messages
    assert response.json()["choices"][0]["message"]["content"]
