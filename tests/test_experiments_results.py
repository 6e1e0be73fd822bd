"""An experiment's results from hand-made rows (cells ended with a spend and a rating,
outcomes stored resolved), checked against the same figures computed here from the
rows the test wrote: per arm the cells by end, mean cost and tokens, ratings, mean
decision alpha, hit rate, alpha per dollar; per pair the paired differences over the
cells both arms have an outcome for; bootstrap intervals that hold the mean and come
out the same on every read; progress."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from statistics import mean

import pytest

from agents_llm.experiments.models import Outcome
from agents_llm.experiments.results import bootstrap_ci, experiment_progress, experiment_results
from agents_llm.experiments.services import experiment_create
from agents_llm.models import Analysis, Experiment
from tests.api_support import client_for
from tests.experiments_support import DAY, cells_of, end_cell, installed, lineups, may_experiment  # noqa: F401
from tests.gateway_support import caller  # noqa: F401

pytestmark = pytest.mark.django_db

POSITION = {"Buy": 1.0, "Overweight": 0.5, "Hold": 0.0, "Underweight": -0.5, "Sell": -1.0}
DAYS = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
TICKERS = ["NVDA", "AAPL"]
# Per cell in creation order (date, ticker, arm a then b): (status, spent, tokens, rating, alpha or None).
# Alpha None: no resolved outcome (pending, or no outcome row).
PLAN = [
    ("succeeded", "0.010", 1000, "Buy", 0.030), ("succeeded", "0.004", 400, "Sell", 0.030),
    ("succeeded", "0.012", 1300, "Overweight", -0.020), ("succeeded", "0.005", 500, "Hold", -0.020),
    ("succeeded", "0.011", 1100, "Underweight", -0.040), ("succeeded", "0.003", 300, "Buy", -0.040),
    ("failed", "0.006", 600, "", None), ("succeeded", "0.004", 450, "Overweight", 0.010),
    ("succeeded", "0.009", 950, "Sell", 0.050), ("succeeded", "0.006", 610, "Underweight", 0.050),
    ("succeeded", "0.013", 1250, "Buy", None), ("stopped", "0", 0, "", None),
]


@pytest.fixture
def experiment(installed, lineups, caller, django_capture_on_commit_callbacks) -> Experiment:  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        experiment = experiment_create(name="results", tickers=TICKERS, trade_dates=DAYS,
                                       arms=[("a", "tradingagents-default"), ("b", "all-quick")], user=caller,
                                       gateway_url="http://testserver", concurrency=20)
    cells = list(cells_of(experiment.pk))
    for cell, (status, spent, tokens, rating, alpha) in zip(cells, PLAN, strict=True):
        with django_capture_on_commit_callbacks(execute=True):
            end_cell(cell, status=status, spent_usd=spent, tokens=tokens, rating=rating)
        if status == "stopped":
            Analysis.objects.filter(pk=cell.pk).update(started_at=None)  # stopped before it started
        if rating and alpha is not None:
            position = POSITION[rating]
            # (The cell's end opened its outcome pending: no closes are stored here.)
            Outcome.objects.update_or_create(analysis=cell, defaults={
                "status": "resolved", "benchmark": "SPY", "holding_days": 5, "alpha": alpha, "position": position,
                "decision_alpha": position * alpha, "hit": None if position == 0 else position * alpha > 0})
        elif status == "succeeded":
            assert Outcome.objects.get(analysis=cell).status == "pending"
    return experiment


def _expected_arm(rows: list[tuple]) -> dict:
    """The arm's figures from its PLAN rows, computed here."""
    judged = [(POSITION[r] * a, float(s)) for _, s, _, r, a in rows if r and a is not None]
    started = [(float(s), t) for st, s, t, _, _ in rows if st != "stopped"]
    positioned = [(POSITION[r] > 0) == (a > 0) for _, _, _, r, a in rows if r and a is not None and POSITION[r]]
    alpha = mean(d for d, _ in judged)
    return {
        "analyses": len(rows), "succeeded": sum(r[0] == "succeeded" for r in rows),
        "failed": sum(r[0] == "failed" for r in rows), "stopped": sum(r[0] == "stopped" for r in rows),
        "cost_usd_mean": mean(c for c, _ in started), "tokens_mean": mean(t for _, t in started),
        "outcomes": len(judged), "decision_alpha_mean": alpha,
        "hit_rate": sum(positioned) / len(positioned),
        "decision_alpha_per_usd": alpha / mean(c for _, c in judged),
    }


def test_each_arms_figures_are_the_means_over_its_rows_as_computed_independently(experiment):
    results = experiment_results(experiment)

    for index, arm in enumerate(results["arms"]):
        rows = PLAN[index::2]
        expected = _expected_arm(rows)
        for key, value in expected.items():
            assert arm[key] == pytest.approx(value), (arm["name"], key)
        ratings: dict[str, int] = {}
        for status, _, _, rating, _ in rows:
            if status == "succeeded":
                ratings[rating] = ratings.get(rating, 0) + 1
        assert arm["ratings"] == dict(sorted(ratings.items()))
    # By hand for arm a: decision alphas 0.03, -0.01, 0.02, -0.05 (outcomes of Buy, Overweight,
    # Underweight, Sell; the failed and the pending ones have none): mean -0.0025.
    assert results["arms"][0]["decision_alpha_mean"] == pytest.approx(-0.0025)
    assert results["arms"][0]["hit_rate"] == pytest.approx(0.5)
    assert results["pending_outcomes"] == 1


def test_a_pairs_differences_are_means_over_the_cells_where_both_arms_have_an_outcome(experiment):
    pair = experiment_results(experiment)["pairs"][0]

    a_rows, b_rows = PLAN[0::2], PLAN[1::2]
    both = [(a, b) for a, b in zip(a_rows, b_rows, strict=True)
            if a[3] and a[4] is not None and b[3] and b[4] is not None]
    assert (pair["a"], pair["b"], pair["cells"]) == ("a", "b", len(both)) == ("a", "b", 4)
    assert pair["decision_alpha_diff"] == pytest.approx(
        mean(POSITION[a[3]] * a[4] - POSITION[b[3]] * b[4] for a, b in both))
    assert pair["cost_usd_diff"] == pytest.approx(mean(float(a[1]) - float(b[1]) for a, b in both))
    assert pair["differs_in"] == ["Research Manager", "Portfolio Manager"]


def test_intervals_hold_their_mean_lie_within_the_values_and_recompute_identically(experiment):
    first, second = experiment_results(experiment), experiment_results(experiment)

    assert first == second
    for arm in first["arms"]:
        alphas = [p["decision_alpha"] for p in first["points"] if p["arm"] == arm["name"] and
                  p["decision_alpha"] is not None]
        lo, hi = arm["decision_alpha_ci"]
        assert min(alphas) <= lo <= arm["decision_alpha_mean"] <= hi <= max(alphas) and lo < hi
        lo, hi = arm["decision_alpha_per_usd_ci"]
        assert lo <= arm["decision_alpha_per_usd"] <= hi
    pair = first["pairs"][0]
    for key in ("decision_alpha_diff", "cost_usd_diff"):
        lo, hi = pair[f"{key}_ci"]
        assert lo <= pair[key] <= hi


def test_an_interval_needs_two_values_and_depends_on_its_seed_only_through_the_resamples():
    assert bootstrap_ci([0.5], mean, "s") is None and bootstrap_ci([], mean, "s") is None
    values = [0.01, -0.02, 0.03, 0.00, 0.05, -0.01]
    assert bootstrap_ci(values, mean, "seed 1") == bootstrap_ci(values, mean, "seed 1")
    lo, hi = bootstrap_ci(values, mean, "seed 2")
    assert min(values) <= lo < mean(values) < hi <= max(values)
    # Two equal values: no spread.
    assert bootstrap_ci([0.2, 0.2], mean, "s") == [0.2, 0.2]


def test_points_give_one_row_per_analysis_with_its_cost_and_decision_alpha(experiment):
    points = experiment_results(experiment)["points"]

    cells = list(cells_of(experiment.pk))
    assert [p["analysis"] for p in points] == [c.pk for c in cells]
    for point, (status, spent, tokens, rating, alpha) in zip(points, PLAN, strict=True):
        assert (point["status"], point["rating"], point["tokens"]) == (status, rating, tokens)
        assert point["cost_usd"] == pytest.approx(float(spent))
        assert point["decision_alpha"] == (pytest.approx(POSITION[rating] * alpha) if rating and alpha is not None
                                           else None)


def test_progress_counts_cells_by_state_spend_and_outcomes(experiment):
    progress = experiment_progress(experiment)

    assert progress["cells"] == {"waiting": 0, "queued": 0, "running": 0, "succeeded": 10, "failed": 1,
                                 "stopped": 1, "total": 12}
    assert progress["spent_usd"] == sum(Decimal(row[1]) for row in PLAN)
    assert (progress["outcomes"], progress["pending_outcomes"]) == (9, 1)
    assert Experiment.objects.get(pk=experiment.pk).status == "finished"


def test_the_results_endpoint_answers_the_same_figures(experiment, caller):  # noqa: F811
    may_experiment(caller, ["view_experiment"])
    response = client_for(caller).get(f"/experiments/{experiment.pk}/results")

    assert response.status_code == 200
    body = response.json()
    expected = experiment_results(experiment)
    assert [a["decision_alpha_mean"] for a in body["arms"]] == [a["decision_alpha_mean"] for a in expected["arms"]]
    assert body["pairs"][0]["decision_alpha_diff_ci"] == expected["pairs"][0]["decision_alpha_diff_ci"]
    assert [p["trade_date"] for p in body["points"]] == [p["trade_date"] for p in expected["points"]]
