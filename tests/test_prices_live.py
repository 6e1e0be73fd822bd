"""The live fetch: pending outcomes of live analyses get their missing closes from
TradingAgents' own data layer (integrations/tradingagents_prices.py run by the real
TradingAgents python), stored as "live" without replacing a posted close, and are
resolved. There is no network here: TRADINGAGENTS_PYTHON is a small wrapper that puts a
test-only sitecustomize.py on PYTHONPATH, which answers yfinance's Ticker.history with
a DataFrame from this test's fixture (and refuses every connection)."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache

from agents_llm.experiments.prices import prices_fetch_live
from agents_llm.models import DailyClose, Outcome
from tests.test_outcomes import succeeded_analysis
from tests.tradingagents_support import ta_python

pytestmark = pytest.mark.django_db

# Yahoo's symbols (what TradingAgents' normalize_symbol makes of ours) -> its closes.
FIXTURE = {
    "NVDA": {"2026-11-19": 170.0, "2026-11-20": 181.58999633789062, "2026-11-23": 183.1, "2026-11-24": 184.0,
             "2026-11-25": 185.5, "2026-11-27": 186.25, "2026-11-30": 188.4, "2026-12-01": 190.0},
    "SPY": {"2026-11-20": 661.0, "2026-11-23": 662.0, "2026-11-24": 663.0, "2026-11-25": 664.0,
            "2026-11-27": 665.0, "2026-11-30": 671.35},
    "^GSPC": {"2026-11-20": 6610.5, "2026-11-23": 6600.0, "2026-11-24": 6590.25},
}

SITECUSTOMIZE = '''
"""Test only: yfinance answers from fixture.json, and nothing reaches the network."""
import json, os, socket
from pathlib import Path

HERE = Path(__file__).parent


def _refuse(*args, **kwargs):
    raise OSError("no network in tests")


socket.socket.connect = _refuse
socket.create_connection = _refuse

import pandas as pd
import yfinance as yf


def history(self, start=None, end=None, **kwargs):
    with open(HERE / "asked.log", "a") as log:
        log.write(json.dumps([self.ticker, start, end]) + "\\n")
    closes = json.loads((HERE / "fixture.json").read_text()).get(self.ticker, {})
    days = [d for d in sorted(closes) if start <= d < end]  # yfinance's end is exclusive
    index = pd.DatetimeIndex([pd.Timestamp(d) for d in days], name="Date").tz_localize("America/New_York")
    return pd.DataFrame({"Open": [closes[d] for d in days], "Close": [closes[d] for d in days]}, index=index)


yf.Ticker.history = history
'''


@pytest.fixture
def wrapped_python(tmp_path: Path, settings) -> Path:
    python = ta_python()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (site / "fixture.json").write_text(json.dumps(FIXTURE))
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{python}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    settings.TRADINGAGENTS_PYTHON = str(wrapper)
    cache.clear()  # the fetch's "asked lately" marks
    return site


def asked(site: Path) -> list[list[str]]:
    log = site / "asked.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_live_fetch_stores_the_missing_closes_through_tradingagents_data_layer_and_resolves(wrapped_python):
    buy = succeeded_analysis(ticker="NVDA", rating="Buy", market_data="live")  # 2026-11-20 -> 2026-11-30
    index = succeeded_analysis(ticker="SPX500", rating="Sell", market_data="live", holding_days=2)  # -> 11-24
    offline = succeeded_analysis(ticker="AMD", market_data="offline")
    # A posted close is kept: the live one only fills missing days.
    DailyClose.objects.create(symbol="SPY", date=date(2026, 11, 20), close=Decimal("660"), source="api")

    counts = prices_fetch_live()

    assert counts["errors"] == 0 and counts["outcomes_resolved"] == 2, counts
    # What TradingAgents' data layer was asked: our symbols normalized (SPX500 -> ^GSPC), the
    # span each pending outcome misses (end exclusive); never the offline analysis' AMD.
    assert sorted(asked(wrapped_python)) == [
        ["NVDA", "2026-11-20", "2026-12-01"], ["SPY", "2026-11-20", "2026-12-01"], ["^GSPC", "2026-11-20", "2026-11-25"]]
    rows = {(s, d): (c, src) for s, d, c, src in DailyClose.objects.values_list("symbol", "date", "close", "source")}
    assert rows[("SPY", date(2026, 11, 20))] == (Decimal("660"), "api")
    assert rows[("NVDA", date(2026, 11, 20))] == (Decimal("181.589996"), "live")  # 6 decimal places
    assert rows[("SPX500", date(2026, 11, 24))] == (Decimal("6590.25"), "live")
    assert ("NVDA", date(2026, 11, 19)) not in rows and ("NVDA", date(2026, 12, 1)) not in rows
    assert not any(symbol == "AMD" for symbol, _ in rows)

    outcome = Outcome.objects.get(analysis=buy)
    raw = float(Decimal("188.4") / Decimal("181.589996") - 1)
    bench = float(Decimal("671.35") / Decimal("660") - 1)
    assert outcome.status == "resolved" and outcome.alpha == pytest.approx(raw - bench, rel=1e-12)
    short = Outcome.objects.get(analysis=index)
    raw = float(Decimal("6590.25") / Decimal("6610.5") - 1)
    bench = float(Decimal("663") / Decimal("660") - 1)
    assert short.status == "resolved" and short.decision_alpha == pytest.approx(-(raw - bench), rel=1e-12)
    assert Outcome.objects.get(analysis=offline).status == "pending"

    # Nothing more to ask for: no second run of the fetcher.
    assert prices_fetch_live()["symbols"] == 0 and len(asked(wrapped_python)) == 3


def test_a_symbol_the_data_layer_has_no_closes_for_stays_pending_and_is_not_asked_again_at_once(wrapped_python):
    DailyClose.objects.create(symbol="SPY", date=date(2026, 11, 20), close=Decimal("660"))
    DailyClose.objects.create(symbol="SPY", date=date(2026, 11, 23), close=Decimal("662"))
    analysis = succeeded_analysis(ticker="ZZZZ", market_data="live", holding_days=1)

    counts = prices_fetch_live()

    assert (counts["symbols"], counts["errors"], counts["created"]) == (1, 1, 0)
    outcome = Outcome.objects.get(analysis=analysis)
    assert outcome.status == "pending" and outcome.missing == ["ZZZZ 2026-11-20", "ZZZZ 2026-11-23"]
    assert prices_fetch_live()["symbols"] == 0 and len(asked(wrapped_python)) == 1


def test_without_tradingagents_python_the_live_fetch_does_nothing(settings):
    settings.TRADINGAGENTS_PYTHON = ""
    succeeded_analysis(market_data="live")

    assert prices_fetch_live() == {"symbols": 0, "created": 0, "outcomes_resolved": 0, "errors": 0}
    assert not DailyClose.objects.exists()


def test_the_fetcher_sees_nothing_of_our_environment(wrapped_python, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "never-seen")
    (wrapped_python / "sitecustomize.py").write_text(
        SITECUSTOMIZE + "\nimport os\n(HERE / 'env.json').write_text(json.dumps(dict(os.environ)))\n")
    succeeded_analysis(ticker="NVDA", market_data="live")

    prices_fetch_live()

    env = json.loads((wrapped_python / "env.json").read_text())
    assert "DATABASE_URL" not in env and "DJANGO_SECRET_KEY" not in env and env["HOME"] != os.environ.get("HOME")
