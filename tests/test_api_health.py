"""GET /api/v1/health: reachability of the database, broker and channel layer; no auth, no secrets."""

from __future__ import annotations

import pytest
from django.conf import settings

from tradingagents import api as api_module

pytestmark = pytest.mark.django_db


def test_health_needs_no_credentials_and_reports_every_part(client):
    response = client.get("/api/v1/health")

    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())


def test_a_part_that_is_down_makes_health_503_without_leaking_its_error(client, monkeypatch):
    def broken() -> None:
        raise ConnectionError(f"cannot reach redis://:{settings.SECRET_KEY}@10.0.0.1")

    monkeypatch.setitem(api_module.HEALTH_CHECKS, "broker", broken)

    response = client.get("/api/v1/health")

    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["checks"]["broker"] == {"ok": False, "detail": "unreachable (ConnectionError)"}
    assert settings.SECRET_KEY not in response.content.decode()
