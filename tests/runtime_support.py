"""Fixtures for the agent runtime tests: a clean registry, a loopback fake OpenAI
server, providers pointing at it, and a recorder for published events.

Import the fixtures a test module needs: `from tests.runtime_support import fake_openai, ...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import models as pydantic_ai_models

from tests.fake_openai import FakeOpenAI

ANSWER = {"signal": "buy", "confidence": 0.75}


@pytest.fixture(autouse=True)
def clean_runtime() -> Iterator[None]:
    from agents_llm.runs.registry import registry
    from providers.backends import clear_client_cache

    registry.clear()
    clear_client_cache()
    yield
    registry.clear()
    clear_client_cache()


@pytest.fixture
def fake_openai(monkeypatch) -> Iterator[FakeOpenAI]:
    # The fake is on loopback; real vendors stay unreachable (conftest turns requests off).
    monkeypatch.setattr(pydantic_ai_models, "ALLOW_MODEL_REQUESTS", True)
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """Every event the runtime publishes, in order."""
    from tradingagents import events

    calls: list[tuple[str, str, Any, dict[str, Any]]] = []
    monkeypatch.setattr(events, "publish", lambda topic, event, obj_id, data: calls.append((topic, event, obj_id, data)))
    return calls


def compatible_provider(name: str, base_url: str, api_key: str | None = "sk-fake-provider-key-0001"):
    from providers.services import provider_create

    return provider_create(name=name, provider_type="openai_compatible", base_url=base_url, api_key=api_key)


def llm_config(agent, provider, model_name: str, **data: Any):
    from agents_llm.agents.services import llm_config_create

    return llm_config_create(agent=agent, provider=provider, model_name=model_name, **data)


def run_now(agent, task, input: dict[str, Any] | None = None):
    from agents_llm.runs.runner import run_create, run_execute

    run = run_create(agent=agent, task=task, input=input or {"ticker": "NVDA"}, enqueue=False)
    return run_execute(run_id=run.pk)
