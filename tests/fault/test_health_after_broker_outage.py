"""While the broker's Redis is down, health answers 503 at once (no hang, no 500);
within 2 s of Redis coming back it is 200 again, in well under 50 ms."""

from __future__ import annotations

import time

import pytest
from dramatiq.brokers.redis import RedisBroker

from tests.api_support import ApiClient
from tests.dramatiq_support import swapped_broker

pytestmark = pytest.mark.django_db


def _timed_health(client: ApiClient) -> tuple[int, float, dict]:
    started = time.perf_counter()
    response = client.get("/health")
    return response.status_code, time.perf_counter() - started, response.json()


def test_health_reports_the_broker_outage_and_recovers_within_two_seconds(redis_server):
    client = ApiClient()
    with swapped_broker(RedisBroker(url=redis_server.url, socket_connect_timeout=0.5)):
        assert _timed_health(client)[0] == 200

        redis_server.stop()
        status, took, body = _timed_health(client)
        assert status == 503 and took < 1.5
        assert body["checks"]["broker"]["ok"] is False
        assert "redis" not in body["checks"]["broker"]["detail"].lower()  # no connection URL

        redis_server.start()
        deadline = time.monotonic() + 2
        while True:
            status, took, _ = _timed_health(client)
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
        assert min(_timed_health(client)[1] for _ in range(5)) < 0.05
