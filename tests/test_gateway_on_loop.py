"""On PostgreSQL a gateway call whose caller and route are cached reads its route's
check and writes its row from the server's event loop (tradingagents.loop_db): no hop
to a database thread, the same row and answer as the threads' path, and every miss,
change and refusal still answered as there."""

from __future__ import annotations

import json

import httpx
import pytest

from agents_llm.gateway import views
from agents_llm.models import LLMCall
from tests.gateway_support import URL, caller, make_agent, user_message, vendor, vendor_provider  # noqa: F401
from tests.loop_support import count_hops, local_cache, postgresql_only  # noqa: F401 - local_cache: autouse
from tradingagents.services import api_token_create

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]

BODY = {"model": "trader", "messages": user_message()}
# What a call's row says that is not the same from call to call.
VARYING = {"id", "created_at", "latency_ms"}


@pytest.fixture
def token(caller, vendor_provider) -> str:
    make_agent("trader", vendor_provider, "vendor-a")
    return api_token_create(user=caller, name="on-loop")[1]


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    return count_hops(monkeypatch, views, "db_call")


async def _chat(token: str, body: dict = BODY, **headers: str) -> httpx.Response:
    from tradingagents.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.post(URL, content=json.dumps(body), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers,
        })


async def _row(call_id: str) -> dict:
    row = await LLMCall.objects.filter(pk=int(call_id)).values().aget()
    row["cost_basis"] = [{k: v for k, v in entry.items() if k != "at"} for entry in row["cost_basis"]]  # when priced
    return {k: v for k, v in row.items() if k not in VARYING}


async def test_a_cached_call_goes_to_no_database_thread(token, hops):
    assert (await _chat(token)).status_code == 200  # caches the token, its permissions and the route
    hops.clear()

    response = await _chat(token)

    assert response.status_code == 200, response.text
    assert hops == []
    call = await LLMCall.objects.aget(pk=int(response.headers["x-call-id"]))
    assert call.status == "succeeded" and call.model_name == "vendor-a" and call.input_tokens > 0


async def test_without_prepared_reads_the_loop_reads_the_rows_the_threads_read(token, settings, hops):
    settings.DATABASE_PREPARED_HOT_READS = False  # whole rows (JSON, times, text), not fingerprints
    assert (await _chat(token)).status_code == 200
    hops.clear()

    response = await _chat(token)

    assert response.status_code == 200, response.text
    assert hops == []  # the rows read on the loop equal those the route was built from


async def test_a_call_from_the_loop_stores_and_answers_what_the_threads_do(token, settings, hops):
    await _chat(token)
    from_loop = await _chat(token)
    settings.DATABASE_ON_LOOP = False
    hops.clear()
    from_threads = await _chat(token)

    assert hops == ["_admit", "_record"]  # the setting turns the loop's path off
    assert await _row(from_loop.headers["x-call-id"]) == await _row(from_threads.headers["x-call-id"])
    assert from_loop.json()["choices"] == from_threads.json()["choices"]
    assert from_loop.json()["usage"] == from_threads.json()["usage"]


async def test_a_config_changed_behind_the_caches_back_is_used_by_the_next_call(token, hops):
    from agents_llm.models import AgentLLMConfig

    await _chat(token)
    await AgentLLMConfig.objects.aupdate(model_name="vendor-b")  # no signal: the check must see it
    hops.clear()

    response = await _chat(token)

    assert response.status_code == 200, response.text
    assert hops == ["_admit"]  # rebuilt on a thread, then the row from the loop
    assert response.headers["x-vendor-model"] == "vendor-b"
    assert (await LLMCall.objects.aget(pk=int(response.headers["x-call-id"]))).model_name == "vendor-b"


async def test_a_disabled_agent_is_refused_as_the_threads_refuse_it(token):
    from agents_llm.models import AgentConfig

    await _chat(token)
    await AgentConfig.objects.aupdate(enabled=False)

    response = await _chat(token)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "model_not_found"
    assert await LLMCall.objects.acount() == 1


@pytest.fixture
def reader_token(reader) -> str:
    return api_token_create(user=reader, name="reader")[1]


async def test_a_caller_without_the_permission_is_refused(token, reader_token):
    await _chat(token)
    await _chat(reader_token)  # its token and permissions now in memory

    response = await _chat(reader_token)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert await LLMCall.objects.acount() == 1


async def test_a_call_in_a_session_uses_the_threads(token, caller, hops):
    from asgiref.sync import sync_to_async

    from agents_llm import metering

    session, _ = await sync_to_async(metering.session_create)(owner=caller, name="desk", budget_tokens=100_000)
    await _chat(token)
    hops.clear()

    response = await _chat(token, **{"X-Session-Id": str(session.pk)})

    assert response.status_code == 200, response.text
    assert hops == ["_admit", "_record"]
    assert (await LLMCall.objects.aget(pk=int(response.headers["x-call-id"]))).session_id == session.pk
