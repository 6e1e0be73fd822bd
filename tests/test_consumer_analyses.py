"""The `analyses` topic: subscribing sends the unfinished analyses first, then each
change as `analysis.updated` with the pipeline and the state, never a secret (the
analysis' session token least of all)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from channels.db import database_sync_to_async

from agents_llm.analyses.services import analysis_cancel
from agents_llm.metering.sessions import session_create
from agents_llm.models import Analysis
from tests.ws_support import next_event, open_socket, subscribe
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
def analyses(superuser) -> dict[str, object]:
    def analysis(status: str) -> tuple[Analysis, str]:
        session, session_token = session_create(owner=superuser, name="NVDA analysis")
        roles = [{"node": "Market Analyst", "agent": "market_analyst", "provider": "offline", "model": "offline"}]
        return Analysis.objects.create(ticker="NVDA", trade_date=date(2026, 11, 20), session=session, status=status,
                                       roles=roles, gateway_url="http://testserver"), session_token

    running, running_token = analysis("running")
    queued, queued_token = analysis("queued")
    analysis("succeeded")
    return {"running": running, "queued": queued, "tokens": [running_token, queued_token]}


async def test_subscribing_sends_unfinished_analyses_then_their_changes_without_secrets(token, analyses, superuser):
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    assert (await subscribe(communicator, "analyses"))["event"] == "subscribed"

    snapshot = [await next_event(communicator) for _ in range(2)]
    assert sorted((f["topic"], f["event"], f["id"], f["data"]["status"]) for f in snapshot) == sorted([
        ("analyses", "analysis.updated", analyses["running"].pk, "running"),
        ("analyses", "analysis.updated", analyses["queued"].pk, "queued"),
    ])
    assert snapshot[0]["data"]["roles"][0]["node"] == "Market Analyst"
    assert await communicator.receive_nothing(timeout=0.3)

    await db(analysis_cancel)(analysis=analyses["queued"], user=superuser)
    change = await next_event(communicator)

    assert (change["event"], change["id"], change["data"]["status"]) == (
        "analysis.updated", analyses["queued"].pk, "stopped")
    assert change["data"]["error"] == "Cancelled by root before it started."
    text = json.dumps([*snapshot, change])
    assert all(secret not in text and secret[:10] not in text for secret in analyses["tokens"])
    await communicator.disconnect()
