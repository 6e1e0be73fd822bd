"""The cost of a run: explicit per-1k prices, else the price catalog, else unknown with the reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents_llm.models import AgentLLMConfig, AgentRun
from providers import catalog
from providers.services import provider_create
from tests.runtime_support import (  # noqa: F401 - fixtures
    ANSWER,
    clean_runtime,
    compatible_provider,
    fake_openai,
    llm_config,
    run_now,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def openai_at_fake(fake_openai):
    # An OpenAI-type provider (so the catalog knows its models) whose endpoint is the fake.
    return provider_create(
        name="openai-fake", provider_type="openai", base_url=fake_openai.base_url, api_key="sk-test-key-0001"
    )


def test_the_configs_explicit_prices_win(agent, task, assignment, fake_openai, openai_at_fake):
    llm_config(agent, openai_at_fake, "gpt-4o-mini", cost_per_1k_input_tokens=Decimal("1"),
               cost_per_1k_output_tokens=Decimal("2"))
    fake_openai.script("gpt-4o-mini", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    # 100 input tokens at $1/1k + 20 output tokens at $2/1k
    assert stored.cost == Decimal("0.14")
    assert "per-1k prices" in stored.cost_note


def test_a_model_the_catalog_knows_is_priced_from_the_catalog(agent, task, assignment, fake_openai, openai_at_fake):
    config = llm_config(agent, openai_at_fake, "gpt-4o-mini")
    # Prices left at 0 (as for a model the catalog learned after the config was saved).
    AgentLLMConfig.objects.filter(pk=config.pk).update(cost_per_1k_input_tokens=0, cost_per_1k_output_tokens=0)
    fake_openai.script("gpt-4o-mini", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    expected = catalog.cost_of_usage("openai", "gpt-4o-mini", input_tokens=100, output_tokens=20)
    assert expected is not None and expected > 0
    assert stored.cost == expected.quantize(Decimal("0.00000001"))
    assert stored.cost_note == "From the price catalog."


def test_a_fallback_model_is_priced_from_the_catalog_not_the_configs_prices(
    agent, task, assignment, fake_openai, openai_at_fake
):
    llm_config(agent, openai_at_fake, "gpt-4o", cost_per_1k_input_tokens=Decimal("5"),
               cost_per_1k_output_tokens=Decimal("5"), fallback_provider=openai_at_fake, fallback_model="gpt-4o-mini")
    fake_openai.script("gpt-4o", {"status": 500})
    fake_openai.script("gpt-4o-mini", {"answer": ANSWER})

    run = run_now(agent, task)

    assert run.model_name == "gpt-4o-mini"
    assert AgentRun.objects.get(pk=run.pk).cost == catalog.cost_of_usage("openai", "gpt-4o-mini", input_tokens=100, output_tokens=20).quantize(
        Decimal("0.00000001")
    )


def test_an_unknown_model_has_no_cost_and_says_why(agent, task, assignment, fake_openai):
    provider = compatible_provider("house", fake_openai.base_url)
    llm_config(agent, provider, "house-model-7b")
    fake_openai.script("house-model-7b", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == "succeeded"
    assert stored.cost is None
    assert "house-model-7b" in stored.cost_note and "per-1k prices" in stored.cost_note
    assert (stored.input_tokens, stored.output_tokens) == (100, 20)


def test_a_failed_try_on_an_unpriced_model_makes_the_whole_cost_unknown(agent, task, assignment, fake_openai,
                                                                         openai_at_fake):
    house = compatible_provider("house", fake_openai.base_url)
    llm_config(agent, house, "house-model-7b", priority=0)
    llm_config(agent, openai_at_fake, "gpt-4o-mini", priority=1)
    fake_openai.script("house-model-7b", {"raw": "{broken"})
    fake_openai.script("gpt-4o-mini", {"answer": ANSWER})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.model_name == "gpt-4o-mini"
    assert stored.cost is None and "house-model-7b" in stored.cost_note


def test_a_run_where_nothing_answered_cost_nothing_and_says_so(agent, task, assignment, fake_openai):
    provider = compatible_provider("house", fake_openai.base_url)
    llm_config(agent, provider, "house-model-7b")
    fake_openai.script("house-model-7b", {"status": 503})

    run = run_now(agent, task)

    stored = AgentRun.objects.get(pk=run.pk)
    assert stored.status == "failed"
    assert stored.cost == 0 and "nothing was billed" in stored.cost_note
