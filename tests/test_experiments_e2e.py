"""Experiments end to end: a real uvicorn (its embedded worker runs the analyses with the
real TradingAgents v0.3.0, offline market data) and a loopback vendor. A 2 tickers × 2
dates × 2 arms experiment launched through the API, the two arms' lineups routing every
role to vendor models of their own, runs to its end two cells at a time; closes for the
tickers and SPY posted through the API resolve the outcomes; the results match what
this test computes from the posted closes, the analyses' ratings and their sessions'
spend, and each arm's calls went to its own models. A total budget stops another
experiment part-way, every started cell accounted for and nothing spent over it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from statistics import mean

import httpx
import pytest
from django.core.management import call_command

from agents_llm.agents.services import lineup_create
from agents_llm.models import Analysis, Experiment, LLMCall, MeteredSession
from tests.analyses_support import seed_on, wait_for
from tests.experiments_support import may_experiment
from tests.gateway_support import caller, running_servers, vendor, vendor_provider  # noqa: F401
from tests.tradingagents_support import ta_python
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TICKERS = ["NVDA", "AAPL"]
DATES = ["2026-11-19", "2026-11-20"]
# NYSE: 5 trading days from each date, Thanksgiving (11-26) skipped.
WINDOWS = {"2026-11-19": ("2026-11-19", "2026-11-27"), "2026-11-20": ("2026-11-20", "2026-11-30")}
CLOSES = {
    "NVDA": {"2026-11-19": "100", "2026-11-20": "104", "2026-11-27": "110", "2026-11-30": "101.4"},
    "AAPL": {"2026-11-19": "200", "2026-11-20": "196", "2026-11-27": "190", "2026-11-30": "205.8"},
    "SPY": {"2026-11-19": "500", "2026-11-20": "505", "2026-11-27": "510", "2026-11-30": "500.95"},
}
POSITION = {"Buy": 1.0, "Overweight": 0.5, "Hold": 0.0, "Underweight": -0.5, "Sell": -1.0}
# Per arm: its lineup (every role on a vendor model of its own) and its prices per 1k tokens.
ARMS = {"arm-a": (Decimal("0.001"), Decimal("0.002")), "arm-b": (Decimal("0.0003"), Decimal("0.0006"))}
# The portfolio manager's ratings per arm, one per analysis (the last repeats): the cells'
# ratings differ, so hit rates and decision alphas are not trivial.
RATINGS = {"arm-a": ["Buy", "Sell", "Overweight", "Hold"], "arm-b": ["Underweight", "Buy", "Sell", "Buy"]}
OPTIONS = {"analysts": ["market"], "debate_rounds": 1, "risk_rounds": 1}
EMBEDDED = {"REDIS_URL": "", "DRAMATIQ_BROKER_URL": "", "DRAMATIQ_EMBEDDED_WORKER": "true"}


@pytest.fixture
def world(caller, vendor_provider):  # noqa: F811
    ta_python()  # skip (or fail on CI) before starting anything
    agents = seed_on(vendor_provider)
    may_experiment(caller, ["add_experiment", "change_experiment", "view_experiment", "add_analysis",
                            "change_analysis", "view_analysis", "add_dailyclose", "change_dailyclose",
                            "view_dailyclose", "view_outcome"])
    for name, (price_in, price_out) in ARMS.items():
        lineup_create(name=name, roles={
            agent: {"provider": vendor_provider, "model_name": f"{name}-{agent.name}",
                    "cost_per_1k_input_tokens": price_in, "cost_per_1k_output_tokens": price_out}
            for agent in agents.values()
        })
    return api_token_create(user=caller, name="experiments")[1]


@pytest.fixture
def server(world, django_db_setup) -> Iterator[str]:
    with running_servers(1, **EMBEDDED, TRADINGAGENTS_PYTHON=str(ta_python())) as ports:
        yield f"http://127.0.0.1:{ports[0]}"


def _call(method: str, server: str, token: str, path: str, body=None) -> httpx.Response:
    return httpx.request(method, f"{server}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=60)


def _ended(server: str, token: str, experiment_id: int, timeout: float = 600) -> dict:
    def check():
        body = _call("GET", server, token, f"/experiments/{experiment_id}").json()
        return body if body["status"] != "running" else None

    return wait_for(check, timeout, f"experiment {experiment_id} ended")


def _script_ratings(vendor) -> None:  # noqa: F811
    for arm, ratings in RATINGS.items():
        vendor.script(f"{arm}-portfolio_manager", *[
            {"tool": "PortfolioDecision", "arguments": json.dumps({
                "rating": rating, "executive_summary": f"{rating}, sized small.",
                "investment_thesis": f"The debate points to {rating}."})}
            for rating in ratings
        ])


def _post_closes(server: str, token: str) -> None:
    for symbol, closes in CLOSES.items():
        response = _call("POST", server, token, "/prices", {
            "symbol": symbol, "bars": [{"date": day, "close": close} for day, close in closes.items()]})
        assert response.status_code == 200, response.text


def _expected_point(analysis: Analysis) -> dict:
    """An analysis' decision alpha and hit from the posted closes and its rating, and its
    cost and tokens from its session's calls, computed here."""
    start, end = WINDOWS[analysis.trade_date.isoformat()]

    def ret(symbol: str) -> float:
        return float(Decimal(CLOSES[symbol][end]) / Decimal(CLOSES[symbol][start]) - 1)

    alpha = ret(analysis.ticker) - ret("SPY")
    position = POSITION[analysis.rating]
    calls = LLMCall.objects.filter(session_id=analysis.session_id)
    return {
        "decision_alpha": position * alpha, "hit": None if position == 0 else position * alpha > 0,
        "cost": float(sum(c.cost for c in calls)), "tokens": sum(c.input_tokens + c.output_tokens for c in calls),
    }


def _max_running_at_once(cells: list[Analysis]) -> int:
    return max(sum(1 for o in cells if o.started_at <= c.started_at < o.finished_at) for c in cells)


def test_a_two_by_two_by_two_experiment_runs_to_its_end_and_its_results_match_the_closes_and_ratings(
    world, server, vendor,  # noqa: F811
):
    _script_ratings(vendor)
    response = _call("POST", server, world, "/experiments", {
        "name": "arm-a vs arm-b", "tickers": TICKERS, "trade_dates": DATES,
        "arms": [{"name": "a", "lineup": "arm-a"}, {"name": "b", "lineup": "arm-b"}],
        "budget_usd_per_analysis": "0.50", "budget_usd_total": "5", "holding_days": 5, "market_data": "offline",
        "options": OPTIONS, "concurrency": 2,
    })
    assert response.status_code == 202, response.text
    experiment_id = response.json()["id"]

    ended = _ended(server, world, experiment_id)

    assert ended["status"] == "finished", ended
    assert ended["progress"]["cells"] == {"waiting": 0, "queued": 0, "running": 0, "succeeded": 8, "failed": 0,
                                          "stopped": 0, "total": 8}
    cells = list(Analysis.objects.filter(experiment_id=experiment_id).select_related("arm", "session")
                 .order_by("pk"))
    assert _max_running_at_once(cells) <= 2
    # Each arm's calls went to its own lineup's models, every role.
    for cell in cells:
        lineup = {"a": "arm-a", "b": "arm-b"}[cell.arm.name]
        calls = list(LLMCall.objects.filter(session_id=cell.session_id).select_related("agent"))
        assert calls and all(c.model_name == f"{lineup}-{c.agent.name}" for c in calls), cell.arm.name
        assert cell.lineup.name == lineup
    assert {s.model.split("-")[1] for s in vendor.seen()} == {"a", "b"}

    # Before the closes: every outcome pending, nothing to compare yet.
    before = _call("GET", server, world, f"/experiments/{experiment_id}/results").json()
    assert before["pending_outcomes"] == 8 and {a["decision_alpha_mean"] for a in before["arms"]} == {None}
    # Closes for the tickers and SPY, then the outcomes resolved (as the periodic job does).
    _post_closes(server, world)
    call_command("resolve_outcomes", verbosity=0)

    results = _call("GET", server, world, f"/experiments/{experiment_id}/results").json()
    assert results["pending_outcomes"] == 0
    expected = {cell.pk: _expected_point(cell) for cell in cells}
    for arm in results["arms"]:
        mine = [cell for cell in cells if cell.arm.name == arm["name"]]
        points = [expected[cell.pk] for cell in mine]
        assert (arm["analyses"], arm["succeeded"], arm["failed"], arm["stopped"], arm["outcomes"]) == (4, 4, 0, 0, 4)
        ratings = RATINGS[{"a": "arm-a", "b": "arm-b"}[arm["name"]]]
        assert arm["ratings"] == {r: ratings.count(r) for r in sorted(set(ratings))}
        alpha = mean(p["decision_alpha"] for p in points)
        cost = mean(p["cost"] for p in points)
        hits = [p["hit"] for p in points if p["hit"] is not None]
        assert arm["decision_alpha_mean"] == pytest.approx(alpha)
        assert arm["cost_usd_mean"] == pytest.approx(cost) and cost > 0
        assert arm["tokens_mean"] == pytest.approx(mean(p["tokens"] for p in points))
        assert arm["hit_rate"] == pytest.approx(sum(hits) / len(hits))
        assert arm["decision_alpha_per_usd"] == pytest.approx(alpha / cost)
        lo, hi = arm["decision_alpha_ci"]
        assert lo <= arm["decision_alpha_mean"] <= hi
        for cell in mine:  # the session's spend is its calls' cost
            assert cell.session.spent_usd == sum(c.cost for c in LLMCall.objects.filter(session_id=cell.session_id))
    # The ratings differ across cells: hits and misses both occur.
    assert {p["hit"] for p in expected.values()} >= {True, False}
    pair = results["pairs"][0]
    by_cell = {(c.ticker, c.trade_date, c.arm.name): expected[c.pk] for c in cells}
    keys = [(t, d) for t in TICKERS for d in {c.trade_date for c in cells}]
    assert (pair["a"], pair["b"], pair["cells"]) == ("a", "b", 4)
    assert pair["decision_alpha_diff"] == pytest.approx(
        mean(by_cell[(*k, "a")]["decision_alpha"] - by_cell[(*k, "b")]["decision_alpha"] for k in keys))
    cost_diff = mean(by_cell[(*k, "a")]["cost"] - by_cell[(*k, "b")]["cost"] for k in keys)
    assert pair["cost_usd_diff"] == pytest.approx(cost_diff) and cost_diff > 0  # arm-a's prices are higher
    assert len(pair["differs_in"]) == 9  # every role the analyses ran (market analyst and the 8 after it)
    assert sorted(p["analysis"] for p in results["points"]) == [c.pk for c in cells]


def test_a_total_budget_stops_an_experiment_part_way_with_every_started_cell_accounted_for(
    world, server, vendor,  # noqa: F811
):
    per, total = Decimal("0.012"), Decimal("0.030")  # an analysis here costs about $0.007
    response = _call("POST", server, world, "/experiments", {
        "name": "budgeted", "tickers": TICKERS, "trade_dates": DATES, "arms": [{"name": "a", "lineup": "arm-a"}],
        "budget_usd_per_analysis": str(per), "budget_usd_total": str(total), "market_data": "offline",
        "options": OPTIONS, "concurrency": 2,
    })
    assert response.status_code == 202, response.text

    ended = _ended(server, world, response.json()["id"])

    assert ended["status"] == "stopped" and "Total budget reached" in ended["stop_reason"], ended
    cells = list(Analysis.objects.filter(experiment_id=ended["id"]).select_related("session").order_by("pk"))
    started = [c for c in cells if c.started_at is not None]
    never = [c for c in cells if c.started_at is None]
    assert started and never, [(c.status, c.session.spent_usd) for c in cells]
    # Every started cell ended, with its spend its calls' cost; the others never called a model.
    for cell in started:
        assert cell.status in ("succeeded", "failed", "stopped") and cell.finished_at is not None
        assert cell.session.spent_usd == sum(c.cost for c in LLMCall.objects.filter(session_id=cell.session_id)) > 0
    for cell in never:
        assert cell.status == "stopped" and "Total budget reached" in cell.error
        assert not LLMCall.objects.filter(session_id=cell.session_id).exists()
    spent = sum(c.session.spent_usd for c in cells)
    assert spent <= total and Decimal(ended["progress"]["spent_usd"]) == spent
    assert _max_running_at_once(started) <= 2
    # The next cell did not fit: what was spent plus its worst case is over the total.
    assert spent + per > total
    assert MeteredSession.objects.filter(pk__in=[c.session_id for c in cells], reserved_usd__gt=0).count() == 0
    assert Experiment.objects.get(pk=ended["id"]).finished_at is not None
