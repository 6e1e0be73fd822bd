"""/api/v1/experiments without a worker: launching (202, the cells stored), every bad
grid refused with 422 naming its field and nothing stored, 409 without TradingAgents,
permissions, the list, progress, results and cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents_llm.models import Analysis, Experiment, ExperimentArm, MeteredSession
from tests.api_support import client_for
from tests.experiments_support import ARMS, DAY, api, end_cell, grid, installed, lineups, may_experiment  # noqa: F401
from tests.gateway_support import caller  # noqa: F401

pytestmark = pytest.mark.django_db


def _nothing_stored() -> bool:
    return not (Experiment.objects.exists() or ExperimentArm.objects.exists() or Analysis.objects.exists()
                or MeteredSession.objects.exists())


def test_launching_answers_202_with_the_experiment_and_its_progress_and_stores_every_cell(
    api, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/experiments", grid(budget_usd_per_analysis="0.20", budget_usd_total="0.50",
                                                 concurrency=1, holding_days=4))

    assert response.status_code == 202, response.content
    body = response.json()
    experiment = Experiment.objects.get(pk=body["id"])
    assert (body["name"], body["status"], body["tickers"], body["trade_dates"]) == (
        "quick vs default", "running", ["NVDA", "AAPL"], [DAY.isoformat()])
    assert body["arms"] == ARMS and body["budget_usd_total"] == "0.50000000" and body["holding_days"] == 4
    assert experiment.created_by == caller and experiment.options["analysts"] == ["market"]
    # The response was read after the launch's first step: one cell queued (concurrency 1).
    assert body["progress"]["cells"]["total"] == 4
    assert Analysis.objects.filter(experiment=experiment).count() == 4
    assert list(Analysis.objects.filter(experiment=experiment).order_by("pk").values_list("status", flat=True)) == [
        "queued", "waiting", "waiting", "waiting"]
    progress = api.get(f"/experiments/{experiment.pk}").json()["progress"]
    assert progress["cells"] == {"waiting": 3, "queued": 1, "running": 0, "succeeded": 0, "failed": 0, "stopped": 0,
                                 "total": 4}
    assert (float(progress["spent_usd"]), progress["outcomes"], progress["pending_outcomes"]) == (0, 0, 0)


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"arms": []}, "arms", "At least one arm"),
    ({"arms": [ARMS[0], {"name": "default", "lineup": "all-quick"}]}, "arms", "Two arms are named 'default'"),
    ({"arms": [ARMS[0], {"name": "x", "lineup": "no-such-lineup"}]}, "arms", "no lineup named 'no-such-lineup'"),
    ({"tickers": []}, "tickers", "At least one ticker"),
    ({"tickers": ["NVDA", "NOT A TICKER"]}, "tickers", "is not a ticker"),
    ({"tickers": ["NVDA", "nvda"]}, "tickers", "listed twice"),
    ({"trade_dates": []}, "trade_dates", "At least one trade date"),
    ({"trade_dates": [(timezone.localdate() + timedelta(days=30)).isoformat()]}, "trade_dates",  # a run may cross midnight
     "in the future"),
    ({"trade_dates": ["2026-11-19", "2026-11-19"]}, "trade_dates", "listed twice"),
    ({"budget_usd_total": "1.00"}, "budget_usd_total", "needs a budget per analysis"),
    ({"budget_usd_total": "0.10", "budget_usd_per_analysis": "0.20"}, "budget_usd_total", "Less than one"),
    ({"concurrency": 0}, "concurrency", "from 1 to 20"),
    ({"concurrency": 21}, "concurrency", "from 1 to 20"),
    ({"name": "   "}, "name", "A name"),
    ({"benchmark": "S P Y"}, "benchmark", "is not a symbol"),
    ({"options": {"analysts": ["tea leaves"]}}, "options", "analysts"),
    ({"holding_days": 0}, "holding_days", ""),
    ({"market_data": "psychic"}, "market_data", ""),
    ({"budget_usd_per_analysis": "0"}, "budget_usd_per_analysis", ""),
])
def test_a_bad_grid_is_refused_with_422_naming_the_field_and_nothing_is_stored(api, change, field, words):  # noqa: F811
    response = api.post("/experiments", grid(**change))

    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert errors[0]["loc"][:2] == ["body", field], errors
    assert words in errors[0]["msg"]
    assert _nothing_stored()


def test_more_cells_than_the_limit_is_refused_naming_the_product(api, settings):  # noqa: F811
    settings.EXPERIMENT_MAX_CELLS = 7
    response = api.post("/experiments", grid(trade_dates=["2026-11-18", "2026-11-19"]))

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "trade_dates"]
    assert "2 tickers × 2 dates × 2 arms = 8 cells" in error["msg"] and "7" in error["msg"]
    assert _nothing_stored()


def test_without_tradingagents_launching_is_refused_with_409_and_nothing_is_stored(api, settings):  # noqa: F811
    settings.TRADINGAGENTS_PYTHON = ""

    response = api.post("/experiments", grid())

    assert response.status_code == 409
    assert "TRADINGAGENTS_PYTHON" in response.json()["detail"]
    assert _nothing_stored()


def test_launching_needs_add_experiment_and_the_analyses_launch_permissions(caller, lineups, installed):  # noqa: F811
    may_experiment(caller, ["add_analysis", "view_experiment"])  # no add_experiment
    response = client_for(caller).post("/experiments", grid())
    assert response.status_code == 403 and "agents_llm.add_experiment" in response.json()["detail"]

    caller.user_permissions.clear()
    caller.groups.clear()  # use_gateway came through a group
    may_experiment(caller, ["add_experiment", "add_analysis"])
    response = client_for(caller).post("/experiments", grid())
    assert response.status_code == 403 and "agents_llm.use_gateway" in response.json()["detail"]
    assert _nothing_stored()


def test_reading_needs_view_experiment_and_cancelling_needs_change_experiment(
    api, caller, django_capture_on_commit_callbacks,  # noqa: F811
):
    from django.contrib.auth.models import User

    with django_capture_on_commit_callbacks(execute=True):
        experiment_id = api.post("/experiments", grid()).json()["id"]
    outsider = User.objects.create_user("nosy", "nosy@example.com", "nosy-pass-123")
    nosy = client_for(outsider)

    for path in ("/experiments", f"/experiments/{experiment_id}", f"/experiments/{experiment_id}/results"):
        response = nosy.get(path)
        assert response.status_code == 403 and "view_experiment" in response.json()["detail"], path
    response = nosy.post(f"/experiments/{experiment_id}/cancel")
    assert response.status_code == 403 and "change_experiment" in response.json()["detail"]
    assert Experiment.objects.get(pk=experiment_id).status == "running"
    assert api.get(f"/experiments/{experiment_id + 1000}").status_code == 404


def test_the_list_pages_experiments_newest_first(api, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        ids = [api.post("/experiments", grid(name=f"grid {i}")).json()["id"] for i in range(3)]

    body = api.get("/experiments", limit=2).json()

    assert body["count"] == 3 and [item["id"] for item in body["items"]] == ids[::-1][:2]
    assert body["items"][0]["arms"] == ARMS and "progress" not in body["items"][0]


def test_the_list_filters_by_status_and_the_analyses_list_by_experiment(
    api, django_capture_on_commit_callbacks,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True):
        kept, cancelled = (api.post("/experiments", grid(name=f"grid {i}")).json()["id"] for i in range(2))
        api.post(f"/experiments/{cancelled}/cancel")

    assert [item["id"] for item in api.get("/experiments", status="cancelled").json()["items"]] == [cancelled]
    assert [item["id"] for item in api.get("/experiments", status="running").json()["items"]] == [kept]
    assert api.get("/experiments", status="lost").status_code == 422
    cells = api.get("/analyses", experiment=kept).json()
    assert cells["count"] == 4 and {item["experiment"] for item in cells["items"]} == {kept}
    assert sorted(item["id"] for item in cells["items"]) == sorted(
        Analysis.objects.filter(experiment_id=kept).values_list("pk", flat=True))


def test_cancel_answers_202_with_the_experiment_cancelled_and_its_cells_stopped(
    api, django_capture_on_commit_callbacks,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True):
        experiment_id = api.post("/experiments", grid()).json()["id"]
        response = api.post(f"/experiments/{experiment_id}/cancel")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "cancelled" and body["stop_reason"] == "Cancelled by caller."
    assert body["progress"]["cells"]["stopped"] == 4
    assert set(Analysis.objects.filter(experiment_id=experiment_id).values_list("status", flat=True)) == {"stopped"}


def test_results_of_a_running_experiment_say_each_arm_and_the_pair_with_nothing_to_compare_yet(
    api, django_capture_on_commit_callbacks,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True):
        experiment_id = api.post("/experiments", grid(concurrency=4)).json()["id"]
        first = Analysis.objects.filter(experiment_id=experiment_id).order_by("pk").first()
        end_cell(first, spent_usd="0.004", tokens=1200, rating="Buy")

    response = api.get(f"/experiments/{experiment_id}/results")

    assert response.status_code == 200
    body = response.json()
    assert [(a["name"], a["lineup"], a["analyses"], a["succeeded"]) for a in body["arms"]] == [
        ("default", "tradingagents-default", 2, 1), ("quick", "all-quick", 2, 0)]
    assert body["arms"][0]["cost_usd_mean"] == pytest.approx(0.004) and body["arms"][0]["tokens_mean"] == 1200
    assert body["arms"][0]["ratings"] == {"Buy": 1} and body["arms"][0]["decision_alpha_mean"] is None
    assert body["pending_outcomes"] == 1
    pair = body["pairs"][0]
    assert (pair["a"], pair["b"], pair["cells"], pair["decision_alpha_diff"]) == ("default", "quick", 0, None)
    # The seeded lineup sends the two managers to the deep preset, all-quick does not.
    assert pair["differs_in"] == ["Research Manager", "Portfolio Manager"]
    assert [p["analysis"] for p in body["points"]] == list(
        Analysis.objects.filter(experiment_id=experiment_id).order_by("pk").values_list("pk", flat=True))
