"""Launching, listing and cancelling analyses through the API, without running them
(no worker here): the checks at launch, the 409 without TradingAgents, what the row and
its session hold, cancel, and the sweep that re-queues a lost one once, then fails it."""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents_llm.analyses.models import NODES
from agents_llm.analyses.services import analyses_requeue_stale
from agents_llm.models import Analysis, Lineup, MeteredSession
from tests.analyses_support import may_analyse
from tests.api_support import client_for
from tests.gateway_support import caller  # noqa: F401

pytestmark = pytest.mark.django_db

GOOD = {"ticker": "nvda", "trade_date": "2026-11-20", "market_data": "offline"}


@pytest.fixture
def installed(settings):
    settings.TRADINGAGENTS_PYTHON = sys.executable  # any executable python: nothing runs it here


@pytest.fixture
def api(caller):  # noqa: F811
    call_command("seed", verbosity=0)
    may_analyse(caller)
    return client_for(caller)


def test_it_queues_an_analysis_in_a_new_session_with_its_lineup_budget_and_roles(
    installed, api, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    from agents_llm.models import LLMPreset

    LLMPreset.objects.filter(name="deep").update(model_name="offline-deep")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/analyses", {**GOOD, "lineup": "tradingagents-default", "budget_usd": "0.50",
                                          "budget_tokens": 90000, "options": {"debate_rounds": 2}})

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["ticker"], body["lineup"]) == ("queued", "NVDA", "tradingagents-default")
    assert body["market_data_note"] == "offline market data: not for decisions"
    analysis = Analysis.objects.get(pk=body["id"])
    assert analysis.options == {"analysts": ["market", "social", "news", "fundamentals"], "debate_rounds": 2,
                                "risk_rounds": 1}
    assert analysis.gateway_url == "http://testserver" and analysis.enqueued_at is not None
    session = MeteredSession.objects.get(pk=body["session"])
    assert (session.owner, session.lineup.name, session.budget_usd, session.budget_tokens) == (
        caller, "tradingagents-default", Decimal("0.5"), 90000)
    # The seeded lineup: the quick preset for ten roles, deep for the two managers.
    assert [r["node"] for r in body["roles"]] == NODES
    models = {r["node"]: r["model"] for r in body["roles"]}
    assert models["Research Manager"] == models["Portfolio Manager"] == "offline-deep"
    assert {models[node] for node in NODES} - {"offline-deep"} == {"offline"}
    assert all(r["status"] == "waiting" and r["calls"] == 0 for r in body["roles"])


def test_without_tradingagents_python_launching_is_refused_with_409_naming_it(settings, api, superuser):
    settings.TRADINGAGENTS_PYTHON = ""

    response = api.post("/analyses", GOOD)

    assert response.status_code == 409
    assert "TRADINGAGENTS_PYTHON" in response.json()["detail"] and "make tradingagents" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["settings", "TRADINGAGENTS_PYTHON"]
    assert not Analysis.objects.exists() and not MeteredSession.objects.exists()
    # The analyses page says how to install it.
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    page = client.get("/admin/agents_llm/analysis/").content.decode()
    assert "TradingAgents is not installed" in page and "make tradingagents" in page and "TRADINGAGENTS_PYTHON" in page
    assert "New analysis" not in page


@pytest.mark.parametrize(("change", "field"), [
    ({"lineup": "no-such-mix"}, "lineup"),
    ({"trade_date": (timezone.localdate() + timedelta(days=30)).isoformat()}, "trade_date"),  # a run may cross midnight
    ({"ticker": ""}, "ticker"),
    ({"ticker": "   "}, "ticker"),
    ({"ticker": "NV<DA>"}, "ticker"),
    ({"budget_usd": "0"}, "budget_usd"),
    ({"budget_usd": "-1"}, "budget_usd"),
    ({"budget_tokens": 0}, "budget_tokens"),
    ({"market_data": "sometimes"}, "market_data"),
    ({"options": {"debate_rounds": 0}}, "options"),
    ({"options": {"analysts": ["astrology"]}}, "options"),
])
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_queued(installed, api, change, field):
    response = api.post("/analyses", {**GOOD, **change})

    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["loc"] == ["body", field], response.json()
    assert not Analysis.objects.exists() and not MeteredSession.objects.exists()


def test_launching_needs_the_permission_to_add_analyses(installed, api, reader):
    response = client_for(reader).post("/analyses", GOOD)

    assert response.status_code == 403
    assert not Analysis.objects.exists()


def test_the_list_filters_by_ticker_status_lineup_and_rating(installed, api):
    ids = {ticker: api.post("/analyses", {**GOOD, "ticker": ticker, "lineup": lineup}).json()["id"]
           for ticker, lineup in (("NVDA", "tradingagents-default"), ("AAPL", None))}
    Analysis.objects.filter(pk=ids["AAPL"]).update(status="succeeded", rating="Hold")

    def listed(**params) -> list[int]:
        response = api.get("/analyses", **params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert listed() == [ids["AAPL"], ids["NVDA"]]
    assert listed(ticker="nvda") == [ids["NVDA"]]
    assert listed(status="succeeded") == [ids["AAPL"]]
    assert listed(rating="Hold") == [ids["AAPL"]]
    assert listed(lineup="tradingagents-default") == [ids["NVDA"]]
    assert api.get("/analyses", lineup="nope").status_code == 422


def test_a_cancel_stops_a_queued_analysis_at_once_and_asks_a_running_one_to_stop(installed, api):
    queued = api.post("/analyses", GOOD).json()["id"]
    running = api.post("/analyses", GOOD).json()["id"]
    Analysis.objects.filter(pk=running).update(status="running", started_at=timezone.now())

    first = api.post(f"/analyses/{queued}/cancel")
    second = api.post(f"/analyses/{running}/cancel")

    assert first.status_code == 202 and first.json()["status"] == "stopped"
    assert first.json()["error"] == "Cancelled by caller before it started."
    assert second.status_code == 202 and second.json()["status"] == "running"
    assert Analysis.objects.get(pk=running).cancel_requested
    assert api.post("/analyses/999999/cancel").status_code == 404


def test_the_sweep_queues_a_lost_analysis_again_once_then_fails_it(installed, api, settings):
    analysis_id = api.post("/analyses", GOOD).json()["id"]
    stale = timezone.now() - timedelta(seconds=settings.ANALYSIS_LOST_AFTER_SECONDS + 5)
    Analysis.objects.filter(pk=analysis_id).update(status="running", attempts=1, started_at=stale, heartbeat_at=stale)

    token_hash = MeteredSession.objects.get(analyses=analysis_id).token_hash

    assert analyses_requeue_stale()["queued"] == 1
    analysis = Analysis.objects.get(pk=analysis_id)
    # The driver the dead worker left behind can spend no more in the session.
    assert analysis.session.token_hash != token_hash
    assert (analysis.status, analysis.attempts) == ("queued", 1)
    assert "queued again" in analysis.error

    Analysis.objects.filter(pk=analysis_id).update(status="running", attempts=2, heartbeat_at=stale)
    analyses_requeue_stale()
    analysis.refresh_from_db()
    assert analysis.status == "failed" and "2 times" in analysis.error and analysis.finished_at is not None


def test_a_running_analysis_with_a_fresh_heartbeat_is_left_alone(installed, api):
    analysis_id = api.post("/analyses", GOOD).json()["id"]
    Analysis.objects.filter(pk=analysis_id).update(status="running", attempts=1, heartbeat_at=timezone.now())

    analyses_requeue_stale()

    assert Analysis.objects.get(pk=analysis_id).status == "running"


def test_a_lineup_in_use_by_an_analysis_cannot_be_deleted(installed, api):
    api.post("/analyses", {**GOOD, "lineup": "tradingagents-default"})

    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        Lineup.objects.get(name="tradingagents-default").delete()


def test_the_driver_reaches_the_gateway_where_the_analysis_was_launched_unless_told_otherwise(settings):
    from agents_llm.analyses.runner import _gateway_url

    launched = Analysis(gateway_url="http://control.example:8000")
    settings.TRADINGAGENTS_GATEWAY_URL = ""
    assert _gateway_url(launched) == "http://control.example:8000/v1"
    settings.TRADINGAGENTS_GATEWAY_URL = "http://web-internal:8000/"
    assert _gateway_url(launched) == "http://web-internal:8000/v1"
