"""An experiment's page in a real Chromium, served by uvicorn on the embedded defaults:
hand-made finished cells with resolved outcomes draw the cost-against-alpha scatter (a
circle per outcome, coloured by arm, with its legend and axes) and alpha per dollar;
then a cell still queued is cancelled through the API by another client, and the page,
never reloaded, shows it stopped and the experiment finished. Screenshots go to
out/screenshots/experiment-*.png."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from agents_llm.analyses.services import analysis_create
from agents_llm.experiments.models import POSITIONS
from agents_llm.models import (
    Analysis,
    AnalysisStatus,
    Experiment,
    ExperimentArm,
    Lineup,
    LLMPreset,
    MeteredSession,
    Outcome,
)
from tests.browser_support import SCREENSHOTS, browser, signed_in_page  # noqa: F401
from tests.gateway_support import running_servers
from tradingagents.services import api_token_create

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EMBEDDED = {"REDIS_URL": "", "DRAMATIQ_BROKER_URL": "", "DRAMATIQ_EMBEDDED_WORKER": "true"}
TICKERS = ["NVDA", "AAPL", "MSFT"]
DAYS = [date(2026, 11, 16), date(2026, 11, 18), date(2026, 11, 20)]
# Per arm: (cost per analysis, rating) by cell, and the ticker's alpha (a spread of them).
ARMS = {"default": ("tradingagents-default", Decimal("0.045")), "quick": ("all-quick", Decimal("0.012"))}
RATINGS = ["Buy", "Overweight", "Hold", "Underweight", "Sell"]


@pytest.fixture
def world(superuser, settings) -> dict:
    """An experiment of 3 tickers × 3 dates × 2 arms whose cells ended as a worker ends
    them (the rows written directly, telling nobody), all with resolved outcomes but
    the last cell, still queued."""
    from agents_llm.agents.services import lineup_create
    from agents_llm.models import AgentConfig

    settings.TRADINGAGENTS_PYTHON = sys.executable  # analysis_create's check; nothing runs it
    call_command("seed", verbosity=0)
    LLMPreset.objects.filter(name="deep").update(model_name="offline-deep")
    lineup_create(name="all-quick", roles={a: {"preset": LLMPreset.objects.get(name="quick")}
                                           for a in AgentConfig.objects.all()})
    experiment = Experiment.objects.create(
        name="quick vs default", tickers=TICKERS, trade_dates=[d.isoformat() for d in DAYS], market_data="offline",
        concurrency=2, gateway_url="http://testserver", created_by=superuser,
    )
    arms = [ExperimentArm.objects.create(experiment=experiment, name=name, lineup=Lineup.objects.get(name=lineup),
                                         position=i) for i, (name, (lineup, _)) in enumerate(ARMS.items())]
    cells = [
        analysis_create(ticker=ticker, trade_date=day, user=superuser, gateway_url="http://testserver",
                        lineup=arm.lineup, market_data="offline", experiment=experiment, arm=arm)
        for day in DAYS for ticker in TICKERS for arm in arms
    ]
    now = timezone.now()
    for n, cell in enumerate(cells[:-1]):
        cost = ARMS[cell.arm.name][1] * (1 + Decimal(n % 5) / 4)
        rating = RATINGS[n % 5]
        alpha = ((n * 37) % 11 - 5) / 200  # -2.5 % … +2.5 %
        MeteredSession.objects.filter(pk=cell.session_id).update(spent_usd=cost, spent_tokens=20_000 + 1000 * n)
        Analysis.objects.filter(pk=cell.pk).update(status=AnalysisStatus.SUCCEEDED, rating=rating, started_at=now,
                                                   finished_at=now)
        position = POSITIONS[rating]
        Outcome.objects.create(analysis=cell, status="resolved", benchmark="SPY", holding_days=5, alpha=alpha,
                               raw_return=alpha + 0.01, benchmark_return=0.01, position=position,
                               decision_alpha=position * alpha, hit=None if position == 0 else position * alpha > 0,
                               resolved_at=now)
    last = cells[-1]
    # Queued just now: the sweep does not send it again while the test runs.
    Analysis.objects.filter(pk=last.pk).update(status=AnalysisStatus.QUEUED, enqueued_at=now)
    return {"experiment": experiment, "last": last, "token": api_token_create(user=superuser, name="browser")[1]}


@pytest.fixture
def server(world, django_db_setup) -> Iterator[str]:
    with running_servers(1, **EMBEDDED, TRADINGAGENTS_PYTHON=sys.executable) as ports:
        yield f"http://127.0.0.1:{ports[0]}"


@pytest.fixture
def page(server, browser, monkeypatch) -> Iterator[Page]:  # noqa: F811
    with signed_in_page(browser, server, monkeypatch, width=1500, height=1100) as page:
        yield page


def test_the_experiment_page_draws_its_scatter_and_follows_a_cell_live(page: Page, server, world):
    experiment, last = world["experiment"], world["last"]
    page.goto(f"{server}/admin/agents_llm/experiment/")
    expect(page.locator("#result_list td.field-cells")).to_have_text("17 / 18")
    page.get_by_role("link", name="New experiment").click()
    expect(page.locator("#experiment-arms tr.arm-row")).to_have_count(4)
    expect(page.locator("#id_arms-0-lineup")).to_have_value("tradingagents-default")
    page.screenshot(path=str(SCREENSHOTS / "experiment-00-new.png"), full_page=True)
    page.go_back()
    page.get_by_role("link", name="quick vs default").click()
    expect(page.locator("html")).to_have_attribute("data-live-events", "subscribed", timeout=10_000)
    page.evaluate("window.notReloaded = true")

    scatter = page.locator("svg#scatter")
    expect(scatter).to_be_visible()
    for arm in ARMS:
        resolved = Outcome.objects.filter(analysis__arm__name=arm, analysis__experiment=experiment,
                                          status="resolved").count()
        assert resolved == (9 if arm == "default" else 8)
        expect(scatter.locator(f"circle.scatter-point[data-arm={arm}]")).to_have_count(resolved)
        expect(scatter.locator(f"g.legend-item[data-arm={arm}]")).to_have_text(arm)
        fill = scatter.locator(f"circle.scatter-point[data-arm={arm}]").first.get_attribute("fill")
        assert scatter.locator(f"g.legend-item[data-arm={arm}] circle").get_attribute("fill") == fill
        expect(page.locator(f"svg#alpha-per-usd circle.per-usd-point[data-arm={arm}]")).to_have_count(1)
        expect(page.locator(f"svg#alpha-per-usd g.error-bar[data-arm={arm}]")).to_have_count(1)
    fills = {scatter.locator(f"circle.scatter-point[data-arm={arm}]").first.get_attribute("fill") for arm in ARMS}
    assert len(fills) == 2  # an arm a colour
    expect(scatter).to_contain_text("Cost of the analysis (USD)")
    expect(scatter).to_contain_text("Decision alpha")
    # Drawn at its size (polled: an event may re-render the results meanwhile).
    page.wait_for_function("""() => { const box = document.querySelector('svg#scatter')?.getBoundingClientRect();
                                     return box && box.width > 500 && box.height > 300; }""", timeout=5_000)
    expect(page.locator("#experiment-grid tbody tr")).to_have_count(9)
    expect(page.locator("#experiment-grid a")).to_have_count(18)
    expect(page.locator("#cells-queued")).to_have_text("1")
    expect(page.locator("#cells-succeeded")).to_have_text("17")
    page.screenshot(path=str(SCREENSHOTS / "experiment-01-results.png"), full_page=True)

    # Another client cancels the queued cell: the server publishes it; the page follows.
    response = httpx.post(f"{server}/api/v1/analyses/{last.pk}/cancel",
                          headers={"Authorization": f"Bearer {world['token']}"}, timeout=30)
    assert response.status_code == 202

    expect(page.locator("#cells-queued")).to_have_text("0", timeout=10_000)
    expect(page.locator("#cells-stopped")).to_have_text("1")
    expect(page.locator(f'#experiment-grid td[data-analysis="{last.pk}"]')).to_have_attribute("data-status", "stopped")
    expect(page.locator("#experiment-live")).to_have_attribute("data-status", "finished", timeout=10_000)
    expect(page.locator("#experiment-status")).to_have_text("Finished")
    expect(page.locator("#cancel-experiment")).to_have_count(0)
    assert page.evaluate("window.notReloaded === true")  # followed by the live events, not a reload
    assert Analysis.objects.get(pk=last.pk).status == "stopped"
    assert Experiment.objects.get(pk=experiment.pk).status == "finished"
    page.screenshot(path=str(SCREENSHOTS / "experiment-02-live.png"), full_page=True)
