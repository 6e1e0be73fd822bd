"""Recorded runs and gateway calls for the usage tests: `from tests.usage_support import recorded_usage`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agents_llm.models import AgentRun, CallStatus, LLMCall, MeteredSession, RunStatus

NOW = datetime(2026, 5, 20, 12, 0, 0, tzinfo=UTC)


def record_usage(*, agents: list[Any], tasks: list[Any], providers: list[tuple[Any, str]], owner: Any,
                 runs: int, calls: int, days: int = 14, now: datetime = NOW, seed: int = 7) -> dict[str, Any]:
    """`runs` runs and `calls` gateway calls spread over the `days` days before `now`,
    with a mix of outcomes, fallbacks, cache/reasoning tokens and unknown prices."""
    rng = random.Random(seed)
    sessions = [
        MeteredSession.objects.create(owner=owner, name=f"analysis {n}", token_prefix=f"s{n}", token_hash=f"h{seed}-{n}")
        for n in range(3)
    ]
    run_rows, call_rows = [], []
    for _n in range(runs):
        provider, model = rng.choice(providers)
        failed = rng.random() < 0.1
        run_rows.append(AgentRun(
            agent=rng.choice(agents), task=rng.choice(tasks), input={"ticker": "NVDA"},
            status=RunStatus.FAILED if failed else RunStatus.SUCCEEDED, provider=provider, model_name=model,
            input_tokens=rng.randint(100, 2000), output_tokens=rng.randint(10, 500),
            cache_read_tokens=rng.randint(0, 50), reasoning_tokens=rng.randint(0, 30), requests=1,
            cost=None if rng.random() < 0.05 else Decimal(rng.randint(1, 5000)) / Decimal(100000),
            fell_back=rng.random() < 0.15, session=rng.choice([None, *sessions]),
        ))
    for _n in range(calls):
        provider, model = rng.choice(providers)
        status = rng.choices([CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.REFUSED], [85, 10, 5])[0]
        call_rows.append(LLMCall(
            agent=rng.choice(agents), alias="", user=owner, session=rng.choice([None, *sessions]),
            provider=provider, model_name=model, status=status,
            input_tokens=rng.randint(50, 3000), output_tokens=rng.randint(5, 800),
            cache_read_tokens=rng.randint(0, 200), cache_write_tokens=rng.randint(0, 100),
            reasoning_tokens=rng.randint(0, 60),
            cost=None if status != CallStatus.SUCCEEDED or rng.random() < 0.05 else Decimal(rng.randint(1, 9000)) / Decimal(100000),
            fell_back=rng.random() < 0.1, streamed=rng.random() < 0.3, latency_ms=rng.randint(100, 4000),
            created_at=now - timedelta(seconds=rng.randint(0, days * 86400 - 1)),
        ))
    AgentRun.objects.bulk_create(run_rows)
    LLMCall.objects.bulk_create(call_rows)
    # created_at of runs is auto_now_add: spread them afterwards.
    for run in AgentRun.objects.filter(pk__in=[r.pk for r in run_rows]):
        AgentRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(seconds=rng.randint(0, days * 86400 - 1)))
    return {"sessions": sessions}


@pytest.fixture
def usage_world(db, superuser, offline_provider, openai_provider, simple_schema):
    from agents_llm.agents.services import agent_create, assignment_create, task_create

    agents = [agent_create(name=f"agent-{n}", display_name=f"Agent {n}") for n in range(3)]
    tasks = [task_create(name="usage-task", description="", prompt_template="Go {ticker}.", response_schema=simple_schema)]
    for agent in agents:
        assignment_create(agent=agent, task=tasks[0])
    providers = [(offline_provider, "offline"), (openai_provider, "gpt-4o"), (openai_provider, "gpt-4o-mini")]
    return {"agents": agents, "tasks": tasks, "providers": providers, "owner": superuser}


@pytest.fixture
def recorded_usage(usage_world):
    extra = record_usage(runs=60, calls=140, **usage_world)
    return {**usage_world, **extra}
