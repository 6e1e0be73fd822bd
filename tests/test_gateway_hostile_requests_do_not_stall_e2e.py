"""One hostile request may not stall a server process (issue 27, item 1): while a
request whose tools' patterns backtrack catastrophically in Python's `re` is answered,
and while bodies with 5,000 tools or a 10,000-property response_format are refused,
a plain call to the same process is answered within a bound (not seconds)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.gateway_support import caller, make_agent, running_servers, user_message, vendor, vendor_provider  # noqa: F401
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOSTILE_PATTERN = "^(x+)+y$"  # Python's re: ~10 s for 28 x's; three such properties: ~30 s


def _hostile_bodies() -> list[dict]:
    properties = {f"s{i}": {"type": "string", "pattern": HOSTILE_PATTERN} for i in range(3)}
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    many_tools = [{"type": "function", "function": {"name": f"t{i}", "description": "x" * 200,
                                                     "parameters": {"type": "object"}}} for i in range(5000)]
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(10_000)}}
    return [
        {"model": "patterned", "messages": user_message(), "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
         "tool_choice": {"type": "function", "function": {"name": "f"}}},
        {"model": "plain", "messages": user_message(), "tools": many_tools},
        {"model": "plain", "messages": user_message(),
         "response_format": {"type": "json_schema", "json_schema": {"name": "wide", "schema": wide}}},
    ]


def test_a_plain_call_is_answered_promptly_while_hostile_requests_hit_the_same_process(caller, vendor, vendor_provider):  # noqa: F811
    make_agent("patterned", vendor_provider, "vendor-p")
    make_agent("plain", vendor_provider, "vendor-plain")
    vendor.script("vendor-p", {"tool": "f", "arguments": json.dumps({f"s{i}": "x" * 28 for i in range(3)})})
    token = api_token_create(user=caller, name="hostile")[1]
    headers = {"Authorization": f"Bearer {token}"}

    with running_servers(1) as ports:
        url = f"http://127.0.0.1:{ports[0]}/v1/chat/completions"
        plain = {"model": "plain", "messages": user_message()}
        assert httpx.post(url, json=plain, headers=headers, timeout=30).status_code == 200  # warm

        hostile_statuses: list[int] = []

        def hostile() -> None:
            for body in _hostile_bodies():
                hostile_statuses.append(httpx.post(url, json=body, headers=headers, timeout=60).status_code)

        thread = threading.Thread(target=hostile)
        thread.start()
        latencies = []
        while thread.is_alive():
            started = time.perf_counter()
            assert httpx.post(url, json=plain, headers=headers, timeout=30).status_code == 200
            latencies.append(time.perf_counter() - started)
        thread.join()

    assert sorted(hostile_statuses) == [400, 400, 502], hostile_statuses  # 502: the answer fails its own schema
    assert latencies and max(latencies) < 1.0, latencies
