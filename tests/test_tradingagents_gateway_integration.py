"""integrations/tradingagents_gateway.py on its own: inside TradingAgents v0.3.0 (its own
virtualenv, a subprocess) against a loopback OpenAI-compatible vendor, every graph node
asks for the model named after it with the session header, calls outside a node ask for
quick/deep, other back-ends are left alone; open_session posts to the server's root; an
unknown TradingAgents version is refused with a clear message."""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from types import ModuleType

import pytest

from tests.gateway_support import vendor  # noqa: F401
from tests.tradingagents_support import INTEGRATION, NODES, RATINGS, configure_args, run_driver, run_python

SESSION = "6f1c3d2e-0000-4000-8000-000000000011"


def _headers(seen) -> dict[str, str]:
    return {k.lower(): v for k, v in seen.headers.items()}


@pytest.fixture
def gateway() -> ModuleType:
    """The integration file, loaded by path as a user's program would import it (it
    imports nothing but the standard library until configure() is called)."""
    spec = importlib.util.spec_from_file_location("tradingagents_gateway", INTEGRATION)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_every_graph_node_asks_for_the_model_named_after_it_with_the_session_header(tmp_path, vendor):  # noqa: F811
    result = run_driver(tmp_path, *configure_args(vendor.base_url, "ta-token-1", session=SESSION))

    assert result["ok"] and result["decision"] in RATINGS, result
    seen = vendor.seen()
    assert [s.model for s in seen] == NODES
    assert {_headers(s)["x-session-id"] for s in seen} == {SESSION}
    assert {_headers(s)["authorization"] for s in seen} == {"Bearer ta-token-1"}
    assert {s.path for s in seen} == {"/v1/chat/completions"}


def test_without_a_session_no_session_header_is_sent(tmp_path, vendor):  # noqa: F811
    result = run_driver(tmp_path, *configure_args(vendor.base_url.removesuffix("/v1"), "ta-token-2"))

    assert result["ok"], result
    seen = vendor.seen()
    assert [s.model for s in seen] == NODES  # a base URL without /v1 is the same gateway
    assert all("x-session-id" not in _headers(s) for s in seen)


def test_outside_a_node_calls_ask_for_quick_or_deep_and_other_backends_are_left_alone(tmp_path, vendor):  # noqa: F811
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("tradingagents_gateway", {str(INTEGRATION)!r})
gateway = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gateway)
from tradingagents.default_config import DEFAULT_CONFIG
from tradingagents.graph.trading_graph import TradingAgentsGraph
dirs = {{"results_dir": "results", "data_cache_dir": "cache", "memory_log_path": "memory/log.md"}}
config = gateway.configure({{**DEFAULT_CONFIG, **dirs}}, base_url={vendor.base_url!r}, token="t", session_id={SESSION!r})
graph = TradingAgentsGraph(config=config)
graph.quick_thinking_llm.invoke("Reflect on the last trade.")
graph.deep_thinking_llm.invoke("Think hard.")
# Another OpenAI-compatible server in the same process: TradingAgents' own client, as is.
other = {{**config, "backend_url": {vendor.base_url + "/"!r} + "other", "quick_think_llm": "m-quick", "deep_think_llm": "m-deep"}}
TradingAgentsGraph(config=other).quick_thinking_llm.invoke("Hello.")
"""
    done = run_python(tmp_path, code, OPENAI_COMPATIBLE_API_KEY="their-own-key")

    assert done.returncode == 0, done.stderr[-3000:]
    quick, deep, other = vendor.seen()
    assert (quick.model, deep.model) == ("quick", "deep")
    assert _headers(quick)["x-session-id"] == _headers(deep)["x-session-id"] == SESSION
    assert other.path == "/v1/other/chat/completions" and other.model == "m-quick"
    assert _headers(other)["authorization"] == "Bearer their-own-key" and "x-session-id" not in _headers(other)


def test_configure_returns_a_copy_of_the_config_set_for_the_gateway(gateway, monkeypatch):
    monkeypatch.setattr(gateway.metadata, "version", lambda name: "0.3.0")
    monkeypatch.setattr(gateway, "_install", lambda: None)  # TradingAgents is not in this interpreter
    mine = {"llm_provider": "openai", "max_debate_rounds": 2}

    config = gateway.configure(mine, base_url="http://127.0.0.1:8000/v1/", token="t")

    assert config == {"llm_provider": "openai_compatible", "max_debate_rounds": 2, "backend_url": "http://127.0.0.1:8000/v1",
                      "quick_think_llm": "quick", "deep_think_llm": "deep"}
    assert mine == {"llm_provider": "openai", "max_debate_rounds": 2}


def test_an_unknown_tradingagents_version_is_refused_with_a_clear_message(gateway, monkeypatch):
    monkeypatch.setattr(gateway.metadata, "version", lambda name: "0.2.5")

    with pytest.raises(RuntimeError) as refused:
        gateway.configure({}, base_url="http://127.0.0.1:8000/v1", token="t")

    message = str(refused.value)
    assert "supports TradingAgents 0.3.0" in message and "0.2.5 is installed" in message
    assert "tradingagents_env" in message


def test_without_tradingagents_installed_it_says_so(gateway, monkeypatch):
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(gateway.metadata, "version", missing)

    with pytest.raises(RuntimeError, match="TradingAgents is not installed"):
        gateway.configure({}, base_url="http://127.0.0.1:8000/v1", token="t")


def test_open_session_posts_the_budget_to_the_servers_root_with_the_token(gateway, vendor):  # noqa: F811
    # The loopback vendor answers any POST with a JSON body that has an "id".
    session_id = gateway.open_session(base_url=vendor.base_url, token="api-token", name="NVDA run",
                                      budget_usd="0.50", budget_tokens=20000)

    (seen,) = vendor.seen()
    assert session_id == "chatcmpl-fake"
    assert seen.path == "/api/v1/sessions" and _headers(seen)["authorization"] == "Bearer api-token"
    assert seen.body == {"name": "NVDA run", "budget_usd": "0.50", "budget_tokens": 20000}


def test_open_session_reports_a_refusal_with_its_status(gateway, vendor):  # noqa: F811
    vendor.script("", {"status": 403, "message": "You may not use the gateway."})

    with pytest.raises(RuntimeError) as refused:
        gateway.open_session(base_url=vendor.base_url.removesuffix("/v1"), token="t", name="x")

    assert "HTTP 403" in str(refused.value) and "You may not use the gateway." in str(refused.value)
    assert vendor.seen()[0].body["budget_usd"] is None
