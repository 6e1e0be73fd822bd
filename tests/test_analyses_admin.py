"""The analyses admin without running one: "New analysis" launches (or says what is
wrong with which field), "Run again with lineup…" starts from an earlier analysis, and a
report's hostile Markdown (script tags, javascript: links, event handlers) renders inert."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client

from agents_llm.analyses.admin import last_weekday
from agents_llm.analyses.rendering import report_html
from agents_llm.metering.sessions import session_create
from agents_llm.models import Analysis, MeteredSession

pytestmark = pytest.mark.django_db

HOSTILE = """# Market report

<script>alert("owned")</script>

[click me](javascript:alert(1)) and [also](JaVaScRiPt:alert(2)) and ![img](javascript:alert(3))

<a href="javascript:alert(4)" onclick="alert(5)">raw link</a> <img src=x onerror="alert(6)">

| signal | value |
|---|---|
| **RSI** | 71 |

A [fine link](https://example.com/a).
"""


class Elements(HTMLParser):
    """The tags and attributes inside the element with id `within` (the whole page if None)."""

    def __init__(self, within: str | None = None) -> None:
        super().__init__()
        self.within, self.depth, self.found = within, 0 if within else 1, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += tag not in VOID
            self.found.append((tag, dict(attrs)))
        elif dict(attrs).get("id") == self.within:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and self.within:
            self.depth -= 1


VOID = {"img", "br", "hr", "input", "meta", "link"}


def active(html: str, within: str | None = None) -> list[str]:
    """What in `html` could run: script elements, event handler attributes, javascript: URLs."""
    parser = Elements(within)
    parser.feed(html)
    problems = []
    for tag, attrs in parser.found:
        if tag in ("script", "iframe", "object", "embed", "style"):
            problems.append(tag)
        for name, value in attrs.items():
            if name.startswith("on") or (value or "").strip().lower().replace("\x00", "").startswith(("javascript:", "data:")):
                problems.append(f"{tag} {name}={value}")
    return problems


@pytest.fixture
def admin_client(superuser, settings) -> Client:
    settings.TRADINGAGENTS_PYTHON = sys.executable  # any executable python: nothing runs it here
    call_command("seed", verbosity=0)
    client = Client()
    client.force_login(superuser)
    return client


def _analysis(superuser, **fields) -> Analysis:
    session, _ = session_create(owner=superuser, name="NVDA analysis")
    return Analysis.objects.create(ticker="NVDA", trade_date=date(2026, 11, 20), session=session,
                                   gateway_url="http://testserver", **fields)


def test_hostile_report_markdown_renders_inert():
    html = report_html(HOSTILE)

    assert active(html) == []
    assert "&lt;script&gt;" in html  # shown as text, not run
    assert '<a href="https://example.com/a" rel="noopener noreferrer nofollow">fine link</a>' in html
    assert "<table>" in html and "<strong>RSI</strong>" in html and "<h1>Market report</h1>" in html


def test_the_analysis_page_shows_hostile_reports_inert_and_labels_offline_data(admin_client, superuser):
    analysis = _analysis(superuser, market_data="offline", status="succeeded", rating="Buy",
                         reports={"market": HOSTILE, "final_decision": "**Rating: Buy** <script>x()</script>"})

    page = admin_client.get(f"/admin/agents_llm/analysis/{analysis.pk}/change/").content.decode()

    assert active(page, within="analysis-reports") == []
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<strong>Rating: Buy</strong>" in page
    links = [a for tag, a in _found(page) if tag == "a"]
    assert links == [{"href": "https://example.com/a", "rel": "noopener noreferrer nofollow"}]
    assert "offline market data: not for decisions" in page
    assert page.count('class="analysis-report"') + page.count('class="module analysis-report"') == 2


def _found(page: str) -> list[tuple[str, dict]]:
    parser = Elements("analysis-reports")
    parser.feed(page)
    return parser.found


def test_new_analysis_launches_one_and_opens_its_page(admin_client):
    response = admin_client.post("/admin/agents_llm/analysis/new/", {
        "ticker": "aapl", "trade_date": "2026-11-20", "lineup": "tradingagents-default", "budget_usd": "0.25",
        "market_data": "offline", "analysts": ["market", "news"], "debate_rounds": 1, "risk_rounds": 2,
    })

    analysis = Analysis.objects.get()
    assert response.status_code == 302 and response.url == f"/admin/agents_llm/analysis/{analysis.pk}/change/"
    assert (analysis.ticker, analysis.lineup.name) == ("AAPL", "tradingagents-default")
    assert analysis.session.budget_usd == Decimal("0.25")
    assert analysis.options == {"analysts": ["market", "news"], "debate_rounds": 1, "risk_rounds": 2}
    assert [r["node"] for r in analysis.roles][:2] == ["Market Analyst", "News Analyst"]
    page = admin_client.get(response.url).content.decode()
    assert 'id="analysis-pipeline"' in page and page.count("data-node=") == 10
    assert "Run again with lineup" in page and "Cancel the analysis" in page


def test_new_analysis_names_the_field_that_is_wrong_and_stores_nothing(admin_client):
    response = admin_client.post("/admin/agents_llm/analysis/new/", {
        "ticker": "NVDA", "trade_date": "2999-01-01", "market_data": "offline", "analysts": ["market"],
        "debate_rounds": 1, "risk_rounds": 1,
    })

    assert response.status_code == 200
    assert "is in the future" in response.content.decode()
    assert response.context["form"].errors["trade_date"]
    assert not Analysis.objects.exists() and not MeteredSession.objects.exists()


def test_new_analysis_starts_on_the_last_weekday_and_run_again_from_an_earlier_one(admin_client, superuser):
    assert last_weekday(date(2026, 12, 7)) == date(2026, 12, 4)  # a Monday: the Friday before
    assert last_weekday(date(2026, 12, 9)) == date(2026, 12, 8)
    page = admin_client.get("/admin/agents_llm/analysis/new/")
    assert page.context["form"].initial["lineup"] == "tradingagents-default"

    earlier = _analysis(superuser, options={"analysts": ["news"], "debate_rounds": 3, "risk_rounds": 1})
    again = admin_client.get(f"/admin/agents_llm/analysis/new/?from={earlier.pk}").context["form"].initial
    assert (again["ticker"], again["trade_date"], again["analysts"], again["debate_rounds"], again["lineup"]) == (
        "NVDA", date(2026, 11, 20), ["news"], 3, None)


def test_without_tradingagents_the_new_analysis_page_explains_the_install(admin_client, settings):
    settings.TRADINGAGENTS_PYTHON = "/nowhere/python"

    page = admin_client.get("/admin/agents_llm/analysis/new/").content.decode()
    response = admin_client.post("/admin/agents_llm/analysis/new/", {
        "ticker": "NVDA", "trade_date": "2026-11-20", "market_data": "offline", "analysts": ["market"],
        "debate_rounds": 1, "risk_rounds": 1,
    })

    assert "TradingAgents is not installed" in page and "make tradingagents" in page
    assert response.status_code == 200 and "TRADINGAGENTS_PYTHON" in response.content.decode()
    assert not Analysis.objects.exists()
