"""The agent registry: warm hits, rebuilds on every change that shapes the agent, one build under concurrency."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from agents_llm.agents.services import llm_config_update, task_update
from agents_llm.runs.registry import AgentRegistry, registry, runtime_for
from tests.runtime_support import clean_runtime, compatible_provider, llm_config  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def compat(db):
    return compatible_provider("compat", "http://127.0.0.1:18399/v1")


@pytest.fixture
def config(agent, compat):
    return llm_config(agent, compat, "model-a", temperature=0.5)


def get_or_create(agent, task, runtime_registry=None):
    """The built agent for (agent, task) from `runtime_registry` (the process's by default)."""
    if runtime_registry is None:
        return runtime_for(agent, task)
    seen = runtime_registry.versions()
    target = runtime_registry.target(agent.pk, task.pk, load=lambda: (agent, task), seen=seen)
    return runtime_registry.runtime(target, seen=seen)


def first_model(runtime):
    return runtime.model(runtime.chain.links[0])


def test_the_second_call_is_a_hit_returning_the_same_instance(agent, task, config):
    first = get_or_create(agent, task)
    second = get_or_create(agent, task)

    assert second is first
    assert registry.stats() == {"hits": 1, "misses": 1, "builds": 1}
    assert first.agent.model is first_model(first)
    assert [(link.provider_name, link.model_name) for link in first.chain.links] == [("compat", "model-a")]


def test_a_warm_hit_makes_no_query(agent, task, config, django_assert_num_queries):
    get_or_create(agent, task)

    with django_assert_num_queries(0):
        get_or_create(agent, task)


def test_changing_the_temperature_builds_a_new_instance(agent, task, config):
    before = get_or_create(agent, task)
    llm_config_update(config=config, data={"temperature": 1.1})

    after = get_or_create(agent, task)

    assert after is not before
    assert first_model(after).settings["temperature"] == 1.1


def test_changing_the_providers_key_builds_a_new_instance(agent, task, config, compat):
    from providers.services import provider_update

    before = get_or_create(agent, task)
    provider_update(provider=compat, data={}, api_key="sk-a-brand-new-key-9999")

    after = get_or_create(agent, task)

    assert after is not before
    assert first_model(after).client.api_key == "sk-a-brand-new-key-9999"


def test_changing_the_configs_own_key_builds_a_new_instance(agent, task, config):
    before = get_or_create(agent, task)
    llm_config_update(config=config, data={}, api_key="sk-config-override-7777")

    after = get_or_create(agent, task)

    assert after is not before
    assert first_model(after).client.api_key == "sk-config-override-7777"


def test_an_environment_key_change_builds_a_new_instance(agent, task, monkeypatch):
    from providers.services import provider_create

    openai = provider_create(name="openai-env", provider_type="openai")
    llm_config(agent, openai, "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-one-1111")
    before = get_or_create(agent, task)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-two-2222")

    after = get_or_create(agent, task)

    assert after is not before
    assert first_model(after).client.api_key == "sk-env-two-2222"


def test_changing_the_fallback_builds_a_new_instance(agent, task, config, compat):
    before = get_or_create(agent, task)
    llm_config_update(config=config, data={"fallback_provider": compat, "fallback_model": "model-b"})

    after = get_or_create(agent, task)

    assert after is not before
    assert [link.model_name for link in after.chain.links] == ["model-a", "model-b"]


def test_changing_the_schema_builds_a_new_instance(agent, task, config, simple_schema):
    before = get_or_create(agent, task)
    schema = {**simple_schema, "properties": {**simple_schema["properties"], "note": {"type": "string"}}}
    task = task_update(task=task, data={"response_schema": schema})

    after = get_or_create(agent, task)

    assert after is not before
    assert registry.stats()["builds"] == 2


def test_changing_the_instructions_builds_a_new_instance(agent, task, config):
    from agents_llm.agents.services import agent_update

    before = get_or_create(agent, task)
    agent = agent_update(agent=agent, data={"instructions": "You trade carefully."})

    assert get_or_create(agent, task) is not before


def test_twenty_concurrent_first_calls_build_exactly_one_instance(agent, task, config):
    barrier = threading.Barrier(20)

    def call():
        barrier.wait()
        try:
            return get_or_create(agent, task)
        finally:
            connection.close()  # a thread's own connection (with the pool: given back)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: call(), range(20)))

    assert len({id(r) for r in results}) == 1
    assert registry.stats()["builds"] == 1


def test_twenty_concurrent_first_calls_from_asyncio_build_exactly_one(agent, task, config):
    def call():
        try:
            return get_or_create(agent, task)
        finally:
            connection.close()  # a thread's own connection (with the pool: given back)

    async def twenty():
        return await asyncio.gather(*(asyncio.to_thread(call) for _ in range(20)))

    results = asyncio.run(twenty())

    assert len({id(r) for r in results}) == 1
    assert registry.stats()["builds"] == 1


def test_the_registry_is_bounded_least_recently_used_first(agent, task, config):
    from agents_llm.agents.services import assignment_create, task_create

    small = AgentRegistry(size=2)
    tasks = [task] + [
        task_create(name=f"t{i}", prompt_template="x", response_schema=task.response_schema) for i in range(2)
    ]
    for t in tasks[1:]:
        assignment_create(agent=agent, task=t)
    first = get_or_create(agent, tasks[0], small)
    get_or_create(agent, tasks[1], small)
    get_or_create(agent, tasks[0], small)  # touch: t0 is now the most recent
    get_or_create(agent, tasks[2], small)  # evicts t1

    assert get_or_create(agent, tasks[0], small) is first
    assert small.stats()["builds"] == 3
    get_or_create(agent, tasks[1], small)
    assert small.stats()["builds"] == 4
