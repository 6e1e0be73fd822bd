"""Prompt token counts: exact where OpenAI's counting is known (the cookbook's and
openai-chat-tokens' requests, with the counts the API answered for them), never below it
where it is not, and a byte bound for every other vendor that is never below it either."""

from __future__ import annotations

import base64
import copy
import json
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agents_llm.metering import tokens
from agents_llm.metering.tokens import count_prompt, count_text, openai_encoding

# The tiktoken cookbook's example (How_to_count_tokens_with_tiktoken): the API counted
# 129 prompt tokens on gpt-3.5-turbo and gpt-4, 124 on gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]

# The cookbook's tools example: 105 on gpt-3.5-turbo and gpt-4, 101 on gpt-4o and gpt-4o-mini.
WEATHER_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}]
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]

EMPTY = {"type": "object", "properties": {}}
RECIPE = {
    "name": "get_recipe",
    "parameters": {
        "type": "object", "required": ["ingredients", "instructions", "time_to_cook"],
        "properties": {
            "ingredients": {"type": "array", "items": {
                "type": "object", "required": ["name", "unit", "amount"],
                "properties": {
                    "name": {"type": "string"},
                    "unit": {"enum": ["grams", "ml", "cups", "pieces", "teaspoons"], "type": "string"},
                    "amount": {"type": "number"},
                }}},
            "instructions": {"type": "array", "items": {"type": "string"}, "description": "Steps to prepare the recipe (no numbering)"},
            "time_to_cook": {"type": "number", "description": "Total time to prepare the recipe in minutes"},
        },
    },
}
# openai-chat-tokens' test cases: (messages, functions, what gpt-3.5-turbo's API counted).
MEASURED = [
    ([{"role": "user", "content": "hello"}], None, 8),
    ([{"role": "user", "content": "hello world"}], None, 9),
    ([{"role": "system", "content": "hello:"}], None, 9),
    ([{"role": "system", "content": "# Important: you're the best robot"}, {"role": "user", "content": "hello robot"},
      {"role": "assistant", "content": "hello world"}], None, 27),
    ([{"role": "user", "content": "hello"}], [{"name": "foo", "parameters": EMPTY}], 31),
    ([{"role": "user", "content": "hello"}], [{"name": "foo", "description": "Do a foo", "parameters": EMPTY}], 36),
    ([{"role": "user", "content": "hello"}], [{"name": "bing_bong", "description": "Do a bing bong", "parameters": {
        "type": "object", "properties": {"foo": {"type": "string"}, "bar": {"type": "number", "description": "A number"}}}}], 57),
    ([{"role": "user", "content": "hello"}], [{"name": "bing_bong", "description": "Do a bing bong", "parameters": {
        "type": "object", "properties": {"foo": {"type": "object", "properties": {
            "bar": {"type": "string", "enum": ["a", "b", "c"]}, "baz": {"type": "boolean"}}}}}}], 68),
    ([{"role": "user", "content": "hello world"}, {"role": "function", "name": "do_stuff", "content": '{"foo": "bar", "baz": 1.5}'}], None, 28),
    ([{"role": "assistant", "content": "", "function_call": {"name": "do_stuff", "arguments": '{"foo": "bar", "baz": 1.5}'}}], None, 26),
    ([{"role": "system", "content": "Hello:"}, {"role": "system", "content": "Hello"}, {"role": "user", "content": "Hi there"}],
     [{"name": "do_stuff", "parameters": EMPTY}], 40),
    ([{"role": "user", "content": "hello"}], [RECIPE], 106),
]


@pytest.mark.parametrize(("model", "expected", "encoding"), [
    ("gpt-3.5-turbo", 129, "cl100k_base"), ("gpt-4-0613", 129, "cl100k_base"), ("gpt-4", 129, "cl100k_base"),
    ("gpt-4o", 124, "o200k_base"), ("gpt-4o-mini", 124, "o200k_base"), ("gpt-4.1-mini", 124, "o200k_base"),
])
def test_the_cookbook_messages_count_exactly_what_the_openai_api_counted(model, expected, encoding):
    count = count_prompt("openai", model, {"model": model, "messages": COOKBOOK_MESSAGES})
    assert count == tokens.PromptCount(expected, True, encoding)


def test_openrouter_counts_its_openai_models_like_openai_and_bounds_the_others():
    body = {"messages": COOKBOOK_MESSAGES}
    assert count_prompt("openrouter", "openai/gpt-4o", body).tokens == 124
    other = count_prompt("openrouter", "anthropic/claude-sonnet-4", body)
    assert other.method == "utf8-bound" and not other.exact and other.tokens > 124


@pytest.mark.parametrize(("provider_type", "model"), [
    ("anthropic", "claude-sonnet-4-0"), ("google", "gemini-2.5-pro"), ("mistral", "mistral-large-latest"),
    ("openai_compatible", "gpt-4o"), ("ollama", "llama3.1"), ("openai", "davinci-002"), ("openai", "gpt-7-turbo"),
])
def test_other_vendors_and_unknown_openai_models_get_the_utf8_bound(provider_type, model):
    assert openai_encoding(provider_type, model) is None
    count = count_prompt(provider_type, model, {"messages": COOKBOOK_MESSAGES})
    text = sum(len(v.encode()) for m in COOKBOOK_MESSAGES for v in m.values())
    assert count == tokens.PromptCount(
        text + tokens.OTHER_PER_MESSAGE * len(COOKBOOK_MESSAGES) + tokens.OTHER_PER_REQUEST, False, "utf8-bound")


def test_fine_tuned_models_count_with_their_base_models_encoding():
    assert openai_encoding("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123") == "o200k_base"
    assert openai_encoding("openai", "ft:gpt-3.5-turbo-0125:acme::abc123") == "cl100k_base"


@pytest.mark.parametrize(("model", "measured"), [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)])
def test_tools_are_never_counted_below_what_the_api_counted_and_only_by_the_documented_margin_above(model, measured):
    count = count_prompt("openai", model, {"messages": WEATHER_MESSAGES, "tools": WEATHER_TOOLS})
    assert not count.exact and count.method.endswith("+margins")
    assert measured <= count.tokens <= measured + tokens.TOOLS_MARGIN + 2 * tokens.TOOL_FUNCTION_MARGIN


@pytest.mark.parametrize(("messages", "functions", "measured"), MEASURED)
def test_openai_chat_tokens_measured_requests_are_never_undercounted(messages, functions, measured):
    body = {"messages": messages, **({"functions": functions} if functions else {})}
    count = count_prompt("openai", "gpt-3.5-turbo", body)
    assert measured <= count.tokens <= measured + 25
    assert count.exact == (functions is None and all(m["role"] in ("system", "user", "assistant") and "function_call" not in m
                                                     for m in messages))


def test_tool_choice_naming_a_function_and_tool_calls_and_tool_results_add_their_tokens():
    base = {"messages": WEATHER_MESSAGES, "tools": WEATHER_TOOLS}
    forced = {**base, "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}}}
    assert count_prompt("openai", "gpt-4o", forced).tokens == count_prompt("openai", "gpt-4o", base).tokens + 4 + count_text("get_current_weather")
    arguments = '{"location": "San Francisco, CA"}'
    call = {"id": "call_abc", "type": "function", "function": {"name": "get_current_weather", "arguments": arguments}}
    turn = WEATHER_MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"temperature": 18}'},
    ]
    plain = count_prompt("openai", "gpt-4o", {"messages": WEATHER_MESSAGES}).tokens
    with_turn = count_prompt("openai", "gpt-4o", {"messages": turn})
    call_tokens = 3 + sum(count_text(s) for s in ("call_abc", "function", "get_current_weather", arguments))
    result_tokens = 3 + sum(count_text(s) for s in ("tool", "call_abc", '{"temperature": 18}'))
    assert with_turn.tokens == plain + 3 + count_text("assistant") + call_tokens + result_tokens
    assert not with_turn.exact


def test_a_json_schema_response_format_counts_its_schema_and_a_json_object_format_a_margin():
    schema = {"type": "object", "properties": {"rating": {"type": "string", "enum": ["Buy", "Hold", "Sell"]},
                                               "reason": {"type": "string"}}, "required": ["rating", "reason"]}
    messages = [{"role": "user", "content": "Rate NVDA."}]
    plain = count_prompt("openai", "gpt-4o", {"messages": messages})
    fmt = {"type": "json_schema", "json_schema": {"name": "decision", "strict": True, "schema": schema}}
    structured = count_prompt("openai", "gpt-4o", {"messages": messages, "response_format": fmt})
    assert plain.exact and not structured.exact
    assert structured.tokens - plain.tokens >= count_text(json.dumps(schema, separators=(",", ":"))) + tokens.FORMAT_MARGIN
    as_object = count_prompt("openai", "gpt-4o", {"messages": messages, "response_format": {"type": "json_object"}})
    assert as_object.tokens == plain.tokens + tokens.JSON_OBJECT_MARGIN
    as_text = count_prompt("openai", "gpt-4o", {"messages": messages, "response_format": {"type": "text"}})
    assert as_text == plain


def test_non_ascii_text_counts_its_tokens_and_the_bound_its_bytes():
    content = "Die Größe des Marktes: 日本語のテキスト, emoji 📈 — naïve café"
    body = {"messages": [{"role": "user", "content": content}]}
    exact = count_prompt("openai", "gpt-4o", body)
    assert exact == tokens.PromptCount(3 + count_text("user") + count_text(content) + 3, True, "o200k_base")
    assert count_text(content) < len(content.encode()) < count_prompt("anthropic", "claude-sonnet-4-0", body).tokens


def test_empty_content_and_no_messages_cost_only_the_formats_tokens():
    assert count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": ""}]}).tokens == 3 + 1 + 3
    assert count_prompt("openai", "gpt-4o", {"messages": []}).tokens == 3
    assert count_prompt("openai", "gpt-4o", {}).tokens == 3
    assert count_prompt("openai", "gpt-4o", {"messages": [{"role": "assistant", "content": None}]}).tokens == 3 + 1 + 3


def test_several_text_parts_are_never_counted_below_their_joined_text():
    parts = ["The quarterly revenue", " grew by twelve percent", "", "多语言"]
    multi = count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": [{"type": "text", "text": p} for p in parts]}]})
    joined = count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": "".join(parts)}]})
    assert not multi.exact and multi.tokens >= joined.tokens
    one = count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": [{"type": "text", "text": parts[0]}]}]})
    assert one == count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": parts[0]}]})


def test_images_cost_the_most_the_models_rule_charges_and_audio_its_duration_at_the_lowest_bitrate():
    def body(detail):
        return {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": detail}}]}]}
    text = 3 + 1 + 3
    assert count_prompt("openai", "gpt-4o", body("low")).tokens == text + 85
    assert count_prompt("openai", "gpt-4o", body("high")).tokens == text + 85 + 170 * 8
    assert count_prompt("openai", "gpt-4o-mini", body("auto")).tokens == text + 2833 + 5667 * 8
    assert count_prompt("openai", "gpt-4.1-nano", body("high")).tokens == text + 3779
    assert count_prompt("anthropic", "claude-sonnet-4-0", body("high")).tokens >= tokens.OTHER_IMAGE_TOKENS
    ten_seconds_of_mp3 = base64.b64encode(b"\0" * 10_000).decode()  # 8 kbit/s for 10 s
    audio = {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": ten_seconds_of_mp3, "format": "mp3"}}]}]}
    assert count_prompt("openai", "gpt-4o-audio-preview", audio).tokens >= text + 100


def test_reasoning_models_add_the_documented_margin():
    body = {"messages": COOKBOOK_MESSAGES}
    for model in ("o3-mini", "o1", "o4-mini", "gpt-5", "gpt-5-mini"):
        assert count_prompt("openai", model, body) == tokens.PromptCount(124 + tokens.REASONING_MARGIN, False, "o200k_base+margins")


def test_counting_is_pure_and_deterministic():
    body = {"messages": WEATHER_MESSAGES + [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
            "tools": WEATHER_TOOLS, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": EMPTY}}}
    before = copy.deepcopy(body)
    for provider_type, model in (("openai", "gpt-4o"), ("openai", "gpt-4"), ("anthropic", "claude-sonnet-4-0")):
        counts = {count_prompt(provider_type, model, body) for _ in range(3)}
        assert len(counts) == 1
    assert body == before


def test_texts_beyond_what_the_tokenizers_python_wrapper_accepts_are_counted():
    text = " price action" * 100_000  # 1.3 M characters, 200,000 tokens
    assert count_text(text) == 200_000
    assert count_prompt("openai", "gpt-4o", {"messages": [{"role": "user", "content": text}]}).tokens == 200_007


def test_a_100_kb_prompt_is_counted_in_milliseconds():
    paragraph = ("NVDA closed at 142.30 (+2.1%) on volume of 310M; the 50-day SMA is 131.7 and RSI(14) is 61. "
                 "Analysts raised targets after data-center revenue beat estimates. ")
    body = {"messages": [{"role": "system", "content": "You are a market analyst."},
                         {"role": "user", "content": (paragraph * 700)[:100_000]}], "tools": WEATHER_TOOLS}
    tokens.preload()
    for provider_type in ("openai", "anthropic"):
        count_prompt(provider_type, "gpt-4o", body)
        start = time.perf_counter()
        for _ in range(10):
            count_prompt(provider_type, "gpt-4o", body)
        per_call = (time.perf_counter() - start) / 10
        assert per_call < 0.05, f"{provider_type}: {per_call * 1000:.1f} ms"


# The bound is never below the exact count -------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "developer"]), "content": text},
    optional={"name": st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)},
)
prop = st.fixed_dictionaries({"type": st.sampled_from(["string", "number", "boolean"])},
                             optional={"description": text, "enum": st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=30)})
function = st.fixed_dictionaries({
    "name": st.from_regex(r"[a-z_]{1,20}", fullmatch=True),
    "parameters": st.fixed_dictionaries({"type": st.just("object"),
                                         "properties": st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), prop, max_size=6)}),
}, optional={"description": text})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(message, max_size=8), functions=st.lists(function, max_size=3))
def test_the_utf8_bound_is_never_below_the_exact_o200k_count(messages, functions):
    body = {"messages": messages}
    if functions:
        body["tools"] = [{"type": "function", "function": f} for f in functions]
    exact = count_prompt("openai", "gpt-4o", body)
    bound = count_prompt("anthropic", "claude-sonnet-4-0", body)
    assert bound.tokens >= exact.tokens
    assert count_prompt("mistral", "mistral-large-latest", body).tokens == bound.tokens


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["role", "content", "type", "text", "name", "function", "parameters", "properties", "enum", "items",
         "tool_calls", "image_url", "detail", "json_schema", "schema", "required", "x"]), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(["messages", "tools", "functions", "tool_choice", "response_format", "model"]),
                            json_value | st.lists(json_value, max_size=4), max_size=5))
@example(body={"tools": [{"function": {"name": "f"}}], "tool_choice": {"function": "f"}})
def test_any_json_body_is_counted_without_an_error(body):
    for provider_type, model in (("openai", "gpt-4o"), ("openai", "o3"), ("anthropic", "claude-sonnet-4-0")):
        assert count_prompt(provider_type, model, body).tokens >= 3
