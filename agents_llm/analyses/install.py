"""Whether TradingAgents is installed for analyses, and how to install it."""

from __future__ import annotations

import os

from django.conf import settings

INSTALL_HELP = (
    "TradingAgents is not installed for analyses: TRADINGAGENTS_PYTHON is not set (or is not an executable "
    "python). Run `make tradingagents` (it builds .venv-tradingagents from TRADINGAGENTS_SOURCE, e.g. "
    "TRADINGAGENTS_SOURCE='git+https://github.com/TauricResearch/TradingAgents@v0.3.0', and writes "
    "TRADINGAGENTS_PYTHON into .env), then restart the server and the workers."
)


class NotInstalled(Exception):
    """TRADINGAGENTS_PYTHON names no python: analyses cannot run."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HELP)


def tradingagents_python() -> str | None:
    python = settings.TRADINGAGENTS_PYTHON
    return python if python and os.path.isfile(python) and os.access(python, os.X_OK) else None
