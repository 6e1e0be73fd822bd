"""Telling watchers: `analysis.updated` on the `analyses` topic, and `analysis_finished`
to the rooms above (an experiment starts its next cells, an outcome is opened)."""

from __future__ import annotations

from django.dispatch import Signal

from agents_llm.analyses.models import Analysis
from agents_llm.analyses.selectors import analysis_event_data
from tradingagents import events

# Sent with `analysis=` when an analysis has reached its end (succeeded, failed or
# stopped), possibly more than once for one analysis: receivers must be idempotent.
analysis_finished = Signal()


def analysis_publish(analysis: Analysis) -> None:
    events.publish("analyses", "analysis.updated", analysis.pk, analysis_event_data(analysis))
    if analysis.finished:
        analysis_finished.send(sender=Analysis, analysis=analysis)
