"""The experiments admin without running an analysis: "New experiment" launches the grid
(or names the field that is wrong and stores nothing), launching needs what launching
an analysis needs, the experiment page shows per-arm results, pairs, the scatter and
alpha per dollar for hand-made finished cells and outcomes (and renders with no
outcome and with one arm), its live part and results alone, and Cancel."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from agents_llm.experiments.models import POSITIONS
from agents_llm.experiments.services import experiment_create
from agents_llm.models import Analysis, Experiment, MeteredSession, Outcome
from tests.experiments_support import cells_of, end_cell, installed, lineups, may_experiment  # noqa: F401
from tradingagents import formatting

pytestmark = pytest.mark.django_db

NEW = "/admin/agents_llm/experiment/new/"
DAYS = [date(2026, 11, 19), date(2026, 11, 20)]
# Per arm, per cell in launch order (date, then ticker): cost, rating, the ticker's alpha
# (None: its outcome still pending).
CELLS = {
    "default": [("0.0400", "Buy", 0.02), ("0.0600", "Sell", 0.01), ("0.0500", "Buy", 0.03), ("0.0300", "Overweight", 0.04)],
    "quick": [("0.0100", "Hold", 0.02), ("0.0200", "Buy", 0.01), ("0.0150", "Sell", -0.005), ("0.0050", "Buy", None)],
}


@pytest.fixture
def admin_client(superuser, lineups, installed) -> Client:  # noqa: F811
    client = Client()
    client.force_login(superuser)
    return client


def _form(**overrides) -> dict:
    data = {
        "name": "quick vs default", "tickers": "nvda, aapl", "trade_dates": "2026-11-19 2026-11-20", "start": "",
        "end": "2026-12-04",  # as the form starts: the last weekday
        "step_days": "7", "budget_usd_per_analysis": "0.50", "budget_tokens_per_analysis": "",
        "budget_usd_total": "3", "holding_days": "5", "benchmark": "spy", "market_data": "offline",
        "concurrency": "1", "analysts": ["market", "news"], "debate_rounds": "1", "risk_rounds": "2",
        "arms-TOTAL_FORMS": "4", "arms-INITIAL_FORMS": "0", "arms-MIN_NUM_FORMS": "0", "arms-MAX_NUM_FORMS": "4",
        "arms-0-name": "default", "arms-0-lineup": "tradingagents-default",
        "arms-1-name": "quick", "arms-1-lineup": "all-quick",
        "arms-2-name": "", "arms-2-lineup": "", "arms-3-name": "", "arms-3-lineup": "",
    }
    data.update(overrides)
    return data


def _nothing_stored() -> bool:
    return not (Experiment.objects.exists() or Analysis.objects.exists() or MeteredSession.objects.exists())


def test_new_experiment_launches_a_cell_per_ticker_date_and_arm_and_opens_its_page(
    admin_client, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(NEW, _form())

    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response.url == f"/admin/agents_llm/experiment/{experiment.pk}/change/"
    assert [(a.name, a.lineup.name) for a in experiment.arms.all()] == [
        ("default", "tradingagents-default"), ("quick", "all-quick")]  # the blank rows are no arm
    assert (experiment.tickers, experiment.trade_dates) == (["NVDA", "AAPL"], ["2026-11-19", "2026-11-20"])
    assert (experiment.budget_usd_per_analysis, experiment.budget_usd_total, experiment.benchmark,
            experiment.concurrency, experiment.market_data) == (Decimal("0.5"), Decimal("3"), "SPY", 1, "offline")
    cells = list(cells_of(experiment.pk))
    assert len(cells) == 8
    assert all(c.options == {"analysts": ["market", "news"], "debate_rounds": 1, "risk_rounds": 2} for c in cells)
    assert sorted(c.status for c in cells) == ["queued"] + ["waiting"] * 7  # concurrency 1
    assert all(c.session.budget_usd == Decimal("0.5") for c in cells)

    page = admin_client.get(response.url).content.decode()
    assert 'id="experiment-live"' in page and f'data-experiment-id="{experiment.pk}"' in page
    for cell in cells:
        assert f'href="/admin/agents_llm/analysis/{cell.pk}/change/"' in page
    assert _count(page, "cells-waiting") == "7" and _count(page, "cells-queued") == "1"
    assert 'id="scatter-empty"' in page and "Cancel the experiment" in page and "live/experiments.js" in page


def _count(page: str, cell_id: str) -> str:
    return re.search(rf'id="{cell_id}" data-count="(\d+)"', page).group(1)


def test_a_date_range_with_a_step_gives_the_trade_dates(admin_client):
    response = admin_client.post(NEW, _form(trade_dates="", start="2026-11-02", end="2026-11-20", step_days="7",
                                            tickers="MSFT"))

    experiment = Experiment.objects.get()
    assert response.status_code == 302
    assert experiment.trade_dates == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert cells_of(experiment.pk).count() == 6


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"tickers": "NVDA $$$"}, "tickers", "is not a ticker"),
    ({"trade_dates": "2026-11-19 2999-01-01"}, "trade_dates", "is in the future"),
    ({"trade_dates": "2026-11-19 yesterday"}, "trade_dates", "Not a date (YYYY-MM-DD): yesterday"),
    ({"trade_dates": "", "start": "2026-11-20", "end": "2026-11-02"}, "start", "before it starts"),
    ({"trade_dates": "2026-11-19", "start": "2026-11-02", "end": "2026-11-20"}, "trade_dates", "not both"),
    ({"trade_dates": ""}, "trade_dates", "Give trade dates"),
    ({"trade_dates": "", "start": "2026-11-02", "end": ""}, "end", "last date"),
    ({"budget_usd_per_analysis": ""}, "budget_usd_total", "needs a budget per analysis"),
    ({"benchmark": "S P Y"}, "benchmark", "is not a symbol"),
    ({"concurrency": "999"}, "concurrency", ""),
    ({"name": ""}, "name", "required"),
])
def test_new_experiment_names_the_field_that_is_wrong_and_stores_nothing(admin_client, overrides, field, message):
    response = admin_client.post(NEW, _form(**overrides))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in " ".join(errors[field])
    assert f"field-{field} errors" in response.content.decode()
    assert _nothing_stored()


@pytest.mark.parametrize(("arms", "message"), [
    ({"arms-0-name": "", "arms-0-lineup": "", "arms-1-name": "", "arms-1-lineup": ""}, "At least one arm"),
    ({"arms-1-name": "default"}, "Two arms are named 'default'"),
    ({"arms-1-lineup": "no-such-lineup"}, "Select a valid choice"),
    ({"arms-1-lineup": ""}, "Choose the arm's lineup"),
])
def test_new_experiment_says_what_is_wrong_with_the_arms_and_stores_nothing(admin_client, arms, message):
    response = admin_client.post(NEW, _form(**arms))

    page = html.unescape(response.content.decode())
    assert response.status_code == 200 and message in page
    assert re.search(r'id="experiment-arms".*' + re.escape(message), page, re.S)
    assert _nothing_stored()


def test_launching_an_experiment_needs_add_analysis_and_the_gateway_too(lineups, installed):  # noqa: F811
    staff = User.objects.create_user("planner", password="planner-pass-123", is_staff=True)
    may_experiment(staff, ["add_experiment", "view_experiment", "use_gateway"])
    client = Client()
    client.force_login(staff)

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, _form()).status_code == 403
    listing = client.get("/admin/agents_llm/experiment/")
    assert listing.status_code == 200 and "New experiment" not in listing.content.decode()
    assert _nothing_stored()

    may_experiment(staff, ["add_analysis"])
    staff = User.objects.get(pk=staff.pk)  # permissions are cached on the user
    client.force_login(staff)
    assert "New experiment" in client.get("/admin/agents_llm/experiment/").content.decode()
    assert client.post(NEW, _form()).status_code == 302
    assert Experiment.objects.get().created_by == staff


# The experiment page -----------------------------------------------------------------------


def _launch(user, arms=(("default", "tradingagents-default"), ("quick", "all-quick"))) -> Experiment:
    return experiment_create(name="grid", tickers=["NVDA", "AAPL"], trade_dates=DAYS, arms=list(arms), user=user,
                             gateway_url="http://testserver/", market_data="offline", concurrency=8)


def _finish(experiment: Experiment) -> dict[str, list[tuple[Decimal, float | None, bool | None]]]:
    """End every cell as CELLS says and store its resolved outcome; per arm, each cell's
    (cost, decision alpha, hit) as the test computes them."""
    seen: dict[str, list] = {"default": [], "quick": []}
    for cell in cells_of(experiment.pk):
        arm = cell.arm.name
        cost, rating, alpha = CELLS[arm][len(seen[arm])]
        end_cell(cell, "succeeded", cost, tokens=1000 * (len(seen[arm]) + 1), rating=rating)
        position = POSITIONS[rating]
        decision = None if alpha is None else position * alpha
        hit = None if alpha is None or position == 0 else decision > 0
        seen[arm].append((Decimal(cost), decision, hit))
        if alpha is not None:
            Outcome.objects.update_or_create(analysis=cell, defaults={
                "status": "resolved", "benchmark": "SPY", "holding_days": 5, "raw_return": alpha + 0.01,
                "benchmark_return": 0.01, "alpha": alpha, "position": position, "decision_alpha": decision,
                "hit": hit, "start_date": cell.trade_date, "end_date": cell.trade_date,
            })
    return seen


def _mean(values):
    return sum(values) / len(values)


def _row(page: str, arm: str) -> str:
    return re.search(rf'<tr data-arm="{arm}">(.*?)</tr>', page, re.S).group(1)


def test_the_experiment_page_shows_results_pairs_and_a_scatter_point_per_outcome(admin_client, superuser):
    experiment = _launch(superuser)
    seen = _finish(experiment)

    page = admin_client.get(f"/admin/agents_llm/experiment/{experiment.pk}/change/").content.decode()

    for arm, cells in seen.items():
        judged = [(c, d, h) for c, d, h in cells if d is not None]
        assert page.count(f'class="scatter-point" data-arm="{arm}"') == len(judged)
        row = _row(page, arm)
        assert f'<td class="arm-cost">{formatting.money(_mean([c for c, _, _ in cells]))}</td>' in row
        alpha = _mean([d for _, d, _ in judged])
        assert f'<td class="arm-alpha">{"+" if alpha > 0 else ""}{formatting.percent(alpha)}</td>' in row
        hits = [h for _, _, h in judged if h is not None]
        assert f'<td class="arm-hit-rate">{formatting.percent(sum(hits) / len(hits))}</td>' in row
        assert f'<td class="arm-outcomes">{len(judged)}</td>' in row
        per_usd = alpha / float(_mean([c for c, _, _ in judged]))
        assert f'<td class="arm-per-usd">+{formatting.percent(per_usd)} per $</td>' in row
    # The pair, over the cells where both arms have an outcome: default − quick.
    both = [(a, b) for a, b in zip(seen["default"], seen["quick"], strict=True) if a[1] is not None and b[1] is not None]
    diff = _mean([a[1] - b[1] for a, b in both])
    assert f'<td class="pair-alpha">+{formatting.percent(diff)}</td>' in page
    assert f'<td class="pair-cost">{formatting.money(_mean([a[0] - b[0] for a, b in both]))}</td>' in page
    assert "Research Manager" in re.search(r'id="experiment-pairs".*?</table>', page, re.S).group(0)
    assert page.count('class="per-usd-point"') == 2 and page.count('class="error-bar"') == 2
    assert "Cost of the analysis (USD)" in page and "Decision alpha" in page
    assert re.search(r'href="/admin/agents_llm/dailyclose/missing/"[^>]*>1 outcome pending', page) or \
        'id="pending-outcomes">1 outcome pending' in page
    for cell in cells_of(experiment.pk):
        assert f'href="/admin/agents_llm/analysis/{cell.pk}/change/"' in page
    assert _count(page, "cells-succeeded") == "8"
    assert Outcome.objects.filter(status="resolved").count() == 7  # the page computed, it stored nothing
    assert "sk-" not in page


def test_an_experiment_with_one_arm_and_no_outcome_yet_renders_without_pairs_or_points(admin_client, superuser):
    experiment = _launch(superuser, arms=[("only", "all-quick")])
    for cell in cells_of(experiment.pk)[:2]:
        end_cell(cell, "failed", "0.01")

    response = admin_client.get(f"/admin/agents_llm/experiment/{experiment.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="experiment-no-pairs"' in page and 'id="scatter-empty"' in page and 'id="per-usd-empty"' in page
    assert 'class="scatter-point"' not in page
    assert '<tr data-arm="only">' in page and _count(page, "cells-failed") == "2"


def test_the_live_part_and_the_results_render_alone_for_a_reader_and_not_for_an_outsider(
    admin_client, superuser, reader, django_capture_on_commit_callbacks,
):
    experiment = _launch(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        end_cell(cells_of(experiment.pk)[0], "failed", "0.02")
    base = f"/admin/agents_llm/experiment/{experiment.pk}"

    reading = Client()
    reading.force_login(reader)
    live = reading.get(f"{base}/live/").content.decode()
    results = reading.get(f"{base}/results/").content.decode()
    page = reading.get(f"{base}/change/").content.decode()

    assert live.startswith('<div id="experiment-live"') and _count(live, "cells-failed") == "1"
    assert "<html" not in live and "Cancel the experiment" not in page  # no change_experiment: no Cancel
    assert results.startswith('<div id="experiment-results"') and '<tr data-arm="quick">' in results
    nobody = Client()
    assert nobody.get(f"{base}/live/").status_code == 302  # to the login page
    assert admin_client.get("/admin/agents_llm/experiment/999999/live/").status_code == 404
    assert Analysis.objects.get(pk=cells_of(experiment.pk)[0].pk).status == "failed"


def test_the_list_shows_cells_done_of_total_and_what_they_spent(admin_client, superuser):
    experiment = _launch(superuser)
    for cell, cost in zip(cells_of(experiment.pk)[:3], ("0.01", "0.02", "0.04"), strict=True):
        end_cell(cell, "succeeded", cost)

    page = admin_client.get("/admin/agents_llm/experiment/").content.decode()

    assert '<td class="field-cells">3 / 8</td>' in page
    assert f'<td class="field-spent">{formatting.money(Decimal("0.07"))}</td>' in page
    assert "New experiment" in page and "live/experiments.js" in page


def test_cancel_stops_the_waiting_cells_and_needs_change_experiment(admin_client, superuser, reader):
    experiment = _launch(superuser)
    url = f"/admin/agents_llm/experiment/{experiment.pk}/cancel/"
    reading = Client()
    reading.force_login(reader)

    assert reading.post(url).status_code == 403
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    assert admin_client.get(url).status_code == 405

    response = admin_client.post(url, follow=True)

    experiment.refresh_from_db()
    assert response.status_code == 200 and "cancelled" in response.content.decode()
    assert experiment.status == "cancelled" and experiment.stop_reason == "Cancelled by root."
    assert set(cells_of(experiment.pk).values_list("status", flat=True)) == {"stopped"}
    page = response.content.decode()
    assert _count(page, "cells-stopped") == "8" and "Cancel the experiment" not in page


def test_the_list_costs_the_same_number_of_queries_as_experiments_grow(admin_client, superuser):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _launch(superuser)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get("/admin/agents_llm/experiment/").status_code == 200
    for _ in range(3):
        _launch(superuser, arms=[("a", "all-quick"), ("b", "tradingagents-default"), ("c", "all-quick")])
    with CaptureQueriesContext(connection) as more:
        page = admin_client.get("/admin/agents_llm/experiment/").content.decode()

    assert len(more.captured_queries) == len(few.captured_queries)
    assert page.count('<td class="field-cells">0 / 12</td>') == 3 and Experiment.objects.count() == 4


def test_without_tradingagents_new_experiment_explains_the_install_and_stores_nothing(admin_client, settings):
    settings.TRADINGAGENTS_PYTHON = "/nowhere/python"

    page = admin_client.get(NEW).content.decode()
    response = admin_client.post(NEW, _form())

    assert "TradingAgents is not installed" in page and "make tradingagents" in page
    assert response.status_code == 200 and "TRADINGAGENTS_PYTHON" in response.content.decode()
    assert "New experiment" not in admin_client.get("/admin/agents_llm/experiment/").content.decode()
    assert _nothing_stored()


def test_an_experiments_analysis_page_links_back_to_its_experiment_and_names_its_arm(admin_client, superuser):
    experiment = _launch(superuser)
    cell = cells_of(experiment.pk).filter(arm__name="quick").first()

    page = admin_client.get(f"/admin/agents_llm/analysis/{cell.pk}/change/").content.decode()

    link = re.search(r'<a id="analysis-experiment" href="([^"]+)">([^<]+)</a> · arm (\w+)', page)
    assert link.groups() == (f"/admin/agents_llm/experiment/{experiment.pk}/change/", "grid", "quick")
    assert Analysis.objects.get(pk=cell.pk).experiment_id == experiment.pk
