"""Sessions: opened through the API, joined by gateway calls (session token or
X-Session-Id), budgets that refuse what does not fit, totals that equal their calls."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from agents_llm.models import LLMCall, MeteredSession
from tests.api_support import ApiClient, client_for
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(caller) -> ApiClient:
    return client_for(caller)


@pytest.fixture
def trader(vendor_provider):
    return make_agent("trader", vendor_provider, "vendor-trader", aliases=["Trader"],
                      cost_per_1k_input_tokens=Decimal("1"), cost_per_1k_output_tokens=Decimal("2"))


def _open(api: ApiClient, **body) -> dict:
    response = api.post("/sessions", {"name": "NVDA 2026-11-20", **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_opening_a_session_returns_its_token_once_and_stores_only_a_hash(api, caller):
    body = _open(api, budget_usd="0.50", budget_tokens=20000, metadata={"ticker": "NVDA"})

    assert body["status"] == "open" and body["token"].startswith("tas_")
    assert (body["budget_usd"], body["budget_tokens"], body["spent_usd"], body["calls"], body["runs"]) == (
        "0.50000000", 20000, "0.00000000", 0, 0,
    )
    session = MeteredSession.objects.get(pk=body["id"])
    assert session.owner == caller and body["token"] not in session.token_hash
    assert "token" not in api.get(f"/sessions/{body['id']}").json()


def test_a_bad_budget_is_a_422_naming_the_field(api):
    response = api.post("/sessions", {"name": "x", "budget_tokens": 0})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == "budget_tokens"
    assert MeteredSession.objects.count() == 0


def test_the_session_token_makes_gateway_calls_in_its_session_and_nothing_else(api, trader, vendor):
    body = _open(api)
    token_client = GatewayClient(body["token"])

    response = token_client.chat({"model": "Trader", "messages": user_message()})

    assert response.status_code == 200
    assert str(LLMCall.objects.get().session_id) == body["id"]
    assert ApiClient(body["token"]).get("/agents").status_code == 401  # no JSON API
    api.post(f"/sessions/{body['id']}/close")
    closed = token_client.chat({"model": "Trader", "messages": user_message()})
    assert closed.status_code == 401
    assert closed.json()["error"]["type"] == "authentication_error"


def test_x_session_id_joins_a_session_and_a_closed_one_is_409(api, gateway, trader, vendor):
    body = _open(api)

    joined = gateway.chat({"model": "trader", "messages": user_message()}, session=body["id"])
    assert joined.status_code == 200, joined.content
    api.post(f"/sessions/{body['id']}/close")
    refused = gateway.chat({"model": "trader", "messages": user_message()}, session=body["id"])

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "session_closed"
    assert LLMCall.objects.filter(session_id=body["id"]).count() == 1
    assert len(vendor.seen()) == 1


def test_another_users_session_is_not_found(api, trader, editor, vendor):
    body = _open(api)
    _, token = __import__("tradingagents.services", fromlist=["x"]).api_token_create(user=editor)

    response = GatewayClient(token).chat({"model": "trader", "messages": user_message()}, session=body["id"])

    assert response.status_code == 404 and response.json()["error"]["code"] == "session_not_found"
    assert client_for(editor).get(f"/sessions/{body['id']}").status_code == 404
    assert vendor.seen() == []


def test_a_token_budget_refuses_the_call_that_does_not_fit_with_402(api, trader, vendor):
    body = _open(api, budget_tokens=600)
    client = GatewayClient(body["token"])

    statuses = [client.chat({"model": "trader", "messages": user_message(), "max_tokens": 100}).status_code for _ in range(20)]

    assert statuses[0] == 200 and statuses[-1] == 402 and set(statuses) == {200, 402}
    refused = client.chat({"model": "trader", "messages": user_message(), "max_tokens": 100})
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("budget_exceeded", "budget_exceeded")
    assert "NVDA 2026-11-20" in error["message"] and "600 tokens" in error["message"]
    session = MeteredSession.objects.get(pk=body["id"])
    calls = LLMCall.objects.filter(session=session)
    totals = calls.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cost"))
    assert session.status == "over_budget"
    assert session.spent_tokens == totals["i"] + totals["o"] <= 600
    assert session.spent_usd == totals["c"]
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    assert calls.filter(status="refused").count() == statuses.count(402) + 1
    assert len(vendor.seen()) == statuses.count(200)


def test_without_a_max_tokens_the_call_gets_what_the_budget_leaves_as_its_cap(api, trader, vendor):
    body = _open(api, budget_tokens=5000)

    GatewayClient(body["token"]).chat({"model": "trader", "messages": user_message()})

    sent = vendor.seen()[0].body
    assert 16 <= sent["max_tokens"] < 5000


def test_a_usd_budget_reserves_at_the_models_price(api, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader",
               cost_per_1k_input_tokens=Decimal("0.001"), cost_per_1k_output_tokens=Decimal("0.002"))
    body = _open(api, budget_usd="0.001")  # about five reservations of a short prompt and 50 output tokens
    client = GatewayClient(body["token"])

    statuses = [client.chat({"model": "trader", "messages": user_message(), "max_tokens": 50}).status_code for _ in range(20)]

    assert statuses[0] == 200 and statuses[-1] == 402
    session = MeteredSession.objects.get(pk=body["id"])
    assert 0 < session.spent_usd <= Decimal("0.001")
    assert session.spent_usd == LLMCall.objects.filter(session=session).aggregate(c=Sum("cost"))["c"]


def test_a_usd_budget_refuses_a_model_with_no_known_price(api, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "house-model")
    body = _open(api, budget_usd="1")

    response = GatewayClient(body["token"]).chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "price_unknown"
    assert vendor.seen() == []


def test_the_session_page_breaks_spend_down_by_agent(api, vendor, vendor_provider):
    for name in ("bull_researcher", "bear_researcher"):
        make_agent(name, vendor_provider, "m", cost_per_1k_input_tokens=Decimal("1"), cost_per_1k_output_tokens=Decimal("1"))
    body = _open(api)
    client = GatewayClient(body["token"])
    for model in ("bull_researcher", "bull_researcher", "bear_researcher"):
        client.chat({"model": model, "messages": user_message()})

    detail = api.get(f"/sessions/{body['id']}").json()

    rows = {r["agent"]: r for r in detail["by_agent"]}
    assert (rows["bull_researcher"]["calls"], rows["bear_researcher"]["calls"]) == (2, 1)
    for name, row in rows.items():
        calls = LLMCall.objects.filter(session_id=body["id"], agent__name=name)
        assert Decimal(row["cost"]) == calls.aggregate(c=Sum("cost"))["c"]
        assert row["input_tokens"] == calls.aggregate(i=Sum("input_tokens"))["i"]
    assert abs(sum(r["share"] for r in rows.values()) - 1) < 1e-9
    assert Decimal(detail["spent_usd"]) == sum(Decimal(r["cost"]) for r in rows.values())
    assert detail["calls"] == 3
    assert [s["id"] for s in api.get("/sessions", status="open").json()["items"]] == [body["id"]]
