"""Budgets near the real cost: the real TradingAgents v0.3.0 graph, routed per role
through the gateway to a loopback vendor that counts tokens as OpenAI does and writes
report-sized answers cut at max_tokens. An analysis that uses T tokens and C dollars
without a budget finishes under 1.3 T and under 1.3 C; under 0.5 T it stops with a
402, within its budget, having used at least half of it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.management import call_command

from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentConfig, LLMCall, MeteredSession
from tests.conftest import CANARY_KEY
from tests.fake_chat import FakeChat
from tests.gateway_support import caller, running_servers  # noqa: F401
from tests.tradingagents_support import configure_args, run_driver, ta_python
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IN_PRICE, OUT_PRICE = Decimal("0.00015"), Decimal("0.0006")  # gpt-4o-mini's, per 1k


@pytest.fixture
def counting_vendor() -> Iterator[FakeChat]:
    fake = FakeChat(count_like_openai=True).start()
    fake.script("gpt-4o-mini", {"report": 600})
    yield fake
    fake.stop()


@pytest.fixture
def world(caller, counting_vendor) -> str:  # noqa: F811
    """The seeded roster, every agent on gpt-4o-mini at an `openai` provider that is the
    loopback vendor (so prompts are counted exactly, as OpenAI counts them)."""
    from agents_llm.agents.services import llm_config_upsert_primary
    from providers.services import provider_create

    ta_python()  # skip (or fail on CI) before starting anything
    provider = provider_create(name="openai-loopback", provider_type="openai", base_url=counting_vendor.base_url,
                               api_key=CANARY_KEY)
    call_command("seed", verbosity=0)
    for agent in AgentConfig.objects.all():
        llm_config_upsert_primary(agent=agent, data={
            "provider": provider, "model_name": "gpt-4o-mini",
            "cost_per_1k_input_tokens": IN_PRICE, "cost_per_1k_output_tokens": OUT_PRICE,
        })
    return api_token_create(user=caller, name="TradingAgents")[1]


def _analyse(tmp_path, server: str, token: str, session: MeteredSession) -> dict:
    # A folder per analysis: a second one in the same folder would first resolve the
    # first's outcome (TradingAgents' memory log), which needs market data from the network.
    workdir = tmp_path / str(session.pk)
    workdir.mkdir()
    return run_driver(workdir, *configure_args(f"{server}/v1", token, session=str(session.pk)))


def _spent(session: MeteredSession) -> MeteredSession:
    session.refresh_from_db()
    calls = LLMCall.objects.filter(session=session)
    assert session.spent_tokens == sum(c.input_tokens + c.output_tokens for c in calls)
    assert session.spent_usd == sum((c.cost for c in calls), Decimal(0))
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    return session


def test_an_analysis_finishes_under_1_3_times_its_cost_and_stops_within_half_of_it(tmp_path, caller, world):  # noqa: F811
    with running_servers(1) as ports:
        server = f"http://127.0.0.1:{ports[0]}"
        free, _ = session_create(owner=caller, name="unbudgeted")
        assert _analyse(tmp_path, server, world, free)["ok"]
        free = _spent(free)
        tokens, dollars = free.spent_tokens, free.spent_usd
        assert tokens > 5000 and dollars > 0

        by_tokens, _ = session_create(owner=caller, name="1.3 T", budget_tokens=int(tokens * 1.3))
        by_dollars, _ = session_create(owner=caller, name="1.3 C", budget_usd=(dollars * Decimal("1.3")).quantize(Decimal("1e-8")))
        half, _ = session_create(owner=caller, name="0.5 T", budget_tokens=tokens // 2)
        finished_tokens = _analyse(tmp_path, server, world, by_tokens)
        finished_dollars = _analyse(tmp_path, server, world, by_dollars)
        stopped = _analyse(tmp_path, server, world, half)

    assert finished_tokens["ok"], finished_tokens
    assert finished_dollars["ok"], finished_dollars
    assert _spent(by_tokens).spent_tokens <= by_tokens.budget_tokens
    assert _spent(by_dollars).spent_usd <= by_dollars.budget_usd
    assert not stopped["ok"] and (stopped["status"], stopped["code"]) == (402, "budget_exceeded"), stopped
    half = _spent(half)
    assert half.budget_tokens // 2 <= half.spent_tokens <= half.budget_tokens
