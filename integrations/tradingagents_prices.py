"""Fetch daily closes with TradingAgents' own data layer, as its reflection does.

The control room (agents_llm/experiments/prices.py) runs this file with the python of
the virtualenv that has TradingAgents v0.3.0 (`TRADINGAGENTS_PYTHON`), in a working
folder of its own, for the closes pending outcomes of live analyses miss. It imports
nothing from the control room: only TradingAgents, yfinance (its dependency) and the
standard library. Each symbol is fetched exactly as `TradingAgentsGraph._fetch_returns`
fetches it: `yf.Ticker(normalize_symbol(symbol)).history(start=..., end=...)` (a
canonical Yahoo symbol such as SPY or ^GSPC is left as it is).

It reads one JSON object on stdin (dates inclusive):

    {"requests": [{"symbol": "NVDA", "start": "2026-11-20", "end": "2026-11-30"}, ...]}

and prints one JSON line on stdout (anything else printed goes to stderr):

    {"bars": {"NVDA": [{"date": "2026-11-20", "close": "181.58999634"}, ...]},
     "errors": {"SPY": "why it could not be fetched"}}
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from typing import Any


def fetch(symbol: str, start: date, end: date) -> list[dict[str, str]]:
    import yfinance as yf

    from tradingagents.dataflows.symbol_utils import normalize_symbol

    # yfinance's `end` is exclusive: the day after the last one asked for.
    history = yf.Ticker(normalize_symbol(symbol)).history(
        start=start.isoformat(), end=(end + timedelta(days=1)).isoformat(),
    )
    bars = []
    for stamp, close in history["Close"].items():
        day = stamp.date() if hasattr(stamp, "date") else date.fromisoformat(str(stamp)[:10])
        if start <= day <= end and close == close:  # NaN is not a close
            bars.append({"date": day.isoformat(), "close": repr(float(close))})
    return bars


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # yfinance's and TradingAgents' prints must not reach the answer
    job = json.loads(sys.stdin.read() or "{}")
    answer: dict[str, Any] = {"bars": {}, "errors": {}}
    for request in job.get("requests") or []:
        symbol = str(request.get("symbol", ""))
        try:
            bars = fetch(symbol, date.fromisoformat(request["start"]), date.fromisoformat(request["end"]))
        except Exception as exc:  # one symbol's failure is its own
            answer["errors"][symbol] = f"{type(exc).__name__}: {str(exc)[:300]}"
            continue
        if bars:
            answer["bars"][symbol] = bars
        else:
            answer["errors"][symbol] = f"no closes from {request['start']} to {request['end']}"
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
