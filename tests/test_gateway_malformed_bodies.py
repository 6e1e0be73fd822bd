"""Whatever a client sends to /v1/chat/completions, a malformed body is a 4xx in
OpenAI's error shape naming the field, never a 500: the cases a hostile client tried,
then several hundred bodies made by mutating a valid one."""

from __future__ import annotations

import json
import random

import pytest

from agents_llm.models import LLMCall
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db

VALID = {"model": "trader", "messages": [{"role": "user", "content": "A signal for NVDA?"}]}


@pytest.fixture
def offline_agent(offline_provider):
    return make_agent("trader", offline_provider, "offline")


def _refused(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize("tool_choice", [{"function": "f"}, 1, ["f"], {"type": "function", "function": ["f"]}, True])
def test_a_tool_choice_of_the_wrong_shape_is_a_400_naming_it(gateway, offline_agent, tool_choice):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]

    error = _refused(gateway.chat({**VALID, "tools": tools, "tool_choice": tool_choice}))

    assert error["param"] == "tool_choice"
    assert not LLMCall.objects.exists()


def test_a_role_that_is_not_a_string_is_a_400_naming_it(gateway, offline_agent):
    error = _refused(gateway.chat({**VALID, "messages": [{"role": ["user"], "content": "hi"}]}))

    assert error["param"] == "messages[0].role"


def test_a_model_name_with_a_nul_character_is_a_400_naming_it(gateway, offline_agent):
    error = _refused(gateway.chat({**VALID, "model": "trader\u0000"}))

    assert error["param"] == "model"


@pytest.mark.parametrize("opening", ["[", "{\"a\":"])
def test_a_hundred_thousand_nested_brackets_are_a_400(gateway, offline_agent, opening):
    body = '{"model": "trader", "messages": [], "x": ' + opening * 100_000

    _refused(gateway.chat(body))


def test_an_output_cap_beyond_any_budget_is_a_400_naming_it(gateway, offline_agent):
    error = _refused(gateway.chat({**VALID, "max_tokens": 4611686018427387904}))

    assert error["param"] == "max_tokens"


def _mutations(rng: random.Random):
    junk = [None, True, 0, -1, 1.5, 2**70, "", "x" * 300, [], {}, [None], {"": None}, "\u0000", [[[]]]]
    fields = ["model", "messages", "stream", "stream_options", "tools", "tool_choice", "response_format",
              "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "n", "seed"]
    for _ in range(300):
        body = json.loads(json.dumps(VALID))
        for _ in range(rng.randint(1, 3)):
            where = rng.choice(["top", "message", "tool", "format"])
            if where == "top":
                body[rng.choice(fields)] = rng.choice(junk)
            elif where == "message":
                body["messages"] = [{rng.choice(["role", "content", "name", "tool_calls"]): rng.choice(junk),
                                     "role": "user"} if rng.random() < 0.8 else rng.choice(junk)]
            elif where == "tool":
                body["tools"] = [{"type": "function", "function": {"name": rng.choice(["f", *junk[:4]]),
                                                                   "parameters": rng.choice(junk)}}]
                body["tool_choice"] = rng.choice(["auto", "f", {"type": "function", "function": {"name": "f"}}, *junk])
            else:
                body["response_format"] = {"type": rng.choice(["json_schema", "json_object", "text", *junk]),
                                           "json_schema": rng.choice([{"schema": rng.choice(junk)}, *junk])}
        yield body


def test_several_hundred_mutated_bodies_get_only_4xx_in_openais_error_shape(gateway, offline_agent):
    statuses = {}
    for body in _mutations(random.Random(7)):
        response = gateway.chat(body)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (body, response.content[:300])
        if response.status_code >= 400:
            _refused(response, response.status_code)

    assert sum(n for status, n in statuses.items() if 400 <= status < 500) >= 100  # most are refused


# A client's schema cannot make the server spend seconds of CPU ------------------------


def test_an_answer_checked_against_a_catastrophic_pattern_costs_milliseconds_not_seconds(
    gateway, vendor, vendor_provider
):
    import time

    make_agent("patterned", vendor_provider, "vendor-p")
    vendor.script("vendor-p", {"tool": "f", "arguments": json.dumps({"s": "x" * 28})})
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(x+)+y$"}}, "required": ["s"]}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]

    started = time.process_time()
    response = gateway.chat({"model": "patterned", "messages": user_message(), "tools": tools,
                             "tool_choice": {"type": "function", "function": {"name": "f"}}})
    cpu = time.process_time() - started

    error = _refused(response, 502)
    assert error["code"] == "invalid_output" and "does not match" in error["message"]
    assert cpu < 1.0  # Python's re takes ~10 s on this; RE2 is linear in the answer


def test_a_pattern_that_cannot_run_in_linear_time_is_a_400_naming_where(gateway, offline_agent):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(?=x)x$"}}}
    body = {**VALID, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}

    error = _refused(gateway.chat(body))

    assert error["param"] == "response_format.json_schema.schema"


def test_more_tools_than_openai_allows_are_a_400(gateway, offline_agent):
    tools = [{"type": "function", "function": {"name": f"t{i}", "parameters": {"type": "object"}}} for i in range(129)]

    assert _refused(gateway.chat({**VALID, "tools": tools}))["param"] == "tools"


def test_a_schema_larger_than_the_limit_is_a_400_before_any_work(gateway, offline_agent, monkeypatch):
    from agents_llm.gateway import protocol

    def no_work(*args, **kwargs):
        raise AssertionError("an oversized schema was walked or compiled")

    monkeypatch.setattr(protocol.output_schema, "unrunnable_pattern", no_work)
    monkeypatch.setattr(protocol, "validator", no_work)
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(10_000)}}
    body = {**VALID, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}

    error = _refused(gateway.chat(body))

    assert error["param"] == "response_format.json_schema.schema" and "larger than" in error["message"]
