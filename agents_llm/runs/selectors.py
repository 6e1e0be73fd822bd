"""Reads of runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from agents_llm.runs.models import AgentRun, RunStatus


def run_list() -> QuerySet[AgentRun]:
    return AgentRun.objects.select_related("agent", "task", "provider")


RUN_SNAPSHOT_SIZE = 100
RUN_SNAPSHOT_FINISHED_SECONDS = 600
RUN_EVENTS = {"queued": "run.queued", "running": "run.started", "succeeded": "run.finished", "failed": "run.finished"}


def run_events_snapshot() -> list[tuple[str, int, dict[str, Any]]]:
    """What a socket subscribing to `runs` is sent first: each unfinished run and each
    run finished in the last ten minutes, as the event of its current status (the
    newest RUN_SNAPSHOT_SIZE, oldest first), so a live list converges after a reconnect."""
    from agents_llm.runs.runner import run_event_data

    recent = timezone.now() - timedelta(seconds=RUN_SNAPSHOT_FINISHED_SECONDS)
    runs = run_list().filter(
        Q(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)) | Q(finished_at__gte=recent)
    ).order_by("-pk")[:RUN_SNAPSHOT_SIZE]
    return [
        (RUN_EVENTS[run.status], run.pk, run_event_data(run, provider_name=run.provider.name if run.provider_id else ""))
        for run in reversed(runs)
    ]
