"""An experiment's scheduling without a worker: cells are created waiting and in pairs,
started at most `concurrency` at a time as cells end (the ends told through
analysis_finished, as a worker tells them), never beyond the total budget (a cell's
worst case is its own budget), stopped cleanly when the next does not fit, cancelled;
the periodic step picks up a step that was missed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from agents_llm.experiments.services import (
    experiment_advance,
    experiment_cancel,
    experiment_create,
    experiments_advance_all,
    trade_dates_every,
)
from agents_llm.models import Experiment
from tests.experiments_support import DAY, active_counts, cells_of, end_cell, installed, lineups, start_cell  # noqa: F401
from tests.gateway_support import caller  # noqa: F401

pytestmark = pytest.mark.django_db

DAYS = [DAY - timedelta(days=1), DAY]


def _launch(caller, capture, **overrides) -> Experiment:  # noqa: F811
    kwargs = {"name": "grid", "tickers": ["nvda", "aapl"], "trade_dates": DAYS,
              "arms": [("default", "tradingagents-default"), ("quick", "all-quick")], "user": caller,
              "gateway_url": "http://testserver/", "market_data": "offline", **overrides}
    with capture(execute=True):
        return experiment_create(**kwargs)


def test_launching_stores_a_waiting_analysis_per_cell_in_pairs_and_starts_as_many_as_its_concurrency(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    experiment = _launch(caller, django_capture_on_commit_callbacks, concurrency=3,
                         budget_usd_per_analysis=Decimal("0.25"), holding_days=3, benchmark="qqq")

    cells = list(cells_of(experiment.pk))
    # For each date, for each ticker, each arm: the arms of a ticker × date side by side.
    assert [(c.trade_date, c.ticker, c.arm.name) for c in cells] == [
        (day, ticker, arm) for day in DAYS for ticker in ("NVDA", "AAPL") for arm in ("default", "quick")
    ]
    assert [c.status for c in cells] == ["queued"] * 3 + ["waiting"] * 5
    assert all(c.enqueued_at is not None for c in cells[:3]) and all(c.enqueued_at is None for c in cells[3:])
    assert {c.arm.name: c.lineup.name for c in cells} == {"default": "tradingagents-default", "quick": "all-quick"}
    assert {(c.session.budget_usd, c.benchmark, c.holding_days, c.market_data) for c in cells} == {
        (Decimal("0.25"), "QQQ", 3, "offline")}
    experiment.refresh_from_db()
    assert (experiment.status, experiment.tickers, experiment.trade_dates, experiment.concurrency) == (
        "running", ["NVDA", "AAPL"], [d.isoformat() for d in DAYS], 3)
    assert experiment.gateway_url == "http://testserver" and experiment.advanced_at is not None


def test_cells_start_in_order_never_more_than_the_concurrency_at_once_until_the_experiment_is_finished(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    experiment = _launch(caller, django_capture_on_commit_callbacks, concurrency=2)
    started_order: list[int] = []
    while True:
        active = list(cells_of(experiment.pk).filter(status__in=["queued", "running"]))
        waiting = cells_of(experiment.pk).filter(status="waiting").count()
        assert len(active) == min(2, len(active) + waiting) and len(active) <= 2
        started_order += [c.pk for c in active if c.pk not in started_order]
        if not active:
            break
        start_cell(active[0])
        with django_capture_on_commit_callbacks(execute=True):
            end_cell(active[0], status="failed" if len(started_order) == 3 else "succeeded", rating="Hold")

    assert started_order == [c.pk for c in cells_of(experiment.pk)]
    assert list(cells_of(experiment.pk).values_list("status", flat=True)).count("succeeded") == 7
    experiment.refresh_from_db()
    assert experiment.status == "finished" and experiment.finished_at is not None
    # Another step (a late analysis_finished, the periodic job) changes nothing.
    experiment_advance(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == "finished"


def test_a_total_budget_stops_the_experiment_part_way_with_every_started_cell_accounted_for(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    per, total = Decimal("0.10"), Decimal("0.35")
    experiment = _launch(caller, django_capture_on_commit_callbacks, concurrency=2, budget_usd_per_analysis=per,
                         budget_usd_total=total)
    spends = iter(["0.08", "0.09", "0.10", "0.10"])

    def committed() -> Decimal:
        cells = cells_of(experiment.pk)
        spent = sum((c.session.spent_usd for c in cells if c.status in ("succeeded", "failed", "stopped")),
                    Decimal(0))
        return spent + per * cells.filter(status__in=["queued", "running"]).count()

    started = set()
    while active := list(cells_of(experiment.pk).filter(status__in=["queued", "running"])):
        assert committed() <= total and len(active) <= 2
        started |= {c.pk for c in active}
        start_cell(active[0])
        with django_capture_on_commit_callbacks(execute=True):
            end_cell(active[0], spent_usd=next(spends), rating="Buy")

    # Independently: 0.08 + 0.09 + 0.10 = 0.27 spent, and a fourth cell's 0.10 would not fit.
    cells = list(cells_of(experiment.pk))
    assert [c.pk for c in cells if c.status == "succeeded"] == [c.pk for c in cells[:3]] == sorted(started)
    assert sum(c.session.spent_usd for c in cells) == Decimal("0.27") <= total
    assert all(c.status == "stopped" and c.session.spent_usd == 0 and c.started_at is None and
               "Total budget reached" in c.error for c in cells[3:])
    experiment.refresh_from_db()
    assert experiment.status == "stopped" and experiment.finished_at is not None
    assert "$0.27" in experiment.stop_reason and "$0.35" in experiment.stop_reason


def test_a_cell_that_does_not_fit_waits_while_others_run_and_starts_when_their_spend_is_known(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    experiment = _launch(caller, django_capture_on_commit_callbacks, concurrency=3,
                         budget_usd_per_analysis=Decimal("0.10"), budget_usd_total=Decimal("0.25"))
    cells = list(cells_of(experiment.pk))
    assert [c.status for c in cells[:3]] == ["queued", "queued", "waiting"]  # 0.30 would not fit

    with django_capture_on_commit_callbacks(execute=True):
        end_cell(cells[0], spent_usd="0.01", rating="Sell")

    # 0.01 spent + 0.10 running + 0.10 for the next = 0.21 ≤ 0.25.
    assert [c.status for c in cells_of(experiment.pk)][:4] == ["succeeded", "queued", "queued", "waiting"]
    assert Experiment.objects.get(pk=experiment.pk).status == "running"


def test_cancelling_stops_waiting_and_queued_cells_and_asks_running_ones_to_stop(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    experiment = _launch(caller, django_capture_on_commit_callbacks, concurrency=2)
    first, second = cells_of(experiment.pk)[:2]
    start_cell(first)

    with django_capture_on_commit_callbacks(execute=True):
        experiment_cancel(experiment=experiment, user=caller)

    experiment.refresh_from_db()
    assert experiment.status == "cancelled" and experiment.stop_reason == "Cancelled by caller."
    cells = list(cells_of(experiment.pk))
    assert (cells[0].status, cells[0].cancel_requested) == ("running", True)
    assert cells[1].status == "stopped" and "before it started" in cells[1].error
    assert all(c.status == "stopped" and "experiment was cancelled" in c.error for c in cells[2:])
    # The running one ends: nothing else starts, and the experiment stays cancelled.
    with django_capture_on_commit_callbacks(execute=True):
        end_cell(cells[0], status="stopped")
    assert not cells_of(experiment.pk).filter(status__in=["waiting", "queued", "running"]).exists()
    assert Experiment.objects.get(pk=experiment.pk).status == "cancelled"
    # Cancelling again answers it as it is.
    assert experiment_cancel(experiment=experiment).stop_reason == "Cancelled by caller."


def test_the_periodic_step_starts_the_cells_of_an_experiment_whose_first_step_was_missed(
    installed, lineups, caller, django_capture_on_commit_callbacks, monkeypatch,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=False):  # the commit's step never ran
        experiment = experiment_create(name="g", tickers=["NVDA"], trade_dates=[DAY],
                                       arms=[("a", "all-quick"), ("b", "tradingagents-default")], user=caller,
                                       gateway_url="http://testserver", concurrency=1)
    assert set(cells_of(experiment.pk).values_list("status", flat=True)) == {"waiting"}

    with django_capture_on_commit_callbacks(execute=True):
        assert experiments_advance_all()["advanced"] >= 1
    assert list(cells_of(experiment.pk).values_list("status", flat=True)) == ["queued", "waiting"]
    from tradingagents import events

    published: list[tuple] = []
    monkeypatch.setattr(events, "publish", lambda *args: published.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        experiments_advance_all()  # again: the same, and no watcher is told of a change that was none
    assert list(cells_of(experiment.pk).values_list("status", flat=True)) == ["queued", "waiting"]
    assert active_counts(experiment.pk) == 1
    assert [args for args in published if args[0] == "experiments"] == []


def test_trade_dates_every_steps_through_a_range_and_names_the_field_when_it_is_wrong(settings):
    assert trade_dates_every(date(2026, 11, 2), date(2026, 11, 16), 7) == [
        date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    assert trade_dates_every(date(2026, 11, 2), date(2026, 11, 2), 1) == [date(2026, 11, 2)]
    settings.EXPERIMENT_MAX_CELLS = 10
    for args, words in [((date(2026, 11, 9), date(2026, 11, 2), 1), "before it starts"),
                        ((date(2026, 11, 2), date(2026, 11, 9), 0), "step"),
                        ((date(2026, 1, 1), date(2026, 11, 9), 1), "more than the 10")]:
        with pytest.raises(ValidationError) as raised:
            trade_dates_every(*args)
        assert list(raised.value.message_dict) == ["trade_dates"] and words in raised.value.messages[0]


def test_each_step_tells_watchers_the_experiments_progress_and_a_new_socket_gets_the_running_ones(
    installed, lineups, caller, django_capture_on_commit_callbacks, monkeypatch,  # noqa: F811
):
    from agents_llm.experiments.services import experiment_events_snapshot
    from tradingagents import events

    published: list[tuple[str, str, int, dict]] = []
    monkeypatch.setattr(events, "publish", lambda *args: published.append(args))
    experiment = _launch(caller, django_capture_on_commit_callbacks, tickers=["NVDA"], trade_dates=[DAY],
                         concurrency=1, budget_usd_per_analysis=Decimal("0.5"))
    mine = [(event, data) for topic, event, obj_id, data in published if topic == "experiments"]
    assert mine[-1][0] == "experiment.updated" and mine[-1][1]["cells"]["queued"] == 1
    assert experiment_events_snapshot()[0][:2] == ("experiment.updated", experiment.pk)

    for _ in range(2):
        cell = cells_of(experiment.pk).filter(status="queued").first()
        with django_capture_on_commit_callbacks(execute=True):
            end_cell(cell, spent_usd="0.012", tokens=900, rating="Buy")

    states = [(data["status"], data["cells"]["succeeded"], data["spent_usd"])
              for topic, _, obj_id, data in published if topic == "experiments" and obj_id == experiment.pk]
    assert states[-2:] == [("running", 1, "0.012"), ("finished", 2, "0.024")]
    # Cells it moved are told on the analyses topic too.
    assert {obj_id for topic, _, obj_id, data in published if topic == "analyses"} == set(
        cells_of(experiment.pk).values_list("pk", flat=True))
    assert experiment_events_snapshot() == []


def test_launching_costs_a_few_statements_per_cell_not_a_lookup_of_every_row_it_was_given(
    installed, lineups, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for tickers in (["NVDA"], ["NVDA", "AAPL", "MSFT", "AMD"]):
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False):
            experiment = experiment_create(name="g", tickers=tickers, trade_dates=DAYS,
                                           arms=[("a", "all-quick"), ("b", "tradingagents-default")], user=caller,
                                           gateway_url="http://testserver", concurrency=1)
        counts[cells_of(experiment.pk).count()] = queries.captured_queries

    assert sorted(counts) == [4, 16]
    # A cell more: its session (INSERT, history row, a constraint check), its analysis
    # (INSERT, its constraint checks), the event's read of its calls. Neither the user,
    # the lineup, the experiment nor the arm is looked up again, nor the new token's hash.
    per_cell = (len(counts[16]) - len(counts[4])) / 12
    assert per_cell <= 8, [q["sql"][:70] for q in counts[16][-16:]]
