"""The loopback vendor counts usage as OpenAI does when asked to, writes report-sized
answers cut at the request's output cap, and streams as OpenAI streams — read here with
OpenAI's own SDK, as a client of a real vendor would read it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from openai import OpenAI

from agents_llm.metering.tokens import count_prompt, count_text
from tests.fake_openai import FakeOpenAI
from tests.test_prompt_token_counts import COOKBOOK_MESSAGES, WEATHER_MESSAGES, WEATHER_TOOLS

ANSWER = {"signal": "buy", "confidence": 0.75}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeOpenAI]]:
    started = {"fake": FakeOpenAI().start(), "counting": FakeOpenAI(count_usage=True).start()}
    yield started
    for server in started.values():
        server.stop()


def fresh(server: FakeOpenAI) -> FakeOpenAI:
    server.scripts.clear()
    server.requests.clear()
    return server


@pytest.fixture
def fake(servers) -> FakeOpenAI:
    return fresh(servers["fake"])


@pytest.fixture
def counting(servers) -> FakeOpenAI:
    return fresh(servers["counting"])


def client(server: FakeOpenAI) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-fake", max_retries=0, timeout=10)


def test_by_default_usage_is_fixed_and_answers_are_not_cut(fake):
    fake.script("m", {"answer": ANSWER})
    done = client(fake).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, max_tokens=1)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (100, 20, 120)
    assert json.loads(done.choices[0].message.content) == ANSWER
    assert done.choices[0].finish_reason == "stop"


def test_counting_usage_the_prompt_is_what_openai_counted_for_the_cookbook_messages(counting):
    counting.script("m", {"answer": ANSWER})
    done = client(counting).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES)
    assert done.usage.prompt_tokens == 124  # what the API answered the cookbook for gpt-4o
    assert done.usage.completion_tokens == count_text(json.dumps(ANSWER))
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    assert counting.requests_for("m")[0].body["messages"] == COOKBOOK_MESSAGES


def test_counting_usage_tools_and_response_format_count_as_the_gateway_counts_them(counting):
    counting.script("m", {"answer": ANSWER})
    schema = {"type": "object", "properties": {"signal": {"type": "string"}}, "required": ["signal"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "decision", "schema": schema}}
    with_tools = client(counting).chat.completions.create(model="m", messages=WEATHER_MESSAGES, tools=WEATHER_TOOLS)
    with_format = client(counting).chat.completions.create(model="m", messages=WEATHER_MESSAGES, response_format=fmt)
    sent_tools, sent_format = (r.body for r in counting.requests_for("m"))
    assert with_tools.usage.prompt_tokens == count_prompt("openai", "gpt-4o", sent_tools).tokens >= 101
    assert with_format.usage.prompt_tokens == count_prompt("openai", "gpt-4o", sent_format).tokens
    plain = count_prompt("openai", "gpt-4o", {"messages": WEATHER_MESSAGES}).tokens
    assert with_format.usage.prompt_tokens > plain + count_text(json.dumps(schema, separators=(",", ":")))
    # A tool call's output tokens: its name, its arguments and the call's framing.
    (call,) = with_tools.choices[0].message.tool_calls
    assert with_tools.usage.completion_tokens == count_text(call.function.arguments) + count_text("get_current_weather") + 3


def test_a_report_step_writes_that_many_tokens_of_prose(counting):
    counting.script("m", {"report": 1500})
    done = client(counting).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES)
    text = done.choices[0].message.content
    assert count_text(text) == done.usage.completion_tokens == 1500
    assert done.choices[0].finish_reason == "stop"
    assert "Revenue grew" in text and len(set(text.split())) > 50


@pytest.mark.parametrize(("cap", "expected"), [
    ({"max_tokens": 300}, 300),
    ({"max_completion_tokens": 200}, 200),
    ({"max_completion_tokens": 250, "max_tokens": 900}, 250),
    ({"max_tokens": 1}, 1),
    ({"max_tokens": 5000}, 1500),
])
def test_a_report_is_cut_at_the_requests_output_cap_with_finish_reason_length(counting, cap, expected):
    counting.script("m", {"report": 1500})
    done = client(counting).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, **cap)
    assert done.usage.completion_tokens == count_text(done.choices[0].message.content) == expected
    assert done.choices[0].finish_reason == ("stop" if expected == 1500 else "length")


def test_a_report_is_cut_at_the_cap_even_without_counted_usage(fake):
    fake.script("m", {"report": 800})
    done = client(fake).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, max_tokens=120)
    assert count_text(done.choices[0].message.content) == 120
    assert done.choices[0].finish_reason == "length"


def test_counting_usage_any_answer_is_cut_at_the_cap(counting):
    counting.script("m", {"raw": "word " * 400})
    done = client(counting).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, max_tokens=50)
    assert done.usage.completion_tokens == count_text(done.choices[0].message.content) == 50
    assert done.choices[0].finish_reason == "length"


def test_a_report_is_a_tool_call_when_the_request_forces_one_and_its_arguments_are_cut_at_the_cap(counting):
    counting.script("m", {"report": 400})
    forced = {"type": "function", "function": {"name": "get_current_weather"}}
    whole = client(counting).chat.completions.create(model="m", messages=WEATHER_MESSAGES, tools=WEATHER_TOOLS, tool_choice=forced)
    (call,) = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls"
    assert count_text(json.loads(call.function.arguments)["report"]) == 400
    cut = client(counting).chat.completions.create(model="m", messages=WEATHER_MESSAGES, tools=WEATHER_TOOLS,
                                                   tool_choice="required", max_tokens=100)
    (call,) = cut.choices[0].message.tool_calls
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 100
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.function.arguments)  # cut mid-way, as a real model's would be
    unforced = client(counting).chat.completions.create(model="m", messages=WEATHER_MESSAGES, tools=WEATHER_TOOLS)
    assert unforced.choices[0].message.tool_calls is None and count_text(unforced.choices[0].message.content) == 400


@pytest.mark.parametrize("server", ["fake", "counting"])
def test_a_stream_with_include_usage_ends_with_the_usage_the_whole_answer_has(server, request):
    vendor = request.getfixturevalue(server)
    vendor.script("m", {"report": 700})
    whole = client(vendor).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, max_tokens=500)
    chunks = list(client(vendor).chat.completions.create(
        model="m", messages=COOKBOOK_MESSAGES, max_tokens=500, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert (whole.usage.completion_tokens, whole.usage.prompt_tokens) == ((500, 124) if server == "counting" else (20, 100))


def test_a_stream_without_include_usage_has_no_usage(counting):
    counting.script("m", {"report": 50})
    chunks = list(client(counting).chat.completions.create(model="m", messages=COOKBOOK_MESSAGES, stream=True))
    assert all(c.usage is None for c in chunks)
    assert count_text("".join(c.choices[0].delta.content or "" for c in chunks)) == 50


def test_a_streamed_tool_call_carries_its_name_and_arguments(counting):
    counting.script("m", {"answer": ANSWER})
    chunks = list(client(counting).chat.completions.create(
        model="m", messages=WEATHER_MESSAGES, tools=WEATHER_TOOLS, stream=True, stream_options={"include_usage": True}))
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_current_weather", ANSWER)]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.prompt_tokens == count_prompt("openai", "gpt-4o", counting.requests[0].body).tokens
