"""Two pieces of work with two lineups run at once: concurrent gateway calls for the same
agent, in two sessions spread over two uvicorn processes, are each answered by their own
session's lineup (header and call row), and no agent's LLM config changes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from agents_llm.agents.services import lineup_create
from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentLLMConfig, LLMCall, LLMPreset
from tests.gateway_support import caller, make_agent, running_servers, vendor, vendor_provider  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CALLS_PER_SESSION = 6
DELAY = 1.0  # each vendor answer takes this long: the calls overlap, or the test is too slow


def _configs() -> list[tuple]:
    return list(AgentLLMConfig.objects.order_by("pk").values_list(
        "agent__name", "provider__name", "model_name", "temperature", "fallback_model", "updated_at"))


def test_two_sessions_with_two_lineups_call_the_same_agent_at_once_and_each_gets_its_own_model(caller, vendor, vendor_provider):
    trader = make_agent("trader", vendor_provider, "config-trader", aliases=["Trader"])
    analyst = make_agent("market_analyst", vendor_provider, "config-analyst")
    deep = LLMPreset.objects.create(name="deep", provider=vendor_provider, model_name="model-b", temperature=0.1)
    lineup_a = lineup_create(name="lineup-a", roles={trader: {"provider": vendor_provider, "model_name": "model-a"}})
    lineup_b = lineup_create(name="lineup-b", roles={trader: {"preset": deep}, analyst: {"preset": deep}})
    session_a, token_a = session_create(owner=caller, name="NVDA with A", lineup_id=lineup_a.pk)
    session_b, token_b = session_create(owner=caller, name="NVDA with B", lineup_id=lineup_b.pk)
    for model in ("model-a", "model-b", "config-analyst"):
        vendor.script(model, {"auto": True, "delay": DELAY})
    configs_before, history_before = _configs(), AgentLLMConfig.history.count()
    plan = [(token_a, "Trader"), (token_b, "Trader")] * CALLS_PER_SESSION + [(token_a, "market_analyst"), (token_b, "market_analyst")]

    with running_servers(2) as ports:
        def call(index: int) -> httpx.Response:
            token, model = plan[index]
            return httpx.post(
                f"http://127.0.0.1:{ports[index % 2]}/v1/chat/completions", timeout=60,
                json={"model": model, "messages": [{"role": "user", "content": "A signal for NVDA."}]},
                headers={"Authorization": f"Bearer {token}"},
            )

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(plan)) as pool:
            responses = list(pool.map(call, range(len(plan))))
        elapsed = time.monotonic() - started

    assert [r.status_code for r in responses] == [200] * len(plan), [r.text for r in responses if r.status_code != 200]
    assert elapsed < len(plan) * DELAY / 2, f"the calls did not overlap: {elapsed:.1f} s"
    expected = {(token_a, "Trader"): "model-a", (token_b, "Trader"): "model-b",
                (token_a, "market_analyst"): "config-analyst", (token_b, "market_analyst"): "model-b"}
    for (token, model), response in zip(plan, responses, strict=True):
        assert response.headers["x-vendor-model"] == expected[(token, model)]
        assert response.headers["x-provider"] == "vendor"
        call = LLMCall.objects.get(pk=int(response.headers["x-call-id"]))
        assert call.session_id == (session_a.pk if token == token_a else session_b.pk)
        assert call.model_name == expected[(token, model)]
    rows = LLMCall.objects.filter(agent=trader)
    assert set(rows.filter(session=session_a).values_list("model_name", flat=True)) == {"model-a"}
    assert set(rows.filter(session=session_b).values_list("model_name", flat=True)) == {"model-b"}
    assert rows.count() == 2 * CALLS_PER_SESSION
    assert {s.body["temperature"] for s in vendor.seen("model-b")} == {0.1}
    assert len(vendor.seen("model-a")) == len(vendor.seen("model-b")) - 1 == CALLS_PER_SESSION
    assert _configs() == configs_before
    assert AgentLLMConfig.history.count() == history_before
