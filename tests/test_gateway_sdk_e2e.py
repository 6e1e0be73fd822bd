"""The official `openai` SDK, pointed at a real uvicorn serving the project, completes,
streams, calls a tool and gets a `json_schema` answer through agents on a loopback
vendor, and through an agent on `offline` with no network at all."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest
from openai import OpenAI

from agents_llm.models import LLMCall
from tests.gateway_support import caller, make_agent, running_servers, vendor, vendor_provider  # noqa: F401
from tests.test_gateway_fallback import SIGNAL
from tests.test_gateway_tools import TOOLS
from tradingagents.services import api_token_create

# Committed rows, so that the server process sees them.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(django_db_setup) -> Iterator[int]:
    with running_servers(1) as ports:
        yield ports[0]


@pytest.fixture
def sdk(caller, site) -> OpenAI:
    _, token = api_token_create(user=caller)
    return OpenAI(base_url=f"http://127.0.0.1:{site}/v1", api_key=token, max_retries=0, timeout=30)


@pytest.fixture
def agents(vendor_provider, offline_provider):
    make_agent("trader", vendor_provider, "vendor-trader", aliases=["Trader"])
    make_agent("reflector", offline_provider, "offline", aliases=["Reflector"])


def test_the_sdk_completes_streams_calls_a_tool_and_gets_json_through_a_vendor_agent(sdk, agents, vendor):
    completion = sdk.chat.completions.create(model="Trader", messages=[{"role": "user", "content": "Plan for NVDA?"}])
    assert completion.model == "Trader" and completion.choices[0].message.content
    assert completion.usage.prompt_tokens == vendor.seen()[0].prompt_tokens

    stream = sdk.chat.completions.create(
        model="trader", messages=[{"role": "user", "content": "Stream it."}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "A plain answer from the fake vendor."
    assert chunks[-1].usage.prompt_tokens == vendor.seen()[1].prompt_tokens

    tooled = sdk.chat.completions.create(model="trader", messages=[{"role": "user", "content": "Prices?"}], tools=[TOOLS[0]])
    call = tooled.choices[0].message.tool_calls[0]
    assert call.function.name == "get_stock_data"
    jsonschema.validate(json.loads(call.function.arguments), TOOLS[0]["function"]["parameters"])

    structured = sdk.chat.completions.create(
        model="trader", messages=[{"role": "user", "content": "Signal?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "signal", "schema": SIGNAL}},
    )
    jsonschema.validate(json.loads(structured.choices[0].message.content), SIGNAL)

    calls = list(LLMCall.objects.order_by("pk").values_list("alias", "status", "streamed", "input_tokens"))
    assert [(a, s, st) for a, s, st, _ in calls] == [
        ("Trader", "succeeded", False), ("trader", "succeeded", True), ("trader", "succeeded", False), ("trader", "succeeded", False),
    ]
    assert [c[3] for c in calls] == [r.prompt_tokens for r in vendor.seen()]


def test_the_sdk_works_through_an_offline_agent_with_no_vendor(sdk, agents):
    completion = sdk.chat.completions.create(model="Reflector", messages=[{"role": "user", "content": "Reflect."}])
    assert "offline" in completion.choices[0].message.content

    chunks = list(sdk.chat.completions.create(model="reflector", messages=[{"role": "user", "content": "x"}], stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"

    structured = sdk.chat.completions.create(
        model="reflector", messages=[{"role": "user", "content": "Signal?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "signal", "schema": SIGNAL}},
    )
    jsonschema.validate(json.loads(structured.choices[0].message.content), SIGNAL)
    assert LLMCall.objects.filter(synthetic=True, status="succeeded").count() == 3


def test_the_sdk_raises_its_own_errors_from_our_error_bodies(sdk, agents):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"

    bad = OpenAI(base_url=sdk.base_url, api_key="ta_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="trader", messages=[{"role": "user", "content": "x"}])


def test_a_real_server_serves_v1_itself_and_everything_else_through_django(site, agents):
    import httpx

    base = f"http://127.0.0.1:{site}"
    unknown = httpx.post(f"{base}/v1/embeddings", json={})
    wrong_host = httpx.get(f"{base}/v1/models", headers={"Host": "evil.example"})
    health = httpx.get(f"{base}/api/v1/health")
    too_big = httpx.post(f"{base}/v1/chat/completions", content=b"x" * 3_000_000, headers={"Authorization": "Bearer nope"})

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    assert wrong_host.status_code == 400 and wrong_host.json()["error"]["code"] == "invalid_host"
    assert health.status_code == 200
    assert too_big.status_code == 401  # who may call is decided before the body is read


def test_a_whole_answer_comes_with_its_content_length_and_a_stream_chunked(site, caller, agents):
    import httpx

    _, token = api_token_create(user=caller)
    url, auth = f"http://127.0.0.1:{site}/v1/chat/completions", {"Authorization": f"Bearer {token}"}
    body = {"model": "reflector", "messages": [{"role": "user", "content": "Lessons?"}]}

    whole = httpx.post(url, json=body, headers=auth)
    streamed = httpx.post(url, json={**body, "stream": True}, headers=auth)

    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"]
    assert whole.headers["content-length"] == str(len(whole.content))
    assert "transfer-encoding" not in whole.headers
    assert streamed.status_code == 200 and streamed.headers.get("transfer-encoding") == "chunked"
    assert streamed.text.rstrip().endswith("data: [DONE]")
