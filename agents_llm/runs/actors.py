"""Dramatiq actors for runs. Thin: take the id, call the service."""

from __future__ import annotations

import dramatiq

from agents_llm.runs.models import AgentRun


# A retry can only help before the run is claimed (say, the database blinked): after
# that run_execute finds it claimed and returns, so a few retries are safe.
@dramatiq.actor(max_retries=3, min_backoff=1_000, max_backoff=30_000, time_limit=30 * 60 * 1000)
def execute_run(run_id: int) -> None:
    from agents_llm.runs.runner import run_execute

    try:
        run_execute(run_id=run_id)
    except AgentRun.DoesNotExist:
        return  # deleted before a worker got to it
