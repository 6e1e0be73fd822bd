"""Every call's cost follows the config's or the catalog's price for its recorded usage,
and the provider's key appears in no response, error, call record, log line or API read."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from agents_llm.models import LLMCall
from tests.api_support import client_for
from tests.conftest import CANARY_KEY, CANARY_LAST4
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def test_cost_uses_the_configs_explicit_prices(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-a",
               cost_per_1k_input_tokens=Decimal("0.5"), cost_per_1k_output_tokens=Decimal("1.5"))

    response = gateway.chat({"model": "trader", "messages": user_message()})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    expected = (Decimal(call.input_tokens) * Decimal("0.5") + Decimal(call.output_tokens) * Decimal("1.5")) / 1000
    assert call.input_tokens == vendor.seen()[0].prompt_tokens
    assert call.cost == expected.quantize(Decimal("0.00000001"))
    assert response["x-cost-usd"] == str(call.cost)
    assert "per-1k" in call.cost_note


def test_cost_follows_the_price_catalog_for_a_known_model(gateway, vendor, db):
    from providers.services import provider_create

    openai = provider_create(name="openai", provider_type="openai", base_url=vendor.base_url, api_key=CANARY_KEY)
    make_agent("trader", openai, "gpt-4o-mini")

    response = gateway.chat({"model": "trader", "messages": user_message()})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    catalog = calc_price(Usage(input_tokens=call.input_tokens, output_tokens=call.output_tokens), "gpt-4o-mini", provider_id="openai")
    assert call.cost == Decimal(str(catalog.total_price)).quantize(Decimal("0.00000001"))
    assert call.cost > 0


def test_an_unknown_price_is_null_with_a_reason_never_zero(gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "house-model-7b")

    response = gateway.chat({"model": "trader", "messages": user_message()})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert call.cost is None
    assert "Unknown price for 'house-model-7b'" in call.cost_note
    assert "x-cost-usd" not in response


def test_the_calls_api_lists_calls_with_their_usage(gateway, vendor, vendor_provider, reader):
    make_agent("trader", vendor_provider, "vendor-a", aliases=["Trader"])
    gateway.chat({"model": "Trader", "messages": user_message()})

    response = client_for(reader).get("/calls", agent="trader")

    assert response.status_code == 200
    [row] = response.json()["items"]
    call = LLMCall.objects.get()
    assert (row["id"], row["alias"], row["agent"], row["user"], row["provider"]) == (call.pk, "Trader", "trader", "caller", "vendor")
    assert row["input_tokens"] == call.input_tokens and row["status"] == "succeeded"


def test_the_canary_key_never_leaves(gateway, vendor, vendor_provider, reader, caplog):
    caplog.set_level(logging.DEBUG)
    make_agent("trader", vendor_provider, "vendor-a", fallback_provider=vendor_provider, fallback_model="vendor-b")
    vendor.script("vendor-a", {"status": 401, "message": f"Incorrect API key provided: {CANARY_KEY}"})
    vendor.script("vendor-b", {"status": 500, "message": f"key {CANARY_KEY[:8]}...{CANARY_LAST4} rejected"})

    texts = [
        gateway.chat({"model": "trader", "messages": user_message()}).content,
        gateway.chat({"model": "trader", "messages": user_message(), "stream": True}).content,
        gateway.models().content,
        client_for(reader).get("/calls").content,
        json.dumps(list(LLMCall.objects.values())  , default=str).encode(),
    ]

    assert vendor.seen()[0].headers["Authorization"] == f"Bearer {CANARY_KEY}"  # it was used...
    for text in [*texts, caplog.text.encode()]:  # ...and shown nowhere
        assert CANARY_KEY.encode() not in text
        assert CANARY_LAST4.encode() not in text
