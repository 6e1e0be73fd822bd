"""The Dramatiq actor for analyses. Thin: take the id, call the runner."""

from __future__ import annotations

import dramatiq
from django.conf import settings

from agents_llm.analyses.models import Analysis


# No retries: an analysis is claimed before its driver starts, so a retried message
# would find it claimed and do nothing; a worker that dies mid-analysis is the sweep's
# (runner.analyses_requeue_stale: queued again once, then failed). The time limit only
# guards a wedged worker thread: the runner stops the driver at ANALYSIS_TIMEOUT_SECONDS.
@dramatiq.actor(max_retries=0, time_limit=(settings.ANALYSIS_TIMEOUT_SECONDS + 300) * 1000)
def run_analysis(analysis_id: int) -> None:
    from agents_llm.analyses.runner import analysis_execute

    try:
        analysis_execute(analysis_id=analysis_id)
    except Analysis.DoesNotExist:
        return  # deleted before a worker got to it
