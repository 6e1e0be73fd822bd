"""Run one TradingAgents analysis through the tradingagents gateway, reporting as it goes.

The control room (agents_llm/analyses) runs this file with the python of a virtualenv
that has TradingAgents installed (`TRADINGAGENTS_PYTHON`), in a working folder of its
own. It imports nothing from the control room: only TradingAgents, the standard
library and `tradingagents_gateway.py`, which sits next to it.

It reads its job as one JSON object on stdin:

    {"ticker": "NVDA", "trade_date": "2026-11-20", "gateway_url": "http://127.0.0.1:8000/v1",
     "token": "tas_...", "market_data": "offline", "analysts": ["market", "social", "news",
     "fundamentals"], "debate_rounds": 1, "risk_rounds": 1}

and prints one JSON line per event on stdout (TradingAgents' own prints go to stderr):

    {"event": "node", "node": "Market Analyst", "state": "running"}
    {"event": "node", "node": "Market Analyst", "state": "done", "reports": {"market": "..."}}
    {"event": "result", "ok": true, "rating": "Buy", "decision": "...", "reports": {...}, "blocked": []}
    {"event": "result", "ok": false, "error": "APIStatusError", "status": 402, "code": "budget_exceeded", ...}

With `"market_data": "offline"` TradingAgents' data fetches answer with empty data (a
line saying so) and every connection but the gateway's is refused and listed in
`blocked`: a full analysis then needs no network but the gateway's.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import json
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

OFFLINE_NOTE = "offline market data: not for decisions (no data was fetched)"
ANALYSTS = ("market", "social", "news", "fundamentals")
# The state keys TradingAgents v0.3.0 writes its reports to, by report name.
REPORT_KEYS = {
    "market": "market_report",
    "sentiment": "sentiment_report",
    "news": "news_report",
    "fundamentals": "fundamentals_report",
    "investment_plan": "investment_plan",
    "trader_plan": "trader_investment_plan",
    "final_decision": "final_trade_decision",
}
blocked: list[str] = []


class Emitter:
    """JSON lines on the real stdout; everything else printed goes to stderr."""

    def __init__(self) -> None:
        self.out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
        sys.stdout = sys.stderr

    def __call__(self, **line: Any) -> None:
        self.out.write(json.dumps(line, default=str) + "\n")
        self.out.flush()


def reports_of(state: Any) -> dict[str, str]:
    """The reports a (partial) TradingAgents state holds, as Markdown."""
    if not isinstance(state, dict):
        return {}
    reports = {name: state[key] for name, key in REPORT_KEYS.items() if isinstance(state.get(key), str) and state[key]}
    debate = state.get("investment_debate_state")
    if isinstance(debate, dict) and debate.get("history"):
        reports["investment_debate"] = str(debate["history"])
    risk = state.get("risk_debate_state")
    if isinstance(risk, dict) and risk.get("history"):
        reports["risk_debate"] = str(risk["history"])
    return reports


def progress_handler(emit: Emitter) -> Any:
    """A LangChain callback that tells when each graph node starts and finishes."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Progress(BaseCallbackHandler):
        def __init__(self) -> None:
            self.nodes: dict[Any, str] = {}

        def on_chain_start(self, serialized, inputs, *, run_id, metadata=None, name=None, **kwargs):
            node = (metadata or {}).get("langgraph_node")
            name = name or (serialized or {}).get("name")
            if node and name == node and not node.startswith(("tools_", "Msg Clear")):
                self.nodes[run_id] = node
                emit(event="node", node=node, state="running")

        def on_chain_end(self, outputs, *, run_id, **kwargs):
            node = self.nodes.pop(run_id, None)
            if node is not None:
                emit(event="node", node=node, state="done", reports=reports_of(outputs))

        def on_chain_error(self, error, *, run_id, **kwargs):
            node = self.nodes.pop(run_id, None)
            if node is not None:
                emit(event="node", node=node, state="failed")

    return Progress()


# Offline market data -----------------------------------------------------------------


def _allowed(host: Any, gateway_hosts: set[str]) -> bool:
    host = str(host).split("%")[0]
    if host in gateway_hosts or host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def guard_sockets(gateway_url: str) -> None:
    """Connections and name lookups of anything but the gateway (and loopback) fail."""
    host = urlsplit(gateway_url).hostname or ""
    hosts = {host}
    try:
        hosts |= {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        pass
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address[0], hosts):
            blocked.append(f"connect {address[0]}:{address[1]}")
            raise ConnectionRefusedError(f"offline market data: no network but the gateway ({address[0]})")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(name: Any, *args: Any, **kwargs: Any):
        text = name.decode() if isinstance(name, bytes) else name
        if text is not None and not _allowed(text, hosts):
            blocked.append(f"resolve {text}")
            raise socket.gaierror(socket.EAI_NONAME, f"offline market data: no network but the gateway ({text})")
        return getaddrinfo(name, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo
    # Clients with their own network stack (curl_cffi under yfinance) honour these.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        os.environ[name] = os.environ[name.upper()] = "http://127.0.0.1:9"
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(sorted(hosts | {"127.0.0.1", "localhost", "::1"}))


def stub_market_data() -> None:
    """Every data fetch of TradingAgents v0.3.0 answers with empty data, saying so."""
    from types import SimpleNamespace

    from tradingagents.agents.analysts import sentiment_analyst
    from tradingagents.agents.utils import (
        core_stock_tools,
        fundamental_data_tools,
        macro_data_tools,
        market_data_validation_tools,
        news_data_tools,
        prediction_markets_tools,
        technical_indicators_tools,
    )
    from tradingagents.graph import trading_graph

    def empty(*args: Any, **kwargs: Any) -> str:
        return OFFLINE_NOTE

    for module in (core_stock_tools, fundamental_data_tools, macro_data_tools, news_data_tools,
                   prediction_markets_tools, technical_indicators_tools):
        module.route_to_vendor = empty
    market_data_validation_tools.build_verified_market_snapshot = empty
    sentiment_analyst.get_news = SimpleNamespace(func=empty)
    sentiment_analyst.fetch_stocktwits_messages = empty
    sentiment_analyst.fetch_reddit_posts = empty
    trading_graph.resolve_instrument_identity = lambda ticker: {}


# The analysis ------------------------------------------------------------------------------


def load_gateway() -> Any:
    path = Path(__file__).resolve().with_name("tradingagents_gateway.py")
    spec = importlib.util.spec_from_file_location("tradingagents_gateway", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_of(exc: BaseException) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:2000]}
    if hasattr(exc, "status_code"):
        result["status"] = exc.status_code
        body = getattr(exc, "body", None)
        result["code"] = body.get("code") if isinstance(body, dict) else getattr(exc, "code", None)
    return result


def analyse(job: dict[str, Any], emit: Emitter) -> dict[str, Any]:
    workdir = Path.cwd()
    if job.get("market_data") == "offline":
        guard_sockets(job["gateway_url"])
        stub_market_data()
    from tradingagents.default_config import DEFAULT_CONFIG
    from tradingagents.graph.trading_graph import TradingAgentsGraph

    gateway = load_gateway()
    config = gateway.configure({
        **DEFAULT_CONFIG,
        "results_dir": str(workdir / "results"),
        "data_cache_dir": str(workdir / "cache"),
        "memory_log_path": str(workdir / "memory" / "trading_memory.md"),
        "max_debate_rounds": int(job.get("debate_rounds") or 1),
        "max_risk_discuss_rounds": int(job.get("risk_rounds") or 1),
    }, base_url=job["gateway_url"], token=job["token"])
    analysts = [a for a in job.get("analysts") or ANALYSTS if a in ANALYSTS]
    graph = TradingAgentsGraph(selected_analysts=analysts, config=config)
    graph.propagator.get_graph_args = functools.partial(graph.propagator.get_graph_args,
                                                        callbacks=[progress_handler(emit)])
    state, rating = graph.propagate(job["ticker"], job["trade_date"])
    return {"ok": True, "rating": rating, "decision": state.get("final_trade_decision", ""),
            "reports": reports_of(state)}


def main() -> int:
    emit = Emitter()
    try:
        job = json.loads(sys.stdin.read())
        result = analyse(job, emit)
    except Exception as exc:  # reported to the control room, which stores it on the analysis
        traceback.print_exc()
        result = error_of(exc)
    emit(event="result", blocked=blocked, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
