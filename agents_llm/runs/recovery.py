"""Re-sending runs whose broker messages a broker restart lost.

Redis without persistence forgets its queues when it restarts; runs sent before that
stay `queued` with an enqueue time, and the regular sweep (runner.runs_requeue_stale)
only re-sends those after ten minutes, since it cannot tell a lost message from a
long queue. A restart can be told: the broker's uptime is shorter than the run's wait."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from django.utils import timezone

from agents_llm.runs.models import AgentRun, RunStatus

logger = logging.getLogger(__name__)


def broker_started_at() -> datetime | None:
    """When the Redis broker last started, or None (another broker, or unreachable)."""
    client = getattr(dramatiq.get_broker(), "client", None)
    if client is None:
        return None
    try:
        uptime = int(client.info("server")["uptime_in_seconds"])
    except Exception as exc:  # down: the regular sweep counts the failures
        logger.debug("broker uptime unknown (%s)", type(exc).__name__)
        return None
    return timezone.now() - timedelta(seconds=uptime)


def runs_resend_after_broker_restart() -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS): within a sweep interval of a broker
    restart, re-send the queued runs sent before it. A run sent twice still runs
    once (run_execute claims it)."""
    from agents_llm.runs.runner import runs_requeue_stale

    started_at = broker_started_at()
    if started_at is None:
        return {"queued": 0, "failed": 0}
    if not AgentRun.objects.filter(status=RunStatus.QUEUED, enqueued_at__lt=started_at).exists():
        return {"queued": 0, "failed": 0}
    waited = max(1, int((timezone.now() - started_at).total_seconds()) + 1)
    return runs_requeue_stale(again_after_seconds=waited)
