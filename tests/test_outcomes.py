"""Outcomes computed from posted closes, as TradingAgents' reflection computes them but
on stored closes and a named window: the arithmetic against values computed here from
the closes posted, trading days (weekends, an NYSE holiday), Hold and Sell, a missing
close or an open window keeping it pending (and saying why), a re-posted close
recomputing it, and what GET /analyses says about it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.utils import timezone

from agents_llm.analyses.live import analysis_publish
from agents_llm.metering.sessions import session_create
from agents_llm.models import Analysis, DailyClose, Outcome
from tests.api_support import client_for

pytestmark = pytest.mark.django_db

# Fri 2026-11-20; Thanksgiving (Thu 2026-11-26) is an NYSE holiday.
FRIDAY = date(2026, 11, 20)


def succeeded_analysis(*, ticker: str = "NVDA", trade_date: date = FRIDAY, rating: str = "Buy",
                       benchmark: str = "SPY", holding_days: int = 5, market_data: str = "offline",
                       status: str = "succeeded") -> Analysis:
    """An analysis that reached its end, told to the rooms above as the runner does."""
    owner, _ = User.objects.get_or_create(username="analyst")
    session, _ = session_create(owner=owner, name=f"{ticker} {trade_date} analysis")
    analysis = Analysis.objects.create(
        ticker=ticker, trade_date=trade_date, session=session, status=status, rating=rating,
        benchmark=benchmark, holding_days=holding_days, market_data=market_data, gateway_url="http://testserver",
    )
    analysis_publish(analysis)
    return analysis


@pytest.fixture
def api(editor):
    return client_for(editor)


def post_closes(api, symbol: str, closes: dict[str, str]):
    response = api.post("/prices", {"symbol": symbol, "bars": [{"date": d, "close": c} for d, c in closes.items()]})
    assert response.status_code == 200, response.content
    return response.json()


def expected(closes: dict[tuple[str, str], str], ticker: str, start: str, end: str, position: float):
    """The outcome computed here, from the closes posted."""
    s0, s1 = Decimal(closes[ticker, start]), Decimal(closes[ticker, end])
    b0, b1 = Decimal(closes["SPY", start]), Decimal(closes["SPY", end])
    raw = float(s1 / s0 - 1)
    bench = float(b1 / b0 - 1)
    return raw, bench, raw - bench, position * (raw - bench)


def test_a_buy_resolves_over_five_trading_days_skipping_thanksgiving_from_the_closes_posted(api):
    analysis = succeeded_analysis(rating="Buy")
    # Opened when it succeeded, pending: no closes yet.
    outcome = Outcome.objects.get(analysis=analysis)
    assert outcome.status == "pending"
    assert outcome.missing == ["NVDA 2026-11-20", "NVDA 2026-11-30", "SPY 2026-11-20", "SPY 2026-11-30"]

    # Five trading days from Fri 11-20: 23, 24, 25, (26 Thanksgiving), 27, 30.
    nvda = {"2026-11-20": "180.25", "2026-11-25": "190.00", "2026-11-27": "175.10", "2026-11-30": "188.40"}
    spy = {"2026-11-20": "660.00", "2026-11-25": "640.00", "2026-11-27": "655.50", "2026-11-30": "671.35"}
    first = post_closes(api, "NVDA", nvda)
    assert (first["created"], first["updated"], first["outcomes_resolved"]) == (4, 0, 0)
    assert Outcome.objects.get(analysis=analysis).missing == ["SPY 2026-11-20", "SPY 2026-11-30"]
    second = post_closes(api, "spy", spy)
    assert (second["symbol"], second["outcomes_resolved"]) == ("SPY", 1)

    closes = {**{("NVDA", d): c for d, c in nvda.items()}, **{("SPY", d): c for d, c in spy.items()}}
    raw, bench, alpha, decision = expected(closes, "NVDA", "2026-11-20", "2026-11-30", 1.0)
    outcome = Outcome.objects.get(analysis=analysis)
    assert outcome.status == "resolved" and outcome.pending_reason == "" and outcome.missing == []
    assert (outcome.start_date, outcome.end_date, outcome.holding_days, outcome.benchmark) == (
        date(2026, 11, 20), date(2026, 11, 30), 5, "SPY")
    assert (outcome.start_close, outcome.end_close, outcome.benchmark_start_close, outcome.benchmark_end_close) == (
        Decimal("180.25"), Decimal("188.40"), Decimal("660.00"), Decimal("671.35"))
    assert outcome.raw_return == pytest.approx(raw, rel=1e-12)
    assert outcome.benchmark_return == pytest.approx(bench, rel=1e-12)
    assert outcome.alpha == pytest.approx(alpha, rel=1e-12)
    assert (outcome.position, outcome.hit) == (1.0, decision > 0)
    assert outcome.decision_alpha == pytest.approx(decision, rel=1e-12)

    body = api.get(f"/analyses/{analysis.pk}").json()
    assert body["experiment"] is None and (body["benchmark"], body["holding_days"]) == ("SPY", 5)
    assert body["outcome"]["raw_return"] == pytest.approx(raw, rel=1e-12)
    assert body["outcome"]["alpha"] == pytest.approx(alpha, rel=1e-12)
    assert {k: body["outcome"][k] for k in ("benchmark", "holding_days", "position", "hit", "start_date", "end_date")} == {
        "benchmark": "SPY", "holding_days": 5, "position": 1.0, "hit": decision > 0,
        "start_date": "2026-11-20", "end_date": "2026-11-30"}


def test_a_weekend_trade_date_starts_on_monday_and_a_hold_is_neither_hit_nor_miss(api):
    analysis = succeeded_analysis(trade_date=date(2026, 11, 21), rating="Hold", ticker="AAPL")  # a Saturday
    # Mon 11-23, then 24, 25, 27, 30, 12-01.
    post_closes(api, "AAPL", {"2026-11-23": "230.5", "2026-12-01": "241.75"})
    post_closes(api, "SPY", {"2026-11-23": "650", "2026-12-01": "652.6"})

    outcome = Outcome.objects.get(analysis=analysis)
    closes = {("AAPL", "2026-11-23"): "230.5", ("AAPL", "2026-12-01"): "241.75",
              ("SPY", "2026-11-23"): "650", ("SPY", "2026-12-01"): "652.6"}
    raw, bench, alpha, decision = expected(closes, "AAPL", "2026-11-23", "2026-12-01", 0.0)
    assert (outcome.status, outcome.start_date, outcome.end_date) == ("resolved", date(2026, 11, 23), date(2026, 12, 1))
    assert outcome.alpha == pytest.approx(alpha, rel=1e-12)
    assert (outcome.position, outcome.decision_alpha, outcome.hit) == (0.0, 0.0, None)
    assert api.get(f"/analyses/{analysis.pk}").json()["outcome"]["hit"] is None


def test_a_sell_before_the_stock_lags_its_benchmark_is_a_hit_with_positive_decision_alpha(api):
    analysis = succeeded_analysis(rating="Sell", ticker="TSLA", holding_days=3)
    # Fri 11-20 + 3 trading days: 23, 24, 25.
    post_closes(api, "SPY", {"2026-11-20": "660", "2026-11-25": "665"})
    post_closes(api, "TSLA", {"2026-11-20": "400", "2026-11-25": "380"})

    outcome = Outcome.objects.get(analysis=analysis)
    closes = {("TSLA", "2026-11-20"): "400", ("TSLA", "2026-11-25"): "380",
              ("SPY", "2026-11-20"): "660", ("SPY", "2026-11-25"): "665"}
    raw, bench, alpha, decision = expected(closes, "TSLA", "2026-11-20", "2026-11-25", -1.0)
    assert alpha < 0 and decision > 0
    assert (outcome.status, outcome.end_date, outcome.position, outcome.hit) == (
        "resolved", date(2026, 11, 25), -1.0, True)
    assert outcome.decision_alpha == pytest.approx(decision, rel=1e-12)


def test_an_outcome_with_a_missing_close_stays_pending_and_names_the_missing_date(api):
    analysis = succeeded_analysis()
    post_closes(api, "NVDA", {"2026-11-20": "180", "2026-11-30": "190"})
    post_closes(api, "SPY", {"2026-11-20": "660", "2026-11-27": "661"})  # not the 30th

    outcome = Outcome.objects.get(analysis=analysis)
    assert outcome.status == "pending"
    assert outcome.pending_reason == "Missing closes: SPY 2026-11-30."
    assert outcome.missing == ["SPY 2026-11-30"]
    assert outcome.raw_return is None and outcome.alpha is None and outcome.hit is None
    body = api.get(f"/analyses/{analysis.pk}").json()
    assert body["outcome"] == {"pending": "Missing closes: SPY 2026-11-30."}
    missing = api.get("/prices/missing").json()["items"]
    assert [(m["analysis"], m["ticker"], m["trade_date"], m["missing"]) for m in missing] == [
        (analysis.pk, "NVDA", "2026-11-20", [{"symbol": "SPY", "date": "2026-11-30"}])]


def test_a_window_not_closed_yet_stays_pending_and_says_when_it_ends(api):
    today = timezone.localdate()
    analysis = succeeded_analysis(trade_date=today - timedelta(days=1))
    outcome = Outcome.objects.get(analysis=analysis)
    assert outcome.status == "pending" and outcome.end_date >= today
    assert outcome.pending_reason == f"The holding window ends on {outcome.end_date.isoformat()}: not closed yet."
    assert outcome.missing == []
    # The closes it will need are no help before the window closes.
    post_closes(api, "NVDA", {(today - timedelta(days=1)).isoformat(): "100", today.isoformat(): "101"})
    assert Outcome.objects.get(analysis=analysis).status == "pending"
    assert api.get(f"/analyses/{analysis.pk}").json()["outcome"] == {"pending": outcome.pending_reason}


def test_reposting_a_close_an_outcome_used_recomputes_it(api):
    analysis = succeeded_analysis(rating="Underweight", holding_days=1)  # 11-20 -> 11-23
    post_closes(api, "NVDA", {"2026-11-20": "100", "2026-11-23": "110"})
    post_closes(api, "SPY", {"2026-11-20": "500", "2026-11-23": "505"})
    before = Outcome.objects.get(analysis=analysis)
    assert before.alpha == pytest.approx(0.10 - 0.01)

    again = post_closes(api, "NVDA", {"2026-11-23": "95.5"})

    assert (again["created"], again["updated"], again["outcomes_resolved"]) == (0, 1, 1)
    after = Outcome.objects.get(analysis=analysis)
    closes = {("NVDA", "2026-11-20"): "100", ("NVDA", "2026-11-23"): "95.5",
              ("SPY", "2026-11-20"): "500", ("SPY", "2026-11-23"): "505"}
    raw, bench, alpha, decision = expected(closes, "NVDA", "2026-11-20", "2026-11-23", -0.5)
    assert after.end_close == Decimal("95.5") and after.alpha == pytest.approx(alpha, rel=1e-12)
    assert after.decision_alpha == pytest.approx(decision, rel=1e-12) and after.hit is True
    assert DailyClose.objects.get(symbol="NVDA", date=date(2026, 11, 23)).close == Decimal("95.5")


def test_only_a_succeeded_analysis_with_a_rating_gets_an_outcome(api):
    failed = succeeded_analysis(status="failed", rating="")
    waiting = succeeded_analysis(status="queued", rating="")
    assert not Outcome.objects.filter(analysis__in=[failed, waiting]).exists()
    assert api.get(f"/analyses/{failed.pk}").json()["outcome"] is None
    assert api.get(f"/analyses/{waiting.pk}").json()["outcome"] is None


def test_a_succeeded_analysis_without_a_row_yet_reads_not_resolved_yet(api):
    analysis = succeeded_analysis()
    Outcome.objects.filter(analysis=analysis).delete()
    assert api.get(f"/analyses/{analysis.pk}").json()["outcome"] == {"pending": "Not resolved yet."}


def test_the_analyses_list_reads_outcomes_without_a_query_per_row(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    succeeded_analysis()
    api.get("/analyses")  # the token and permissions cached, as on any later request
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/analyses").json()["items"]) == 1
    for n in range(4):
        succeeded_analysis(ticker=f"T{n}", rating="Sell")
    succeeded_analysis(status="failed", rating="")
    with CaptureQueriesContext(connection) as six:
        items = api.get("/analyses").json()["items"]
    assert len(items) == 6 and sum(item["outcome"] is None for item in items) == 1
    assert len(six.captured_queries) == len(one.captured_queries)


def test_resolve_outcomes_opens_missing_rows_resolves_what_it_can_and_prints_the_counts(api, capsys):
    resolvable = succeeded_analysis(holding_days=1)
    Outcome.objects.filter(analysis=resolvable).delete()  # as if its receiver had failed
    pending = succeeded_analysis(ticker="AMD", holding_days=1)
    for symbol in ("NVDA", "SPY"):
        DailyClose.objects.create(symbol=symbol, date=date(2026, 11, 20), close=Decimal("10"))
        DailyClose.objects.create(symbol=symbol, date=date(2026, 11, 23), close=Decimal("11"))

    call_command("resolve_outcomes")

    out = capsys.readouterr().out
    assert "1 opened" in out and "1 resolved" in out and "1 pending" in out, out
    assert Outcome.objects.get(analysis=resolvable).status == "resolved"
    assert Outcome.objects.get(analysis=pending).missing == ["AMD 2026-11-20", "AMD 2026-11-23"]


def test_reading_missing_closes_needs_the_view_permission_of_closes(reader, outsider):
    nobody = User.objects.create_user("nobody", "nobody@example.com", "nobody-pass-123")
    nobody.user_permissions.add(Permission.objects.get(codename="view_analysis"))
    assert client_for(nobody).get("/prices/missing").status_code == 403
    assert client_for(reader).get("/prices/missing").status_code == 200
