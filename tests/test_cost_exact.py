"""Costs follow the full usage (cached and cache-write input tokens at their own prices),
are stored with what priced them, and stay as they were when the price list changes,
until `manage.py reprice`."""

from __future__ import annotations

import copy
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from genai_prices import Usage, calc_price, data_snapshot

from agents_llm.models import LLMCall
from tests.conftest import CANARY_KEY
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor  # noqa: F401

pytestmark = pytest.mark.django_db
PLACES = Decimal("0.00000001")


@pytest.fixture
def openai_at_vendor(vendor, db):
    from providers.services import provider_create

    return provider_create(name="openai", provider_type="openai", base_url=vendor.base_url, api_key=CANARY_KEY)


def test_a_gateway_calls_cost_prices_cached_and_reasoning_tokens_as_the_catalog_does(gateway, vendor, openai_at_vendor):
    make_agent("trader", openai_at_vendor, "gpt-4o-mini")
    vendor.cached_tokens, vendor.reasoning_tokens = 40, 7

    response = gateway.chat({"model": "trader", "messages": user_message("x" * 400)})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert (call.cache_read_tokens, call.reasoning_tokens) == (40, 7)
    expected = calc_price(Usage(input_tokens=call.input_tokens, cache_read_tokens=40, output_tokens=call.output_tokens),
                          "gpt-4o-mini", provider_id="openai").total_price
    plain = calc_price(Usage(input_tokens=call.input_tokens, output_tokens=call.output_tokens),
                       "gpt-4o-mini", provider_id="openai").total_price
    assert call.cost == Decimal(str(expected)).quantize(PLACES) < Decimal(str(plain)).quantize(PLACES)
    [basis] = call.cost_basis
    assert basis["source"] == "catalog" and basis["catalog"].startswith("genai-prices 0.2.3")
    assert basis["usage"]["cache_read_tokens"] == 40


@pytest.mark.parametrize(("cached_price", "words"), [(Decimal("0.1"), "per-1k prices."), (None, "at the input price")])
def test_explicit_config_prices_charge_cached_tokens_at_the_cached_price_or_say_they_do_not(
    gateway, vendor, openai_at_vendor, cached_price, words,
):
    make_agent("trader", openai_at_vendor, "gpt-4o-mini", cost_per_1k_input_tokens=Decimal("1"),
               cost_per_1k_output_tokens=Decimal("2"), cost_per_1k_cached_input_tokens=cached_price)
    vendor.cached_tokens = 30

    response = gateway.chat({"model": "trader", "messages": user_message("y" * 400)})

    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    cached = cached_price if cached_price is not None else Decimal("1")
    expected = (Decimal(call.input_tokens - 30) * 1 + 30 * cached + Decimal(call.output_tokens) * 2) / 1000
    assert call.cost == expected.quantize(PLACES)
    assert words in call.cost_note
    assert call.cost_basis[0]["source"] == "config"


def test_a_newer_price_list_changes_no_stored_cost_until_reprice(gateway, vendor, openai_at_vendor):
    make_agent("trader", openai_at_vendor, "gpt-4o-mini")
    gateway.chat({"model": "trader", "messages": user_message()})
    call = LLMCall.objects.get()
    stored = call.cost

    newer = copy.deepcopy(data_snapshot.get_snapshot())
    for provider in newer.providers:
        if provider.id == "openai":
            for model in provider.models:
                if model.id == "gpt-4o-mini":
                    model.prices.input_mtok = Decimal(model.prices.input_mtok) * 10
    data_snapshot.set_custom_snapshot(newer)
    try:
        gateway.chat({"model": "trader", "messages": user_message()})  # new calls see the new prices...
        call.refresh_from_db()
        assert call.cost == stored  # ...stored ones do not

        out = StringIO()
        call_command("reprice", "--since", "2000-01-01", "--dry-run", stdout=out)
        assert "would change" in out.getvalue() and "trader" in out.getvalue()
        call.refresh_from_db()
        assert call.cost == stored

        call_command("reprice", "--since", "2000-01-01", stdout=StringIO())
        call.refresh_from_db()
        assert call.cost > stored
    finally:
        data_snapshot.set_custom_snapshot(None)
