"""Budgets hold under concurrency: 50 simultaneous gateway calls in one session, spread
over several uvicorn processes, never spend more than the budget; every refusal is a
402 budget_exceeded, nothing is a 5xx, and the session's totals equal its calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from django.db.models import Sum

from agents_llm.metering.sessions import session_create
from agents_llm.models import LLMCall, MeteredSession
from tests.gateway_support import caller, make_agent, running_servers, vendor, vendor_provider  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CALLS = 50
SERVERS = 3


def _fire(ports: list[int], token: str) -> list[httpx.Response]:
    body = {"model": "trader", "messages": [{"role": "user", "content": "A signal for NVDA, briefly."}], "max_tokens": 40}

    def one(index: int) -> httpx.Response:
        port = ports[index % len(ports)]
        return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        return list(pool.map(one, range(CALLS)))


def _check(responses: list[httpx.Response], session: MeteredSession) -> None:
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 402}, statuses
    assert 200 in statuses and 402 in statuses
    for refused in (r for r in responses if r.status_code == 402):
        assert refused.json()["error"]["code"] == "budget_exceeded"
    session.refresh_from_db()
    calls = LLMCall.objects.filter(session=session)
    totals = calls.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cost"))
    assert calls.count() == CALLS
    assert calls.filter(status="succeeded").count() == statuses.count(200)
    assert calls.filter(status="refused").count() == statuses.count(402)
    assert session.spent_tokens == totals["i"] + totals["o"]
    assert session.spent_usd == (totals["c"] or 0)
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)


def test_a_token_budget_holds_under_50_concurrent_calls(caller, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader")
    session, token = session_create(owner=caller, name="concurrent tokens", budget_tokens=2000)

    with running_servers(SERVERS) as ports:
        responses = _fire(ports, token)

    _check(responses, session)
    assert session.spent_tokens <= 2000
    assert len(vendor.seen()) == [r.status_code for r in responses].count(200)


def test_a_usd_budget_holds_under_50_concurrent_calls(caller, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader",
               cost_per_1k_input_tokens=Decimal("0.01"), cost_per_1k_output_tokens=Decimal("0.02"))
    session, token = session_create(owner=caller, name="concurrent dollars", budget_usd=Decimal("0.012"))

    with running_servers(SERVERS) as ports:
        responses = _fire(ports, token)

    _check(responses, session)
    assert 0 < session.spent_usd <= Decimal("0.012")


def test_40_concurrent_calls_into_a_budget_that_fits_20_by_their_usage_admit_at_least_15(caller, vendor, vendor_provider):
    """Calls that do not fit beside the reservations of calls in flight wait for them;
    only what is spent plus a call's own worst case refuses it."""
    make_agent("trader", vendor_provider, "vendor-trader",
               cost_per_1k_input_tokens=Decimal("0.01"), cost_per_1k_output_tokens=Decimal("0.03"))
    vendor.script("vendor-trader", {"report": 1000})  # report-sized answers, cut at max_tokens
    body = {"model": "trader", "messages": [{"role": "user", "content": "A signal for NVDA, briefly."}], "max_tokens": 100}
    _, unbudgeted = session_create(owner=caller, name="one call alone")
    with running_servers(1) as ports:  # what one call uses
        alone = httpx.post(f"http://127.0.0.1:{ports[0]}/v1/chat/completions", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {unbudgeted}"})
        per_call = alone.json()["usage"]["total_tokens"]
        session, token = session_create(owner=caller, name="fits 20", budget_tokens=20 * per_call)
        with ThreadPoolExecutor(max_workers=40) as pool:
            responses = list(pool.map(lambda _: httpx.post(
                f"http://127.0.0.1:{ports[0]}/v1/chat/completions", json=body,
                headers={"Authorization": f"Bearer {token}"}, timeout=90,
            ), range(40)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 402}, statuses
    assert statuses.count(200) >= 15, statuses
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in responses if r.status_code == 402)
    session.refresh_from_db()
    calls = LLMCall.objects.filter(session=session)
    totals = calls.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    assert session.spent_tokens == totals["i"] + totals["o"] <= 20 * per_call
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
