"""A run's cost is the price catalog's on its full usage, cached, cache-write and
reasoning tokens included, through PydanticAI's OpenAI and Anthropic models against
loopback vendors that report them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from agents_llm.models import AgentRun
from providers.services import provider_create
from tests.fake_anthropic import FakeAnthropic
from tests.fake_chat import FakeChat
from tests.runtime_support import clean_runtime, llm_config, run_now  # noqa: F401

pytestmark = pytest.mark.django_db
PLACES = Decimal("0.00000001")


@pytest.fixture
def allow_loopback(monkeypatch):
    from pydantic_ai import models

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # only the loopback fakes are reachable


@pytest.fixture
def chat(allow_loopback) -> Iterator[FakeChat]:
    fake = FakeChat(cached_tokens=30, reasoning_tokens=12).start()
    yield fake
    fake.stop()


@pytest.fixture
def anthropic(allow_loopback) -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic(cache_read=5000, cache_write=700).start()
    yield fake
    fake.stop()


def _expected(run: AgentRun, model: str, provider_id: str) -> Decimal:
    usage = Usage(input_tokens=run.input_tokens, cache_read_tokens=run.cache_read_tokens,
                  cache_write_tokens=run.cache_write_tokens, output_tokens=run.output_tokens)
    return Decimal(str(calc_price(usage, model, provider_id=provider_id).total_price)).quantize(PLACES)


def test_an_openai_type_run_is_priced_on_its_cached_and_reasoning_tokens(agent, task, assignment, chat):
    provider = provider_create(name="openai", provider_type="openai", base_url=chat.base_url, api_key="sk-test-0001-aaaa")
    llm_config(agent, provider, "gpt-4o-mini")

    run = AgentRun.objects.get(pk=run_now(agent, task).pk)

    assert run.status == "succeeded", run.error
    assert (run.cache_read_tokens, run.reasoning_tokens) == (30, 12)
    assert run.cost == _expected(run, "gpt-4o-mini", "openai") > 0
    assert run.cost_basis[0]["source"] == "catalog"


def test_an_anthropic_type_run_is_priced_on_its_cache_reads_and_writes(agent, task, assignment, anthropic):
    provider = provider_create(name="anthropic", provider_type="anthropic", base_url=anthropic.base_url,
                               api_key="sk-ant-test-0001")
    llm_config(agent, provider, "claude-sonnet-4-5")

    run = AgentRun.objects.get(pk=run_now(agent, task).pk)

    assert run.status == "succeeded", run.error
    assert (run.cache_read_tokens, run.cache_write_tokens) == (5000, 700)
    assert run.input_tokens > 5700
    assert run.cost == _expected(run, "claude-sonnet-4-5", "anthropic")
