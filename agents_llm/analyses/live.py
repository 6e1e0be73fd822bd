"""Telling watchers: `analysis.updated` on the `analyses` topic."""

from __future__ import annotations

from agents_llm.analyses.models import Analysis
from agents_llm.analyses.selectors import analysis_event_data
from tradingagents import events


def analysis_publish(analysis: Analysis) -> None:
    events.publish("analyses", "analysis.updated", analysis.pk, analysis_event_data(analysis))
