"""Reads: analyses, and what each of their roles did (from their sessions' calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from agents_llm.analyses.models import NODES, Analysis, AnalysisStatus
from agents_llm.metering.models import LLMCall


def analysis_list() -> QuerySet[Analysis]:
    # Its outcome (agents_llm.experiments) joined too: one query for a page of analyses.
    return Analysis.objects.select_related("lineup", "session", "outcome")


# The outcome's fields an analysis shows once it is resolved.
OUTCOME_FIELDS = ("raw_return", "benchmark", "benchmark_return", "alpha", "holding_days", "position",
                  "decision_alpha", "hit", "start_date", "end_date")
NOT_RESOLVED = "Not resolved yet."


def analysis_outcome(analysis: Analysis) -> dict[str, Any] | None:
    """What its decision earned: the resolved outcome's numbers, {"pending": why}, or
    None for an analysis that did not succeed with a rating. Read through the reverse
    relation (the experiments room sits above this one)."""
    if analysis.status != AnalysisStatus.SUCCEEDED or not analysis.rating:
        return None
    try:
        outcome = analysis.outcome
    except AttributeError:  # RelatedObjectDoesNotExist: not opened yet
        return {"pending": NOT_RESOLVED}
    if outcome.status != "resolved":
        return {"pending": outcome.pending_reason or NOT_RESOLVED}
    return {name: getattr(outcome, name) for name in OUTCOME_FIELDS}


@dataclass
class RoleRow:
    """One role of an analysis' pipeline: what it was set to answer with at launch, and
    what its calls in the analysis' session used."""

    node: str
    agent: str | None
    provider: str
    model: str
    state: str = "waiting"
    calls: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0
    latency_ms: int = 0
    # Vendor models that answered its calls (provider/model), first seen first.
    answered_by: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "agent": self.agent, "provider": self.provider, "model": self.model,
            "state": self.state, "calls": self.calls, "tokens": self.tokens,
            "cost_usd": format(self.cost.normalize(), "f") if self.calls else "0",
            "unpriced_calls": self.unpriced, "latency_ms": self.latency_ms, "answered_by": self.answered_by,
        }


def analysis_roles(analysis: Analysis) -> list[RoleRow]:
    """Its roles in graph order, with their calls, tokens, cost and latency (one query)."""
    rows = {
        r["node"]: RoleRow(node=r["node"], agent=r.get("agent"), provider=r.get("provider", ""),
                           model=r.get("model", ""), state=analysis.progress.get(r["node"], "waiting"))
        for r in analysis.roles
    }
    calls = LLMCall.objects.filter(session_id=analysis.session_id).values_list(
        "alias", "input_tokens", "output_tokens", "cost", "latency_ms", "provider__name", "model_name",
    ).order_by("created_at", "pk")
    for alias, tokens_in, tokens_out, cost, latency, provider, model in calls:
        row = rows.get(alias)
        if row is None:  # a call outside the graph's nodes (none in v0.3.0): kept apart
            row = rows[alias] = RoleRow(node=alias, agent=None, provider="", model="", state="done")
        row.calls += 1
        row.tokens += tokens_in + tokens_out
        if cost is None:
            row.unpriced += 1
        else:
            row.cost += cost
        row.latency_ms += latency or 0
        if model and f"{provider}/{model}" not in row.answered_by:
            row.answered_by.append(f"{provider}/{model}")
    order = {node: n for n, node in enumerate(NODES)}
    return sorted(rows.values(), key=lambda row: order.get(row.node, len(order)))


def analysis_event_data(analysis: Analysis) -> dict[str, Any]:
    """What an `analysis.updated` event says: the row's state and its pipeline. Never a
    secret: names, counts and the analysis' own error; the reports' names only."""
    session = analysis.session
    return {
        "id": analysis.pk,
        "ticker": analysis.ticker,
        "trade_date": analysis.trade_date,
        "status": analysis.status,
        "experiment": analysis.experiment_id,
        "rating": analysis.rating,
        "error": analysis.error,
        "cost_usd": format(session.spent_usd.normalize(), "f"),
        "tokens": session.spent_tokens,
        "reports": sorted(analysis.reports),
        "roles": [row.as_dict() for row in analysis_roles(analysis)],
    }


def analysis_events_snapshot() -> list[tuple[str, int, dict[str, Any]]]:
    """The analyses a (re)subscribing socket may have missed events of: the unfinished ones."""
    return [
        ("analysis.updated", a.pk, analysis_event_data(a))
        for a in analysis_list().filter(status__in=["queued", "running"])[:50]
    ]
