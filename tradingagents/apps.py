from __future__ import annotations

from django.apps import AppConfig


class TradingAgentsConfig(AppConfig):
    name = "tradingagents"
    verbose_name = "Access"

    def ready(self) -> None:
        from tradingagents import signals

        signals.connect()  # cached API token lookups are dropped when tokens or users change
