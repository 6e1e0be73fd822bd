"""Route TradingAgents' LLM calls through the tradingagents gateway, one agent per role.

Drop this file next to your TradingAgents code. It needs nothing but TradingAgents itself
(it uses the LangChain that TradingAgents installs) and the standard library.

    import tradingagents_gateway as gateway
    from tradingagents.default_config import DEFAULT_CONFIG
    from tradingagents.graph.trading_graph import TradingAgentsGraph

    session = gateway.open_session(base_url="http://127.0.0.1:8000/v1", token=TOKEN,
                                   name="NVDA 2026-11-20", budget_usd="0.50")
    config = gateway.configure(DEFAULT_CONFIG.copy(), base_url="http://127.0.0.1:8000/v1",
                               token=TOKEN, session_id=session)
    _, decision = TradingAgentsGraph(config=config).propagate("NVDA", "2026-11-20")

TradingAgents builds two chat models (quick and deep) and its requests do not say which
role is calling. LangChain's run metadata does: `langgraph_node` is the graph node making
the call ("Bull Researcher", "Portfolio Manager", ...). Every call made inside a node asks
the gateway for the model named after that node, which the gateway resolves as an agent
alias; calls made outside a node (reflection, signal extraction) ask for `quick` or
`deep`. With a session, every call carries `X-Session-Id`, so the gateway meters the run
and stops it with HTTP 402 once its budget is spent.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from typing import Any

SUPPORTED_VERSIONS = ("0.3.0",)
QUICK, DEEP = "quick", "deep"


@dataclass(frozen=True)
class _Gateway:
    token: str
    session_id: str | None


# backend_url -> the key and session its chat models use, set by configure(). A graph
# reads it when it is built, so configure() again before building the next graph.
_gateways: dict[str, _Gateway] = {}
_installed = False


def configure(config: dict, *, base_url: str, token: str, session_id: str | None = None) -> dict:
    """The TradingAgents config (a copy of `config`) that sends every LLM call to the
    gateway at `base_url` (e.g. http://127.0.0.1:8000/v1) with `token` (an API token or a
    session token), asking for the agent named after the calling graph node."""
    _check_version()
    url = _gateway_url(base_url)
    _gateways[url] = _Gateway(token=token, session_id=str(session_id) if session_id else None)
    _install()
    return {
        **config,
        "llm_provider": "openai_compatible",
        "backend_url": url,
        "quick_think_llm": QUICK,
        "deep_think_llm": DEEP,
    }


def open_session(
    *,
    base_url: str,
    token: str,
    name: str,
    budget_usd: str | float | None = None,
    budget_tokens: int | None = None,
) -> str:
    """Open a metering session (with an optional budget) and return its id."""
    body = {
        "name": name,
        "budget_usd": None if budget_usd is None else str(budget_usd),
        "budget_tokens": budget_tokens,
    }
    request = urllib.request.Request(
        _server_root(base_url) + "/api/v1/sessions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["id"]
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:500]
        raise RuntimeError(f"Opening a session failed: HTTP {error.code}: {detail}") from None


# How it is wired in -----------------------------------------------------------------


def _check_version() -> None:
    try:
        version = metadata.version("tradingagents")
    except metadata.PackageNotFoundError:
        raise RuntimeError(
            "tradingagents_gateway: TradingAgents is not installed in this environment."
        ) from None
    if version not in SUPPORTED_VERSIONS:
        raise RuntimeError(
            f"tradingagents_gateway supports TradingAgents {', '.join(SUPPORTED_VERSIONS)}, "
            f"but {version} is installed. Its LLM wiring may differ: use a matching "
            "tradingagents_gateway.py, or the zero-change set-up (`manage.py tradingagents_env`), "
            "which routes by tier (quick/deep) instead of by role."
        )


def _install() -> None:
    """Have TradingAgents build the gateway's chat model for a configured backend_url.

    TradingAgents v0.3.0 offers no hook for its chat model class; its graph module keeps
    its own reference to `create_llm_client`, so that one reference is wrapped. Any other
    provider or backend_url goes to TradingAgents' own factory unchanged."""
    global _installed
    if _installed:
        return
    from tradingagents.graph import trading_graph
    from tradingagents.llm_clients.openai_client import (
        _PASSTHROUGH_KWARGS,
        LocalCompatibleChatOpenAI,
        OpenAIClient,
    )

    class RoutedChatOpenAI(LocalCompatibleChatOpenAI):
        """TradingAgents' OpenAI-compatible chat model, asking for the calling node's agent."""

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            return super()._generate(messages, stop, run_manager, **_route(run_manager, kwargs))

        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            return await super()._agenerate(messages, stop, run_manager, **_route(run_manager, kwargs))

        def _stream(self, messages, stop=None, run_manager=None, **kwargs):
            return super()._stream(messages, stop, run_manager, **_route(run_manager, kwargs))

        def _astream(self, messages, stop=None, run_manager=None, **kwargs):
            return super()._astream(messages, stop, run_manager, **_route(run_manager, kwargs))

    class GatewayClient(OpenAIClient):
        def __init__(self, model: str, base_url: str, gateway: _Gateway, **kwargs: Any) -> None:
            super().__init__(model, base_url, provider="openai_compatible", **kwargs)
            self.gateway = gateway

        def get_llm(self) -> Any:
            kwargs = {k: v for k, v in self.kwargs.items() if k in _PASSTHROUGH_KWARGS and k != "api_key"}
            headers = {"X-Session-Id": self.gateway.session_id} if self.gateway.session_id else None
            return RoutedChatOpenAI(
                model=self.model, base_url=self.base_url, api_key=self.gateway.token,
                default_headers=headers, **kwargs,
            )

    original = trading_graph.create_llm_client

    def create_llm_client(provider: str, model: str, base_url: str | None = None, **kwargs: Any):
        gateway = _gateways.get(_gateway_url(base_url or ""))
        if gateway is None or provider.lower() != "openai_compatible":
            return original(provider, model, base_url, **kwargs)
        return GatewayClient(model, base_url, gateway, **kwargs)

    trading_graph.create_llm_client = create_llm_client
    _installed = True


def _route(run_manager: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's kwargs, asking for the calling graph node's model when there is one."""
    node = (getattr(run_manager, "metadata", None) or {}).get("langgraph_node")
    return {**kwargs, "model": node} if node else kwargs


def _gateway_url(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url if not url or url.endswith("/v1") else url + "/v1"


def _server_root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url
