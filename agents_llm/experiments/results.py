"""Reads: an experiment's progress and its results per arm and per pair of arms, all
computed from stored rows (the cells' analyses, their sessions' spend, their outcomes),
so a result can be recomputed and audited.

- `cost_usd_mean`, `tokens_mean`: over the arm's analyses that started and ended
  (succeeded, failed, or stopped while running): what a started analysis costs.
- `decision_alpha_mean`, `hit_rate`, `decision_alpha_per_usd`: over the arm's analyses
  with a resolved outcome. `hit_rate` over those whose position is not Hold (None when
  there is none); `decision_alpha_per_usd` = their mean decision alpha ÷ their mean cost
  (the same analyses, so the ratio and its interval agree; None when that cost is 0).
- A pair (a, b): over the cells (ticker × date) where both arms have a resolved
  outcome, the mean of a − b in decision alpha and in cost.
- Intervals: 95%, percentile bootstrap over cells (BOOTSTRAP_RESAMPLES resamples, the
  random generator seeded from the experiment's id and the statistic's name, so a
  result recomputes identically); None with fewer than 2 values.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import combinations
from typing import Any

from django.db.models import Count, Q, Sum

from agents_llm.analyses.models import FINISHED, Analysis, AnalysisStatus
from agents_llm.experiments.models import Experiment, OutcomeStatus

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def experiment_progress(experiment: Experiment) -> dict[str, Any]:
    """Cells by state, what they spent, and outcomes resolved and pending (succeeded
    analyses whose outcome is not resolved yet)."""
    cells = Analysis.objects.filter(experiment=experiment)
    by_status = dict(cells.values_list("status").annotate(n=Count("pk")).order_by())
    counts = {status: by_status.get(status, 0) for status in AnalysisStatus.values}
    counts["total"] = sum(by_status.values())
    resolved = Q(outcome__status=OutcomeStatus.RESOLVED)
    totals = cells.aggregate(
        spent=Sum("session__spent_usd"),
        outcomes=Count("pk", filter=resolved),
        pending=Count("pk", filter=Q(status=AnalysisStatus.SUCCEEDED) & ~resolved),
    )
    return {
        "cells": counts,
        "spent_usd": totals["spent"] or Decimal(0),
        "outcomes": totals["outcomes"],
        "pending_outcomes": totals["pending"],
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_ci(
    rows: Sequence[Any], statistic: Callable[[Sequence[Any]], float | None], seed: str,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> list[float] | None:
    """The percentile bootstrap interval of `statistic` over `rows` (resampled with
    replacement); None with fewer than 2 rows."""
    if len(rows) < 2:
        return None
    rng = random.Random(seed)
    n = len(rows)
    stats = []
    for _ in range(resamples):
        value = statistic([rows[rng.randrange(n)] for _ in range(n)])
        if value is not None:
            stats.append(value)
    if not stats:
        return None
    stats.sort()
    tail = (1 - CONFIDENCE) / 2
    return [stats[round(tail * (len(stats) - 1))], stats[round((1 - tail) * (len(stats) - 1))]]


def _ratio_of_means(pairs: Sequence[tuple[float, float]]) -> float | None:
    cost = _mean([c for _, c in pairs])
    if not cost:
        return None
    return _mean([a for a, _ in pairs]) / cost  # type: ignore[operator]


def _points(experiment: Experiment) -> list[dict[str, Any]]:
    rows = (
        Analysis.objects.filter(experiment=experiment)
        .order_by("pk")
        .values("pk", "arm_id", "arm__name", "ticker", "trade_date", "status", "rating", "started_at",
                "session__spent_usd", "session__spent_tokens", "outcome__status", "outcome__decision_alpha",
                "outcome__hit")
    )
    points = []
    for row in rows:
        resolved = row["outcome__status"] == OutcomeStatus.RESOLVED
        points.append({
            "analysis": row["pk"], "arm": row["arm__name"], "arm_id": row["arm_id"], "ticker": row["ticker"],
            "trade_date": row["trade_date"].isoformat(), "status": row["status"], "rating": row["rating"],
            "started": row["started_at"] is not None,
            "cost_usd": float(row["session__spent_usd"] or 0), "tokens": row["session__spent_tokens"] or 0,
            "decision_alpha": row["outcome__decision_alpha"] if resolved else None,
            "hit": row["outcome__hit"] if resolved else None,
        })
    return points


def _arm_result(experiment: Experiment, arm: Any, points: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [p for p in points if p["arm_id"] == arm.pk]
    spent = [p for p in mine if p["status"] in FINISHED and p["started"]]
    judged = [p for p in mine if p["decision_alpha"] is not None]
    alphas = [p["decision_alpha"] for p in judged]
    positioned = [p["hit"] for p in judged if p["hit"] is not None]
    pairs = [(p["decision_alpha"], p["cost_usd"]) for p in judged]
    seed = f"experiment {experiment.pk} arm {arm.name}"
    return {
        "name": arm.name,
        "lineup": arm.lineup.name,
        "analyses": len(mine),
        "succeeded": sum(p["status"] == AnalysisStatus.SUCCEEDED for p in mine),
        "failed": sum(p["status"] == AnalysisStatus.FAILED for p in mine),
        "stopped": sum(p["status"] == AnalysisStatus.STOPPED for p in mine),
        "cost_usd_mean": _mean([p["cost_usd"] for p in spent]),
        "tokens_mean": _mean([p["tokens"] for p in spent]),
        "ratings": dict(sorted(Counter(p["rating"] for p in mine
                                       if p["status"] == AnalysisStatus.SUCCEEDED and p["rating"]).items())),
        "outcomes": len(judged),
        "decision_alpha_mean": _mean(alphas),
        "decision_alpha_ci": bootstrap_ci(alphas, _mean, f"{seed} decision alpha"),
        "hit_rate": sum(positioned) / len(positioned) if positioned else None,
        "decision_alpha_per_usd": _ratio_of_means(pairs),
        "decision_alpha_per_usd_ci": bootstrap_ci(pairs, _ratio_of_means, f"{seed} decision alpha per usd"),
    }


def _differs_in(a: Any, b: Any) -> list[str]:
    """The graph nodes the two arms' analyses were routed differently at launch (agent,
    provider or vendor model), in graph order."""
    roles = {}
    for arm in (a, b):
        first = Analysis.objects.filter(arm=arm).order_by("pk").values_list("roles", flat=True).first() or []
        roles[arm.pk] = {r["node"]: (r.get("agent"), r.get("provider"), r.get("model")) for r in first}
    nodes = list(roles[a.pk]) + [n for n in roles[b.pk] if n not in roles[a.pk]]
    return [n for n in nodes if roles[a.pk].get(n) != roles[b.pk].get(n)]


def _pair_result(experiment: Experiment, a: Any, b: Any, points: list[dict[str, Any]]) -> dict[str, Any]:
    def by_cell(arm: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return {(p["ticker"], p["trade_date"]): p for p in points
                if p["arm_id"] == arm.pk and p["decision_alpha"] is not None}

    of_a, of_b = by_cell(a), by_cell(b)
    cells = [cell for cell in of_a if cell in of_b]
    alpha_diffs = [of_a[c]["decision_alpha"] - of_b[c]["decision_alpha"] for c in cells]
    cost_diffs = [of_a[c]["cost_usd"] - of_b[c]["cost_usd"] for c in cells]
    seed = f"experiment {experiment.pk} pair {a.name} {b.name}"
    return {
        "a": a.name,
        "b": b.name,
        "cells": len(cells),
        "decision_alpha_diff": _mean(alpha_diffs),
        "decision_alpha_diff_ci": bootstrap_ci(alpha_diffs, _mean, f"{seed} decision alpha"),
        "cost_usd_diff": _mean(cost_diffs),
        "cost_usd_diff_ci": bootstrap_ci(cost_diffs, _mean, f"{seed} cost"),
        "differs_in": _differs_in(a, b),
    }


def experiment_results(experiment: Experiment) -> dict[str, Any]:
    """Per arm, per pair of arms (in the arms' order, a before b), the outcomes still
    pending, and one point per analysis (the cost-vs-alpha scatter)."""
    arms = list(experiment.arms.select_related("lineup").order_by("position", "pk"))
    points = _points(experiment)
    return {
        "arms": [_arm_result(experiment, arm, points) for arm in arms],
        "pairs": [_pair_result(experiment, a, b, points) for a, b in combinations(arms, 2)],
        "pending_outcomes": sum(p["status"] == AnalysisStatus.SUCCEEDED and p["decision_alpha"] is None
                                for p in points),
        "points": [
            {key: p[key] for key in ("analysis", "arm", "ticker", "trade_date", "status", "rating", "cost_usd",
                                     "tokens", "decision_alpha")}
            for p in points
        ],
    }
