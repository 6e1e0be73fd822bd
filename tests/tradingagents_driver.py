"""Runs TradingAgents v0.3.0 once, as a user's program would, inside its own virtualenv.

Executed by path with that virtualenv's python, in a working directory outside the
project (its package `tradingagents` has our package's name). Imports nothing from the
project. TradingAgents' own data fetches are stubbed, every connection that is not to
loopback fails and is reported, and its results, cache and memory go to the working
directory. The last stdout line is a JSON result:
    {"ok": true, "decision": "Buy", "blocked": []}
    {"ok": false, "error": "APIStatusError", "status": 402, "code": "budget_exceeded", ...}

    python tradingagents_driver.py env
        zero-change: the config is TradingAgents' DEFAULT_CONFIG, read from the
        TRADINGAGENTS_* and OPENAI_COMPATIBLE_API_KEY variables of the environment or of
        the .env file in the working directory (TradingAgents loads it on import)
    python tradingagents_driver.py configure --integration PATH --base-url URL --token T
            [--session ID | --open-session NAME]
        per role: the config comes from integrations/tradingagents_gateway.py's configure(),
        in the given session or one opened with its open_session() (its id is in the result)
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import json
import os
import socket
import sys
import threading
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TICKER, DATE = "NVDA", "2026-11-20"
blocked: list[str] = []


# No network but loopback ---------------------------------------------------------------


def _loopback(host: Any) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard_sockets() -> None:
    """Python-level connections and name lookups of anything but loopback fail."""
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            blocked.append(f"connect {address[0]}:{address[1]}")
            raise ConnectionRefusedError(f"test: no network beyond loopback ({address[0]})")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any):
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
            blocked.append(f"resolve {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"test: no network beyond loopback ({host})")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo


def _trap_proxy() -> None:
    """Clients with their own network stack (curl_cffi under yfinance) do not go through
    Python's sockets; they honour the proxy variables, so send them to a loopback trap
    that records what they asked for and refuses it."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                except OSError:
                    line = "?"
                blocked.append(f"proxy {line}")
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        os.environ[name] = os.environ[name.upper()] = f"http://127.0.0.1:{port}"
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost,::1"


# TradingAgents, offline -----------------------------------------------------------------


def _stub_fetches() -> None:
    """TradingAgents' own data fetches (the analysts' data tools are only called when a
    model asks for them; the loopback vendor answers those requests with text)."""
    from tradingagents.agents.analysts import sentiment_analyst
    from tradingagents.graph import trading_graph

    sentiment_analyst.get_news = SimpleNamespace(func=lambda *args, **kwargs: "No news today (offline test).")
    sentiment_analyst.fetch_stocktwits_messages = lambda *args, **kwargs: "No StockTwits messages (offline test)."
    sentiment_analyst.fetch_reddit_posts = lambda *args, **kwargs: "No Reddit posts (offline test)."
    trading_graph.resolve_instrument_identity = lambda ticker: {"company_name": "NVIDIA Corporation"}


def _config(args: argparse.Namespace, workdir: Path, result: dict[str, Any]) -> dict[str, Any]:
    from tradingagents.default_config import DEFAULT_CONFIG

    config = {
        **DEFAULT_CONFIG,
        "results_dir": str(workdir / "results"),
        "data_cache_dir": str(workdir / "cache"),
        "memory_log_path": str(workdir / "memory" / "trading_memory.md"),
    }
    if args.mode == "env":
        return config
    spec = importlib.util.spec_from_file_location("tradingagents_gateway", args.integration)
    gateway = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gateway)
    session = args.session
    if args.open_session:
        session = result["session"] = gateway.open_session(base_url=args.base_url, token=args.token, name=args.open_session)
    return gateway.configure(config, base_url=args.base_url, token=args.token, session_id=session)


def _error(exc: BaseException) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "error": type(exc).__name__, "message": str(exc)[:1000]}
    if hasattr(exc, "status_code"):
        result["status"] = exc.status_code
        body = getattr(exc, "body", None)
        result["code"] = body.get("code") if isinstance(body, dict) else getattr(exc, "code", None)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["env", "configure"])
    parser.add_argument("--integration")
    parser.add_argument("--base-url")
    parser.add_argument("--token")
    parser.add_argument("--session")
    parser.add_argument("--open-session")
    args = parser.parse_args()
    workdir = Path.cwd()

    _trap_proxy()
    _guard_sockets()
    result: dict[str, Any] = {}
    try:
        _stub_fetches()
        from tradingagents.graph.trading_graph import TradingAgentsGraph

        graph = TradingAgentsGraph(config=_config(args, workdir, result))
        _, decision = graph.propagate(TICKER, DATE)
        result.update(ok=True, decision=decision)
    except Exception as exc:  # reported to the test, which decides what was expected
        traceback.print_exc()
        result.update(_error(exc))
    result["blocked"] = blocked
    sys.stdout.flush()
    print("\n" + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
