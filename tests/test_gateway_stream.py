"""`stream: true` relays the vendor's server-sent events in OpenAI's framing, records
the usage from the stream, and can fall back only before the first byte."""

from __future__ import annotations

import pytest

from agents_llm.models import LLMCall
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

# Streams are read on the event loop that opened them, as uvicorn does: async tests.
pytestmark = pytest.mark.django_db(transaction=True)


async def _call(response) -> LLMCall:
    return await LLMCall.objects.aget(pk=int(response["x-call-id"]))


@pytest.fixture
def trader(vendor_provider):
    return make_agent("trader", vendor_provider, "vendor-a", fallback_provider=vendor_provider, fallback_model="vendor-b")


async def test_a_stream_is_relayed_with_the_asked_model_and_its_usage_recorded(gateway, vendor, trader):
    vendor.script("vendor-a", {"text": "Buy NVDA on the dip, size 2%."})

    response, frames = await gateway.astream({"model": "trader", "messages": user_message(), "stream": True})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert all(c["model"] == "trader" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Buy NVDA on the dip, size 2%."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in c and c["usage"] for c in chunks)  # the client did not ask for it
    # ...but the vendor was asked, and the call's row has it.
    assert vendor.seen()[0].body["stream_options"] == {"include_usage": True}
    call = await _call(response)
    assert call.streamed and call.status == "succeeded"
    assert call.input_tokens == vendor.seen()[0].prompt_tokens
    assert call.output_tokens > 0


async def test_the_usage_chunk_is_passed_on_when_the_client_asks(gateway, vendor, trader):
    response, frames = await gateway.astream({"model": "trader", "messages": user_message(), "stream": True,
                                              "stream_options": {"include_usage": True}})

    usage = frames[-2]
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] == vendor.seen()[0].prompt_tokens
    call = await _call(response)
    assert call.output_tokens == usage["usage"]["completion_tokens"]


async def test_a_stream_falls_back_before_its_first_byte(gateway, vendor, trader):
    vendor.script("vendor-a", {"status": 503})

    response, frames = await gateway.astream({"model": "trader", "messages": user_message(), "stream": True})

    assert response["x-vendor-model"] == "vendor-b"
    assert frames[-1] == "[DONE]"
    call = await _call(response)
    assert [a["error_class"] for a in call.attempts] == ["HTTP503", ""]
    assert call.fell_back


async def test_a_failed_stream_is_a_502_json_error_not_an_event_stream(gateway, vendor, trader):
    vendor.script("vendor-a", {"status": 500})
    vendor.script("vendor-b", {"status": 500})

    response, frames = await gateway.astream({"model": "trader", "messages": user_message(), "stream": True})

    assert response.status_code == 502 and frames == []
    assert response.json()["error"]["type"] == "upstream_error"
