"""TradingAgents v0.3.0 for tests: its own virtualenv (built by .ci/tradingagents-venv,
never imported here: its package has our package's name) and the driver that runs it in
a subprocess, in a working directory outside the project."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
DRIVER = BASE_DIR / "tests" / "tradingagents_driver.py"
INTEGRATION = BASE_DIR / "integrations" / "tradingagents_gateway.py"
VENV = Path(os.environ.get("TRADINGAGENTS_VENV") or BASE_DIR / ".venv-tradingagents")

# The graph nodes of TradingAgents v0.3.0 that call an LLM, in the order a run with one
# debate round and one risk round calls them (tradingagents/graph/setup.py).
NODES = [
    "Market Analyst", "Sentiment Analyst", "News Analyst", "Fundamentals Analyst",
    "Bull Researcher", "Bear Researcher", "Research Manager", "Trader",
    "Aggressive Analyst", "Conservative Analyst", "Neutral Analyst", "Portfolio Manager",
]
DEEP_NODES = {"Research Manager", "Portfolio Manager"}
RATINGS = {"Buy", "Overweight", "Hold", "Underweight", "Sell"}


def ta_python() -> Path:
    """The virtualenv's python; the test is skipped where it is absent, unless on CI."""
    python = VENV / "bin" / "python"
    built = VENV.is_dir() and any(VENV.glob(".built-*"))
    if python.exists() and (built or "TRADINGAGENTS_VENV" in os.environ):
        return python
    reason = f"the TradingAgents virtualenv is absent ({VENV}): build it with .ci/tradingagents-venv"
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI builds it before the tests)")
    pytest.skip(reason)


def ta_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A user's environment: nothing of ours (no Django settings, no database URL)."""
    return {"PATH": os.environ["PATH"], "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", **extra}


def run_python(workdir: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` run by the virtualenv's python in `workdir`."""
    return subprocess.run([str(ta_python()), "-c", code], cwd=workdir, env=ta_env(workdir, **env),
                          capture_output=True, text=True, timeout=300)


def run_driver(workdir: Path, *args: str, **env: str) -> dict[str, Any]:
    """Run TradingAgents' propagate("NVDA", "2026-11-20") through tests/tradingagents_driver.py;
    its JSON result. Nothing may have tried to reach beyond loopback."""
    done = subprocess.run([str(ta_python()), str(DRIVER), *args], cwd=workdir, env=ta_env(workdir, **env),
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"driver failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    result = json.loads(lines[-1])
    assert result["blocked"] == [], f"TradingAgents tried to reach the network: {result['blocked']}"
    result["stderr"] = done.stderr
    return result


def zero_change_env(base_url: str, key: str) -> dict[str, str]:
    """What `manage.py tradingagents_env` prints, as TradingAgents reads it."""
    return {
        "TRADINGAGENTS_LLM_PROVIDER": "openai_compatible",
        "TRADINGAGENTS_LLM_BACKEND_URL": base_url,
        "TRADINGAGENTS_QUICK_THINK_LLM": "quick",
        "TRADINGAGENTS_DEEP_THINK_LLM": "deep",
        "OPENAI_COMPATIBLE_API_KEY": key,
    }


def configure_args(base_url: str, token: str, *, session: str | None = None, open_session: str | None = None) -> list[str]:
    args = ["configure", "--integration", str(INTEGRATION), "--base-url", base_url, "--token", token]
    if session:
        args += ["--session", session]
    if open_session:
        args += ["--open-session", open_session]
    return args
