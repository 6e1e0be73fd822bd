"""Daily closes: checking and storing them (the API, the admin's CSV upload, the live
fetch), and the periodic job that fetches the closes pending outcomes of live analyses
miss through TradingAgents' own data layer (integrations/tradingagents_prices.py in
TRADINGAGENTS_PYTHON). Storing closes resolves the outcomes that were waiting for them.

One close per symbol and date. A close posted again with the same value changes
nothing; with another value it replaces the stored one (and its source), and the
outcomes that used it are recomputed. A live close never replaces a stored one: it only
fills a missing day (what someone posted or uploaded is kept)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from agents_llm.analyses.install import tradingagents_python
from agents_llm.analyses.models import MarketData
from agents_llm.analyses.runner import PASSED_ENV
from agents_llm.experiments.models import CloseSource, DailyClose, Outcome, OutcomeStatus
from agents_llm.experiments.outcomes import outcomes_resolve_for

logger = logging.getLogger(__name__)

# A symbol as Yahoo Finance spells it: NVDA, BRK-B, GC=F, EURUSD=X, ^GSPC.
SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,15}$")
# At most this many closes in one request or one uploaded file.
MAX_BARS = 1000
# What DailyClose.close holds: 20 digits, 6 of them after the point.
CLOSE_PLACES = 6
CLOSE_LIMIT = Decimal(10) ** (20 - CLOSE_PLACES)

FETCHER = Path(settings.BASE_DIR) / "integrations" / "tradingagents_prices.py"
FETCH_TIMEOUT_SECONDS = 300
# A symbol's missing closes are asked for again at most this often (a day the data
# layer has no bar for would otherwise be asked for every minute).
FETCH_RETRY_SECONDS = 3600


class PricesInvalid(Exception):
    """What is wrong with closes, as [(loc, message)], loc like ("bars", 3, "close")."""

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


@dataclass(frozen=True)
class Bar:
    date: date
    close: Decimal


def symbol_problem(symbol: str) -> str | None:
    if not SYMBOL.match(symbol):
        return f"'{symbol[:20]}' is not a symbol (letters, digits and . - ^ =; at most 16), e.g. NVDA, SPY, ^GSPC."
    return None


def close_problem(close: Decimal) -> str | None:
    if not close.is_finite() or close <= 0:
        return "A close must be a number more than 0."
    if close >= CLOSE_LIMIT:
        return f"A close must be less than {CLOSE_LIMIT:,.0f}."
    if -close.as_tuple().exponent > CLOSE_PLACES and close != close.quantize(Decimal(1).scaleb(-CLOSE_PLACES)):
        return f"A close has at most {CLOSE_PLACES} decimal places."
    return None


def parse_close(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None


def prices_clean(symbol: str, bars: list[Bar]) -> tuple[str, list[Bar]]:
    """The symbol upper-cased and the bars in date order; PricesInvalid naming every
    bad one: the symbol, a close not above 0 (or too precise), a date in the future, a
    date twice, more than MAX_BARS."""
    symbol = (symbol or "").strip().upper()
    errors: list[tuple[tuple[str | int, ...], str]] = []
    problem = symbol_problem(symbol)
    if problem:
        errors.append((("symbol",), problem))
    if not bars:
        errors.append((("bars",), "At least one close."))
    if len(bars) > MAX_BARS:
        errors.append((("bars",), f"At most {MAX_BARS} closes in one request ({len(bars)} given)."))
    today = timezone.localdate()
    seen: dict[date, int] = {}
    for n, bar in enumerate(bars[:MAX_BARS + 1]):
        if bar.date > today:
            errors.append((("bars", n, "date"), f"{bar.date} is in the future: only closes of past days."))
        elif bar.date in seen:
            errors.append((("bars", n, "date"), f"{bar.date} is given twice (also at {seen[bar.date]})."))
        seen.setdefault(bar.date, n)
        problem = close_problem(bar.close)
        if problem:
            errors.append((("bars", n, "close"), problem))
    if errors:
        raise PricesInvalid(errors)
    return symbol, sorted(bars, key=lambda bar: bar.date)


def prices_store(*, symbol: str, bars: list[Bar], source: str = CloseSource.API) -> dict[str, Any]:
    """Store a symbol's closes (checked first: nothing is stored if one is bad), then
    resolve the outcomes waiting for them and recompute those that used a replaced one.
    Live closes only fill missing days."""
    symbol, bars = prices_clean(symbol, bars)
    fill_only = source == CloseSource.LIVE
    now = timezone.now()
    with transaction.atomic():
        existing = {row.date: row for row in DailyClose.objects.select_for_update().filter(
            symbol=symbol, date__in=[bar.date for bar in bars])}
        new = [DailyClose(symbol=symbol, date=bar.date, close=bar.close, source=source)
               for bar in bars if bar.date not in existing]
        changed = []
        for bar in bars:
            row = existing.get(bar.date)
            if row is not None and row.close != bar.close and not fill_only:
                row.close, row.source, row.updated_at = bar.close, source, now
                changed.append(row)
        created = DailyClose.objects.bulk_create(new, ignore_conflicts=fill_only)
        DailyClose.objects.bulk_update(changed, ["close", "source", "updated_at"])
    dates = [row.date for row in [*new, *changed]]
    return {"symbol": symbol, "created": len(created), "updated": len(changed),
            "outcomes_resolved": outcomes_resolve_for(symbol, dates)}


def closes_missing() -> list[dict[str, Any]]:
    """Every pending outcome with what it waits for, oldest analysis first:
    {analysis, ticker, trade_date, benchmark, start_date, end_date, pending, missing:
    [{symbol, date}]}."""
    rows = []
    for outcome in Outcome.objects.filter(status=OutcomeStatus.PENDING).select_related("analysis").order_by(
        "analysis_id",
    ):
        rows.append({
            "analysis": outcome.analysis_id, "ticker": outcome.analysis.ticker,
            "trade_date": outcome.analysis.trade_date, "market_data": outcome.analysis.market_data,
            "benchmark": outcome.benchmark, "start_date": outcome.start_date, "end_date": outcome.end_date,
            "pending": outcome.pending_reason or "Not checked yet.",
            "missing": [_split(label) for label in outcome.missing],
        })
    return rows


def _split(label: str) -> dict[str, Any]:
    symbol, _, day = label.rpartition(" ")
    return {"symbol": symbol, "date": date.fromisoformat(day)}


# Live closes ------------------------------------------------------------------------------


def live_requests() -> list[dict[str, str]]:
    """Per symbol, the span of the closes pending outcomes of live analyses miss (their
    windows have closed: only those list missing closes)."""
    wanted: dict[str, set[date]] = defaultdict(set)
    pending = Outcome.objects.filter(status=OutcomeStatus.PENDING, analysis__market_data=MarketData.LIVE)
    for missing in pending.values_list("missing", flat=True):
        for label in missing or []:
            item = _split(label)
            wanted[item["symbol"]].add(item["date"])
    return [{"symbol": symbol, "start": min(days).isoformat(), "end": max(days).isoformat()}
            for symbol, days in sorted(wanted.items())]


def prices_fetch_live() -> dict[str, int]:
    """A periodic job (settings.PERIODIC_JOBS): fetch the closes pending outcomes of live
    analyses miss with TradingAgents' data layer (yfinance, as its reflection does), store
    them (source "live") and resolve. Quietly nothing without TRADINGAGENTS_PYTHON."""
    counts = {"symbols": 0, "created": 0, "outcomes_resolved": 0, "errors": 0}
    python = tradingagents_python()
    if python is None:
        return counts
    requests = [r for r in live_requests() if _may_ask(r)]
    if not requests:
        return counts
    answer = _run_fetcher(python, requests)
    counts["symbols"] = len(requests)
    errors = answer.get("errors") if isinstance(answer.get("errors"), dict) else {}
    for symbol, message in errors.items():
        logger.warning("live closes of %s: %s", str(symbol)[:20], str(message)[:300])
    counts["errors"] = len(errors)
    bars_of = answer.get("bars") if isinstance(answer.get("bars"), dict) else {}
    asked = {r["symbol"] for r in requests}
    for symbol, items in bars_of.items():
        if symbol not in asked or not isinstance(items, list):
            continue
        try:
            bars = [Bar(date=date.fromisoformat(str(i["date"])),
                        close=Decimal(str(i["close"])).quantize(Decimal(1).scaleb(-CLOSE_PLACES)))
                    for i in items]
            stored = prices_store(symbol=symbol, bars=bars[:MAX_BARS], source=CloseSource.LIVE) if bars else None
        except (PricesInvalid, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            logger.warning("live closes of %s not stored: %s", symbol, str(exc)[:300])
            counts["errors"] += 1
            continue
        if stored:
            counts["created"] += stored["created"]
            counts["outcomes_resolved"] += stored["outcomes_resolved"]
    return counts


def _may_ask(request: dict[str, str]) -> bool:
    key = f"prices-live:{request['symbol']}:{request['start']}:{request['end']}"
    try:
        return bool(cache.add(key, 1, timeout=FETCH_RETRY_SECONDS))
    except Exception:  # no cache (Redis down): ask anyway
        return True


def _run_fetcher(python: str, requests: list[dict[str, str]]) -> dict[str, Any]:
    """The fetcher in TradingAgents' python, in a fresh folder, with nothing of our
    environment (runner.PASSED_ENV, as the analyses' driver)."""
    with tempfile.TemporaryDirectory(prefix="prices-", dir=settings.ANALYSIS_WORK_DIR or None) as workdir:
        env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
        env.update(HOME=workdir, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        try:
            done = subprocess.run(
                [python, str(FETCHER)], cwd=workdir, env=env, input=json.dumps({"requests": requests}),
                capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return {"errors": {r["symbol"]: f"no answer within {FETCH_TIMEOUT_SECONDS} s" for r in requests}}
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = done.stderr[-500:]
        return {"errors": {r["symbol"]: f"the fetcher ended (exit {done.returncode}) without an answer: {tail}"
                           for r in requests}}
    return answer

