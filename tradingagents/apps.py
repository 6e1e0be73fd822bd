from __future__ import annotations

from django.apps import AppConfig


class TradingAgentsConfig(AppConfig):
    name = "tradingagents"
    verbose_name = "Access"
