"""The one NinjaAPI, mounted at /api/v1/."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="tradingagents", version="1", urls_namespace="api")
