"""The pass-through's connections to a vendor (agents_llm.gateway.vendor_http): calls
made on one event loop share one kept-alive connection; a vendor that hangs up halfway
through an answer, or answers too late, is a clean 502 in OpenAI's shape (and its
connection is not used again); the sessions of event loops that ended are let go; and
a forked child lets its parent's go without breaking the parent's connections."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from agents_llm.gateway import vendor_http
from agents_llm.models import LLMCall
from tests.gateway_support import URL, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

# Committed rows: the views' database work runs in the database threads.
pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "trader", "messages": user_message()}


@pytest.fixture
def trader(vendor_provider):
    return make_agent("trader", vendor_provider, "vendor-a")


async def _chat(gateway) -> tuple[int, dict]:
    """A call through Django's ASGI handler on this test's event loop (as under uvicorn)."""
    from django.test import AsyncClient

    response = await AsyncClient().post(URL, data=json.dumps(BODY), content_type="application/json",
                                        headers=gateway.headers)
    return response.status_code, response.json() | {"call_id": response.get("x-call-id")}


async def test_sequential_calls_on_one_event_loop_share_one_kept_alive_connection(gateway, vendor, trader):
    statuses = [(await _chat(gateway))[0] for _ in range(20)]

    assert statuses == [200] * 20
    assert len(vendor.seen()) == 20
    assert vendor.accepted == 1


async def test_a_vendor_hanging_up_halfway_through_an_answer_is_a_502_upstream_error_not_a_500(gateway, vendor, trader):
    vendor.script("vendor-a", {"auto": True}, {"hang_up": True}, {"auto": True})
    assert (await _chat(gateway))[0] == 200  # the connection is open and kept

    status, body = await _chat(gateway)

    assert status == 502
    error = body["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "RemoteProtocolError" in error["message"]
    call = await LLMCall.objects.aget(pk=int(body["call_id"]))
    assert call.status == "failed" and call.attempts[0]["error_class"] == "RemoteProtocolError"
    # The broken connection is not used again: the next call gets a new one, and an answer.
    assert (await _chat(gateway))[0] == 200
    assert vendor.accepted == 2


async def test_a_vendor_answering_after_the_deadline_is_a_502_with_a_timeout_attempt(gateway, vendor, trader, settings):
    settings.LLM_REQUEST_TIMEOUT_SECONDS = 0.3
    vendor.script("vendor-a", {"delay": 1.0})

    status, body = await _chat(gateway)

    assert status == 502 and body["error"]["code"] == "upstream_error"
    call = await LLMCall.objects.aget(pk=int(body["call_id"]))
    assert call.attempts[0]["error_class"] == "Timeout"


def test_the_sessions_of_event_loops_that_ended_are_let_go(gateway, vendor, trader):
    # Each call of Django's test client runs on an event loop of its own, closed after it.
    for _ in range(3):
        assert gateway.chat(BODY).status_code == 200

    assert vendor_http.session_count() == 1  # the last loop's: the others went when it made its own


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
async def test_a_forked_child_forgets_the_parents_sessions_and_the_parents_connection_keeps_working(
    gateway, vendor, trader
):
    assert (await _chat(gateway))[0] == 200  # a kept connection, watched by this loop
    sessions = list(vendor_http._sessions.values())
    connectors = [session.connector for session in sessions]

    child = os.fork()
    if child == 0:  # the child does this and nothing else
        code = 1
        try:
            code = 0 if vendor_http.session_count() == 0 else 2
            # What the collector does with what the child let go (not gc.collect(): that
            # could finalize the parent's database connections in the child too).
            for thing in connectors + sessions:
                thing.__del__()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert (await asyncio.wait_for(_chat(gateway), 10))[0] == 200
    assert vendor.accepted == 1  # on the same connection, still watched by this loop


async def test_stream_lines_end_at_lf_crlf_or_cr_across_chunks_and_may_be_longer_than_aiohttps_line_limit():
    long = b"data: " + b"x" * 300_000  # past aiohttp's own readline limit

    class Content:
        async def iter_any(self):
            for chunk in (b"data: a\r", b"\ndata: b\rdata: c\n", long[:100_000], long[100_000:] + b"\n\n", b"data: d"):
                yield chunk

    class Response:
        content = Content()

    lines = [line async for line in vendor_http.lines(Response())]

    assert [line for line in lines if line] == [b"data: a", b"data: b", b"data: c", long, b"data: d"]
